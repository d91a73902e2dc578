/* server.c: nng REP socket + worker threads for rsvp-writer. Each worker loops: receive on its
 * context, answer through writer_handle(), send. While idle it keeps its database connection
 * alive (reconnect with backoff, periodic ping); server_stop() cancels a waiting receive. */
#include "services/writer/server.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"

/* Decode memory a worker keeps between requests (a 10k-row batch needs a few MB; larger ones
 * decode into malloc'ed pieces for the overflow, freed after the request). */
#define ARENA_KEEP ((size_t)16 << 20)
/* While the database is down, a worker retries its connection this often (the store's backoff
 * decides whether a retry actually connects). */
#define RETRY_POLL_MS 100

typedef struct worker {
    server *srv;
    int id;
    nng_ctx ctx;
    nng_aio *aio;
    store *st;
    writer_arena *arena;
    pthread_t thread;
    int started;
    _Atomic int db_ready;
    /* A receive is started and cancelled only under mu, so that server_stop() either sees the
     * receive pending or the worker sees the stop flag before starting one. */
    pthread_mutex_t mu;
    int mu_init;
    int in_recv;
} worker;

struct server {
    server_opts o;
    nng_socket sock;
    int sock_open;
    nng_listener listener;
    worker *w;
    int nworkers;
    _Atomic int stop;
    int stopped;
};

static int read_file(const char *path, char **out, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return ERR_INVALID;
    }
    buf b = {0};
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = buf_append(&b, chunk, n);
    fclose(f);
    if (rc == 0)
        rc = buf_putc(&b, '\0'); /* nng wants NUL-terminated PEM */
    if (rc != 0) {
        buf_free(&b);
        snprintf(errbuf, errlen, "%s: out of memory", path);
        return ERR_NOMEM;
    }
    *out = b.data;
    return 0;
}

/* TLS server config for tls+tcp:// listeners. */
static int tls_setup(server *s, char *errbuf, size_t errlen)
{
    nng_tls_config *cfg = NULL;
    char *cert = NULL, *key = NULL, *ca = NULL;
    int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER);
    if (rv != 0) {
        snprintf(errbuf, errlen, "TLS not available in this nng build: %s", nng_strerror(rv));
        return ERR_INVALID;
    }
    int rc = ERR_INVALID;
    if (s->o.tls_cert == NULL || s->o.tls_key == NULL) {
        snprintf(errbuf, errlen, "tls+tcp:// needs TLS_CERT and TLS_KEY");
        goto out;
    }
    if ((rc = read_file(s->o.tls_cert, &cert, errbuf, errlen)) != 0)
        goto out;
    if ((rc = read_file(s->o.tls_key, &key, errbuf, errlen)) != 0)
        goto out;
    rc = ERR_INVALID;
    if ((rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0) {
        snprintf(errbuf, errlen, "TLS_CERT/TLS_KEY: %s", nng_strerror(rv));
        goto out;
    }
    if (s->o.tls_ca && *s->o.tls_ca) {
        if ((rc = read_file(s->o.tls_ca, &ca, errbuf, errlen)) != 0)
            goto out;
        rc = ERR_INVALID;
        if ((rv = nng_tls_config_ca_chain(cfg, ca, NULL)) != 0 ||
            (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0) {
            snprintf(errbuf, errlen, "TLS_CA: %s", nng_strerror(rv));
            goto out;
        }
    }
    if ((rv = nng_listener_set_ptr(s->listener, NNG_OPT_TLS_CONFIG, cfg)) != 0) {
        snprintf(errbuf, errlen, "TLS config: %s", nng_strerror(rv));
        goto out;
    }
    rc = 0;
out:
    nng_tls_config_free(cfg); /* the listener holds its own reference */
    free(cert);
    free(key);
    free(ca);
    return rc;
}

int server_new(server **out, const server_opts *opts, char *errbuf, size_t errlen)
{
    server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ERR_NOMEM;
    s->o = *opts;
    int rv, rc = ERR_IO;
    if ((rv = nng_rep0_open(&s->sock)) != 0) {
        snprintf(errbuf, errlen, "nng_rep0_open: %s", nng_strerror(rv));
        goto fail;
    }
    s->sock_open = 1;
    /* nng drops a message over its limit by closing the connection, silently (no statistic
     * tells it from a normal disconnect). Let up to twice the limit through so that most
     * oversize requests get a counted ERROR reply from writer_handle(); memory stays bounded. */
    size_t hard = (size_t)opts->max_request_bytes * 2;
    if ((rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, hard)) != 0) {
        snprintf(errbuf, errlen, "recv-size-max: %s", nng_strerror(rv));
        goto fail;
    }
    if ((rv = nng_listener_create(&s->listener, s->sock, opts->listen)) != 0) {
        snprintf(errbuf, errlen, "listen %s: %s", opts->listen, nng_strerror(rv));
        rc = ERR_INVALID;
        goto fail;
    }
    if (strncmp(opts->listen, "tls+", 4) == 0 && (rc = tls_setup(s, errbuf, errlen)) != 0)
        goto fail;
    if ((rv = nng_listener_start(s->listener, 0)) != 0) {
        snprintf(errbuf, errlen, "listen %s: %s", opts->listen, nng_strerror(rv));
        rc = ERR_IO;
        goto fail;
    }
    s->nworkers = opts->workers;
    s->w = calloc((size_t)s->nworkers, sizeof *s->w);
    if (s->w == NULL) {
        rc = ERR_NOMEM;
        goto fail;
    }
    for (int i = 0; i < s->nworkers; i++) {
        worker *w = &s->w[i];
        w->srv = s;
        w->id = i;
        if ((rv = nng_ctx_open(&w->ctx, s->sock)) != 0 || (rv = nng_aio_alloc(&w->aio, NULL, NULL))) {
            snprintf(errbuf, errlen, "nng context: %s", nng_strerror(rv));
            goto fail;
        }
        if ((rc = store_new(&w->st, &opts->store)) != 0 ||
            (rc = writer_arena_new(&w->arena, ARENA_KEEP)) != 0)
            goto fail;
        if (pthread_mutex_init(&w->mu, NULL) != 0) {
            rc = ERR_NOMEM;
            goto fail;
        }
        w->mu_init = 1;
    }
    *out = s;
    return 0;
fail:
    server_free(s);
    return rc;
}

/* Keep the connection usable while idle; publish its state. Returns how long the next receive
 * may wait before this has to run again (nng 1.5.2's timer thread spins up to a millisecond at
 * every timeout it fires, so idle workers wait as long as they can instead of polling). */
static int worker_keepalive(worker *w, int64_t *last_check)
{
    int64_t now = clock_mono_ms();
    if (!store_ready(w->st)) {
        store_ensure(w->st); /* returns at once while the backoff delay runs */
        *last_check = now;
    } else if (now - *last_check >= w->srv->o.ping_interval_ms) {
        store_ping(w->st);
        *last_check = now;
    }
    int ready = store_ready(w->st);
    atomic_store(&w->db_ready, ready);
    if (!ready)
        return RETRY_POLL_MS;
    int64_t left = w->srv->o.ping_interval_ms - (now - *last_check);
    return left < 1 ? 1 : left > INT32_MAX ? INT32_MAX : (int)left;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    server *s = w->srv;
    buf out = {0};
    int64_t last_check = 0;
    for (;;) {
        int wait_ms = worker_keepalive(w, &last_check);
        pthread_mutex_lock(&w->mu);
        if (atomic_load(&s->stop)) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        nng_aio_set_timeout(w->aio, wait_ms);
        nng_ctx_recv(w->ctx, w->aio);
        w->in_recv = 1;
        pthread_mutex_unlock(&w->mu);
        nng_aio_wait(w->aio);
        pthread_mutex_lock(&w->mu);
        w->in_recv = 0;
        pthread_mutex_unlock(&w->mu);
        int rv = nng_aio_result(w->aio);
        if (rv == NNG_ETIMEDOUT || rv == NNG_ECANCELED)
            continue;
        if (rv == NNG_ECLOSED)
            break;
        if (rv != 0) {
            log_warn("receive failed", "worker=%d error=%s", w->id, nng_strerror(rv));
            continue;
        }
        nng_msg *msg = nng_aio_get_msg(w->aio);
        int rc = writer_handle(w->st, &s->o.limits, w->arena, nng_msg_body(msg), nng_msg_len(msg), &out);
        last_check = clock_mono_ms(); /* a request just exercised the connection */
        atomic_store(&w->db_ready, store_ready(w->st));
        nng_msg_clear(msg);
        if (rc != 0 || nng_msg_append(msg, out.data, out.len) != 0) {
            /* No reply possible (out of memory): the requester times out and resends. */
            log_error("cannot build reply", "worker=%d", w->id);
            nng_msg_free(msg);
            continue;
        }
        nng_aio_set_msg(w->aio, msg);
        nng_aio_set_timeout(w->aio, 5000);
        nng_ctx_send(w->ctx, w->aio);
        nng_aio_wait(w->aio);
        if ((rv = nng_aio_result(w->aio)) != 0) {
            nng_msg_free(msg);
            if (rv != NNG_ECLOSED)
                log_warn("reply not sent", "worker=%d error=%s", w->id, nng_strerror(rv));
        }
        if (out.cap > (1u << 20))
            buf_free(&out); /* don't pin a huge reply buffer */
    }
    buf_free(&out);
    return NULL;
}

int server_start(server *s)
{
    for (int i = 0; i < s->nworkers; i++) {
        if (pthread_create(&s->w[i].thread, NULL, worker_main, &s->w[i]) != 0) {
            log_error("pthread_create failed", "worker=%d", i);
            return ERR_IO;
        }
        s->w[i].started = 1;
    }
    return 0;
}

int server_db_up(server *s)
{
    int up = 0;
    for (int i = 0; i < s->nworkers; i++)
        up |= atomic_load(&s->w[i].db_ready);
    writer_set_db_up(up);
    return up;
}

void server_stop(server *s)
{
    if (s == NULL || s->stopped)
        return;
    s->stopped = 1;
    atomic_store(&s->stop, 1);
    /* A worker waiting for a request stops at once; one in a request finishes it first. */
    for (int i = 0; i < s->nworkers; i++) {
        worker *w = &s->w[i];
        if (!w->started)
            continue;
        pthread_mutex_lock(&w->mu);
        if (w->in_recv)
            nng_aio_cancel(w->aio);
        pthread_mutex_unlock(&w->mu);
    }
    for (int i = 0; i < s->nworkers; i++)
        if (s->w[i].started)
            pthread_join(s->w[i].thread, NULL);
    if (s->sock_open)
        nng_close(s->sock);
    s->sock_open = 0;
}

void server_free(server *s)
{
    if (s == NULL)
        return;
    server_stop(s);
    for (int i = 0; s->w && i < s->nworkers; i++) {
        if (s->w[i].aio)
            nng_aio_free(s->w[i].aio);
        store_free(s->w[i].st);
        writer_arena_free(s->w[i].arena);
        if (s->w[i].mu_init)
            pthread_mutex_destroy(&s->w[i].mu);
    }
    free(s->w);
    free(s);
}
