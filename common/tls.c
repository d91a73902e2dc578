/* tls.c: nng TLS configurations from PEM files (see tls.h). nng copies what it needs from the
 * PEM text, and the listener or dialer keeps its own reference to the configuration. */
#include "common/tls.h"

#include <nng/supplemental/tls/tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/file.h"

/* A PEM certificate chain or key is a few KB; anything this big is a wrong path. */
#define PEM_MAX_BYTES ((size_t)1 << 20)

static int set(const char *s)
{
    return s != NULL && *s != '\0';
}

int tls_url(const char *url)
{
    return url != NULL && strncmp(url, "tls+", 4) == 0;
}

/* read_pem: option's file into *out (NUL-terminated PEM text, as nng wants it). */
static int read_pem(const char *option, const char *path, char **out, char *err, size_t errlen)
{
    char why[256];
    if (file_read_all(path, PEM_MAX_BYTES, out, NULL, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", option, why);
        return ERR_INVALID;
    }
    return 0;
}

/* own_cert: load f->cert and f->key into cfg. */
static int own_cert(nng_tls_config *cfg, const tls_files *f, char *err, size_t errlen)
{
    char *cert = NULL, *key = NULL;
    int rc = read_pem("TLS_CERT", f->cert, &cert, err, errlen);
    if (rc == 0)
        rc = read_pem("TLS_KEY", f->key, &key, err, errlen);
    int rv;
    if (rc == 0 && (rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0) {
        snprintf(err, errlen, "TLS_CERT/TLS_KEY (%s, %s): not a matching PEM certificate and key: %s",
                 f->cert, f->key, nng_strerror(rv));
        rc = ERR_INVALID;
    }
    free(cert);
    free(key);
    return rc;
}

/* peer_ca: trust f->ca and only it, and require the peer to present a certificate it signed. */
static int peer_ca(nng_tls_config *cfg, const tls_files *f, char *err, size_t errlen)
{
    char *ca = NULL;
    int rc = read_pem("TLS_CA", f->ca, &ca, err, errlen);
    int rv;
    if (rc == 0 && ((rv = nng_tls_config_ca_chain(cfg, ca, NULL)) != 0 ||
                    (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0)) {
        snprintf(err, errlen, "TLS_CA (%s): not a usable PEM CA certificate: %s", f->ca, nng_strerror(rv));
        rc = ERR_INVALID;
    }
    free(ca);
    return rc;
}

static int config_alloc(nng_tls_config **cfg, nng_tls_mode mode, char *err, size_t errlen)
{
    int rv = nng_tls_config_alloc(cfg, mode);
    if (rv != 0) {
        snprintf(err, errlen, "TLS not available in this nng build: %s", nng_strerror(rv));
        return ERR_INVALID;
    }
    return 0;
}

int tls_listener_setup(nng_listener l, const char *url, const tls_files *f, char *err, size_t errlen)
{
    if (!tls_url(url))
        return 0;
    if (!set(f->cert) || !set(f->key) || !set(f->ca)) {
        snprintf(err, errlen,
                 "%s needs TLS_CERT and TLS_KEY (the server's certificate) and TLS_CA (the CA "
                 "that signed the clients' certificates)",
                 url);
        return ERR_INVALID;
    }
    nng_tls_config *cfg = NULL;
    int rc = config_alloc(&cfg, NNG_TLS_MODE_SERVER, err, errlen);
    if (rc != 0)
        return rc;
    if ((rc = own_cert(cfg, f, err, errlen)) == 0 && (rc = peer_ca(cfg, f, err, errlen)) == 0) {
        int rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
        if (rv != 0) {
            snprintf(err, errlen, "TLS configuration of %s: %s", url, nng_strerror(rv));
            rc = ERR_INVALID;
        }
    }
    nng_tls_config_free(cfg); /* the listener holds its own reference */
    return rc;
}

int tls_dialer_setup(nng_dialer d, const char *url, const tls_files *f, char *err, size_t errlen)
{
    if (!tls_url(url))
        return 0;
    if (!set(f->ca)) {
        snprintf(err, errlen, "%s needs TLS_CA (the CA that signed the server's certificate)", url);
        return ERR_INVALID;
    }
    if (set(f->cert) != set(f->key)) {
        snprintf(err, errlen, "TLS_CERT and TLS_KEY go together (the client certificate and its key)");
        return ERR_INVALID;
    }
    nng_tls_config *cfg = NULL;
    nng_url *pu = NULL;
    int rc = config_alloc(&cfg, NNG_TLS_MODE_CLIENT, err, errlen);
    if (rc != 0)
        return rc;
    rc = peer_ca(cfg, f, err, errlen);
    if (rc == 0 && set(f->cert))
        rc = own_cert(cfg, f, err, errlen);
    const char *name = f->server_name;
    int rv = 0;
    if (rc == 0 && !set(name)) {
        if ((rv = nng_url_parse(&pu, url)) != 0) {
            snprintf(err, errlen, "%s: %s", url, nng_strerror(rv));
            rc = ERR_INVALID;
        } else {
            name = pu->u_hostname;
        }
    }
    if (rc == 0 && (rv = nng_tls_config_server_name(cfg, name)) != 0) {
        snprintf(err, errlen, "TLS_SERVER_NAME %s: %s", name, nng_strerror(rv));
        rc = ERR_INVALID;
    }
    if (rc == 0 && (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0) {
        snprintf(err, errlen, "TLS configuration of %s: %s", url, nng_strerror(rv));
        rc = ERR_INVALID;
    }
    nng_url_free(pu);
    nng_tls_config_free(cfg); /* the dialer holds its own reference */
    return rc;
}
