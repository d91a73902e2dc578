/* wlink.c: nng REQ client with per-channel contexts. Each channel runs a tiny state machine in its
 * aio callback (nng's threads): SEND -> RECV -> DONE; the owner thread only reads DONE under the
 * channel mutex, so the main loop never blocks on the network. */
#include "services/aggregator/wlink.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/sig.h"
#include "common/tls.h"

typedef enum phase { PH_IDLE, PH_SEND, PH_RECV, PH_DONE } phase;

typedef struct chan {
    struct wlink *w;
    nng_ctx ctx;
    nng_aio *aio;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    phase ph;
    int rv;         /* nng result when DONE */
    nng_msg *reply; /* when DONE and rv == 0 */
    int64_t deadline_ms;
    int ctx_open;
} chan;

struct wlink {
    nng_socket sock;
    int sock_open;
    chan ch[WLINK_NCHAN];
    pthread_mutex_t wake_mu; /* guards wake_fn/wake_arg, held while calling them */
    void (*wake_fn)(void *);
    void *wake_arg;
};

static void chan_cb(void *arg)
{
    chan *c = arg;
    int rv = nng_aio_result(c->aio);
    pthread_mutex_lock(&c->mu);
    if (c->ph == PH_SEND && rv == 0) {
        int64_t left = c->deadline_ms - clock_mono_ms();
        if (left > 0) {
            c->ph = PH_RECV;
            pthread_mutex_unlock(&c->mu);
            nng_aio_set_timeout(c->aio, (nng_duration)left);
            nng_ctx_recv(c->ctx, c->aio);
            return;
        }
        rv = NNG_ETIMEDOUT;
    } else if (c->ph == PH_SEND) {
        nng_msg_free(nng_aio_get_msg(c->aio)); /* a failed send leaves the message to us */
        nng_aio_set_msg(c->aio, NULL);
    } else if (c->ph == PH_RECV && rv == 0) {
        c->reply = nng_aio_get_msg(c->aio);
        nng_aio_set_msg(c->aio, NULL);
    }
    c->rv = rv;
    c->ph = PH_DONE;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_lock(&c->w->wake_mu);
    if (c->w->wake_fn)
        c->w->wake_fn(c->w->wake_arg);
    pthread_mutex_unlock(&c->w->wake_mu);
}

void wlink_set_wake(wlink *w, void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&w->wake_mu);
    w->wake_fn = fn;
    w->wake_arg = arg;
    pthread_mutex_unlock(&w->wake_mu);
}

void wlink_free(wlink *w)
{
    if (!w)
        return;
    for (int i = 0; i < WLINK_NCHAN; i++) {
        chan *c = &w->ch[i];
        if (c->aio)
            nng_aio_stop(c->aio); /* waits for the callback; no new operation starts */
        if (c->reply)
            nng_msg_free(c->reply);
        if (c->ctx_open)
            nng_ctx_close(c->ctx);
        if (c->aio)
            nng_aio_free(c->aio);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
    }
    if (w->sock_open)
        nng_close(w->sock);
    pthread_mutex_destroy(&w->wake_mu);
    free(w);
}

/* dial: start a non-blocking dialer for one URL; tls+tcp:// ones get a TLS client configuration
 * (common/tls.c: the writer verified against TLS_CA and the server name, our certificate shown). */
static int dial(wlink *w, const char *u, const wlink_tls *tls)
{
    tls_files f = {0};
    if (tls)
        f = (tls_files){tls->ca_file, tls->cert_file, tls->key_file, tls->server_name};
    char err[512] = "";
    nng_dialer d;
    int rv = nng_dialer_create(&d, w->sock, u);
    if (rv) {
        log_error("cannot dial writer", "url=%s err=%s", u, nng_strerror(rv));
        return ERR_INVALID;
    }
    if (tls_dialer_setup(d, u, &f, err, sizeof err) != 0) {
        log_error("bad TLS configuration for the writer link", "url=%s err=%s", u, err);
        nng_dialer_close(d);
        return ERR_INVALID;
    }
    if ((rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0) {
        log_error("cannot dial writer", "url=%s err=%s", u, nng_strerror(rv));
        nng_dialer_close(d);
        return ERR_INVALID;
    }
    return 0;
}

int wlink_open(wlink **out, const char *urls)
{
    return wlink_open_tls(out, urls, NULL);
}

int wlink_open_tls(wlink **out, const char *urls, const wlink_tls *tls)
{
    wlink *w = calloc(1, sizeof *w);
    if (!w)
        return ERR_NOMEM;
    pthread_mutex_init(&w->wake_mu, NULL);
    for (int i = 0; i < WLINK_NCHAN; i++) {
        w->ch[i].w = w;
        pthread_mutex_init(&w->ch[i].mu, NULL);
        pthread_cond_init(&w->ch[i].cv, NULL);
    }
    int rv = nng_req0_open(&w->sock);
    if (rv) {
        log_error("nng_req0_open failed", "err=%s", nng_strerror(rv));
        wlink_free(w);
        return ERR_IO;
    }
    w->sock_open = 1;
    nng_socket_set_ms(w->sock, NNG_OPT_RECONNMINT, 100);
    nng_socket_set_ms(w->sock, NNG_OPT_RECONNMAXT, 2000);
    for (int i = 0; i < WLINK_NCHAN; i++) {
        chan *c = &w->ch[i];
        if ((rv = nng_ctx_open(&c->ctx, w->sock)) != 0 ||
            (c->ctx_open = 1, rv = nng_aio_alloc(&c->aio, chan_cb, c)) != 0) {
            log_error("nng context setup failed", "err=%s", nng_strerror(rv));
            wlink_free(w);
            return ERR_IO;
        }
    }
    char *list = strdup(urls ? urls : "");
    if (!list) {
        wlink_free(w);
        return ERR_NOMEM;
    }
    int ndial = 0;
    char *save = NULL;
    for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        while (*u == ' ')
            u++;
        if (!*u)
            continue;
        if ((rv = dial(w, u, tls)) != 0) {
            free(list);
            wlink_free(w);
            return rv;
        }
        ndial++;
    }
    free(list);
    if (!ndial) {
        log_error("no writer url", "urls=%s", urls ? urls : "");
        wlink_free(w);
        return ERR_INVALID;
    }
    *out = w;
    return 0;
}

int wlink_start(wlink *w, wlink_chan ci, const void *data, size_t len, int64_t timeout_ms)
{
    chan *c = &w->ch[ci];
    pthread_mutex_lock(&c->mu);
    int busy = c->ph == PH_SEND || c->ph == PH_RECV;
    pthread_mutex_unlock(&c->mu);
    if (busy)
        return ERR_INVALID;
    nng_msg *m;
    if (nng_msg_alloc(&m, len) != 0)
        return ERR_NOMEM;
    memcpy(nng_msg_body(m), data, len);
    pthread_mutex_lock(&c->mu);
    if (c->reply)
        nng_msg_free(c->reply); /* an unread old reply */
    c->reply = NULL;
    c->ph = PH_SEND;
    c->rv = 0;
    c->deadline_ms = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 1);
    pthread_mutex_unlock(&c->mu);
    nng_aio_set_msg(c->aio, m);
    nng_aio_set_timeout(c->aio, (nng_duration)(timeout_ms > 0 ? timeout_ms : 1));
    nng_ctx_send(c->ctx, c->aio);
    return 0;
}

int wlink_busy(const wlink *w, wlink_chan ci)
{
    chan *c = (chan *)&w->ch[ci];
    pthread_mutex_lock(&c->mu);
    int busy = c->ph == PH_SEND || c->ph == PH_RECV;
    pthread_mutex_unlock(&c->mu);
    return busy;
}

int wlink_poll(wlink *w, wlink_chan ci, int64_t wait_ms, Rsvp__V1__WriterReply **reply)
{
    chan *c = &w->ch[ci];
    pthread_mutex_lock(&c->mu);
    if (c->ph == PH_IDLE) {
        pthread_mutex_unlock(&c->mu);
        return ERR_NOTFOUND;
    }
    if (c->ph != PH_DONE && wait_ms > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (c->ph != PH_DONE)
            if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0)
                break;
    }
    if (c->ph != PH_DONE) {
        pthread_mutex_unlock(&c->mu);
        return 1;
    }
    int rv = c->rv;
    nng_msg *m = c->reply;
    c->reply = NULL;
    c->ph = PH_IDLE;
    pthread_mutex_unlock(&c->mu);
    if (rv)
        return rv == NNG_ETIMEDOUT ? ERR_TIMEOUT : ERR_IO;
    Rsvp__V1__WriterReply *r = rsvp__v1__writer_reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    nng_msg_free(m);
    if (!r)
        return ERR_INVALID;
    *reply = r;
    return 0;
}

int wlink_call(wlink *w, wlink_chan c, const void *data, size_t len, int64_t timeout_ms,
               Rsvp__V1__WriterReply **reply)
{
    int rc = wlink_start(w, c, data, len, timeout_ms);
    if (rc)
        return rc;
    while ((rc = wlink_poll(w, c, 100, reply)) == 1)
        if (sig_stopping())
            return ERR_CLOSED; /* the aio times out on its own later */
    return rc;
}
