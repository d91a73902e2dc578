/* tls.h: nng TLS set-up from PEM files, once for both ends of the aggregator -> writer link: the
 * writer's listener (mutual TLS: its own certificate and the CA its clients' certificates must
 * chain to) and the dialers of the aggregator and rsvp-writer-client (the CA and name the writer's
 * certificate must match, and the client's own certificate). The PEM files are read here. */
#ifndef COMMON_TLS_H
#define COMMON_TLS_H

#include <nng/nng.h>
#include <stddef.h>

/* Paths of PEM files (NULL or "" = unset), named after the options every side uses. */
typedef struct tls_files {
    const char *ca;          /* TLS_CA: the CA bundle that signed the peer's certificate */
    const char *cert;        /* TLS_CERT: own certificate (may carry its chain) */
    const char *key;         /* TLS_KEY: its private key */
    const char *server_name; /* TLS_SERVER_NAME, dialers only: the DNS name the server's certificate
                              * must carry; unset: the URL's host (mbedTLS matches DNS names only) */
} tls_files;

/* tls_url: 1 if url is an nng TLS transport (tls+tcp://, tls+tcp4://, tls+tcp6://), else 0. */
int tls_url(const char *url);

/* tls_listener_setup: for a TLS url, give listener l (created, not started) a server configuration
 * that presents f->cert/f->key and admits only clients whose certificate chains to f->ca (all three
 * required: a TLS listener without client authentication would let anyone who can reach it in).
 * Non-TLS url: nothing to do. Returns 0 or ERR_INVALID with the option and the reason in err
 * (missing option, unreadable or unparsable file, TLS not built into nng). */
int tls_listener_setup(nng_listener l, const char *url, const tls_files *f, char *err, size_t errlen);

/* tls_dialer_setup: for a TLS url, give dialer d (created, not started) a client configuration
 * that verifies the server's certificate against f->ca (required) and f->server_name (or the URL's
 * host), and presents f->cert/f->key when both are set (one without the other is an error).
 * Non-TLS url: nothing to do. Returns 0 or ERR_INVALID with the reason in err. */
int tls_dialer_setup(nng_dialer d, const char *url, const tls_files *f, char *err, size_t errlen);

#endif
