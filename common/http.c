/* http.c: the observability HTTP endpoint (see http.h) on nng's HTTP server: /metrics, /healthz,
 * /readyz. Handlers run on nng's threads and only read atomics, the ready reason (under a mutex)
 * and the metrics registry. */
#include "common/http.h"

#include <arpa/inet.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"

struct httpd {
    nng_http_server *srv;
    int port;
    _Atomic int live;
    _Atomic int ready;
    pthread_mutex_t lock; /* guards reason */
    char reason[256];
};

/* Reply with status and body (copied). On failure the aio completes with the error, so nng
 * closes the connection after a 500. */
static void reply(nng_aio *aio, uint16_t status, const char *ctype, const char *body, size_t n)
{
    nng_http_res *res;
    int rv = nng_http_res_alloc(&res);
    if (rv != 0) {
        nng_aio_finish(aio, rv);
        return;
    }
    if ((rv = nng_http_res_set_status(res, status)) != 0 ||
        (rv = nng_http_res_set_header(res, "Content-Type", ctype)) != 0 ||
        (rv = nng_http_res_copy_data(res, body, n)) != 0) {
        nng_http_res_free(res);
        nng_aio_finish(aio, rv);
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

static httpd *aio_httpd(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    return nng_http_handler_get_data(h);
}

static void on_metrics(nng_aio *aio)
{
    buf b = {0};
    if (metrics_render(&b) != 0) {
        buf_free(&b);
        reply(aio, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    reply(aio, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len);
    buf_free(&b);
}

static void on_healthz(nng_aio *aio)
{
    httpd *h = aio_httpd(aio);
    if (atomic_load(&h->live))
        reply(aio, 200, "text/plain", "ok\n", 3);
    else
        reply(aio, 503, "text/plain", "not live\n", 9);
}

static void on_readyz(nng_aio *aio)
{
    httpd *h = aio_httpd(aio);
    int ready = atomic_load(&h->ready);
    char body[300];
    pthread_mutex_lock(&h->lock);
    int n = ready ? h->reason[0] ? snprintf(body, sizeof body, "ready: %s\n", h->reason)
                                 : snprintf(body, sizeof body, "ready\n")
                  : snprintf(body, sizeof body, "not ready: %s\n", h->reason[0] ? h->reason : "starting");
    pthread_mutex_unlock(&h->lock);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof body)
        n = (int)sizeof body - 1;
    reply(aio, ready ? 200 : 503, "text/plain", body, (size_t)n);
}

/* Split "host:port" / ":port" / "[v6]:port" into an nng URL. */
static int make_url(const char *addr, char *url, size_t cap)
{
    if (addr == NULL || *addr == '\0')
        return ERR_INVALID;
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon[1] == '\0')
        return ERR_INVALID;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        return ERR_INVALID;
    int hlen = (int)(colon - addr);
    const char *host = addr;
    if (hlen == 0) {
        host = "0.0.0.0";
        hlen = 7;
    }
    int n = snprintf(url, cap, "http://%.*s:%ld", hlen, host, port);
    return n > 0 && (size_t)n < cap ? 0 : ERR_INVALID;
}

static int add_handler(nng_http_server *srv, const char *path, void (*cb)(nng_aio *), httpd *h)
{
    nng_http_handler *hd;
    int rv = nng_http_handler_alloc(&hd, path, cb);
    if (rv != 0)
        return rv;
    if ((rv = nng_http_handler_set_data(hd, h, NULL)) != 0 ||
        (rv = nng_http_server_add_handler(srv, hd)) != 0) {
        nng_http_handler_free(hd);
        return rv;
    }
    return 0; /* the server owns the handler now */
}

/* httpd_start: see http.h. Start-up thread. */
int httpd_start(httpd **out, const char *addr)
{
    char urlstr[300];
    if (make_url(addr, urlstr, sizeof urlstr) != 0)
        return ERR_INVALID;
    nng_url *url;
    int rv = nng_url_parse(&url, urlstr);
    if (rv != 0)
        return ERR_INVALID;
    httpd *h = calloc(1, sizeof *h);
    if (!h) {
        nng_url_free(url);
        return ERR_NOMEM;
    }
    pthread_mutex_init(&h->lock, NULL);
    atomic_store(&h->live, 1);
    rv = nng_http_server_hold(&h->srv, url);
    nng_url_free(url);
    if (rv != 0) {
        log_error("http server", "addr=%s error=%s", addr, nng_strerror(rv));
        pthread_mutex_destroy(&h->lock);
        free(h);
        return rv == NNG_ENOMEM ? ERR_NOMEM : ERR_INVALID;
    }
    if ((rv = add_handler(h->srv, "/metrics", on_metrics, h)) != 0 ||
        (rv = add_handler(h->srv, "/healthz", on_healthz, h)) != 0 ||
        (rv = add_handler(h->srv, "/readyz", on_readyz, h)) != 0 ||
        (rv = nng_http_server_start(h->srv)) != 0) {
        log_error("http server", "addr=%s error=%s", addr, nng_strerror(rv));
        nng_http_server_release(h->srv);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return rv == NNG_EADDRINVAL ? ERR_INVALID : ERR_IO;
    }
    nng_sockaddr sa;
    if (nng_http_server_get_addr(h->srv, &sa) == 0) {
        if (sa.s_family == NNG_AF_INET)
            h->port = ntohs(sa.s_in.sa_port);
        else if (sa.s_family == NNG_AF_INET6)
            h->port = ntohs(sa.s_in6.sa_port);
    }
    *out = h;
    return 0;
}

/* httpd_port: see http.h; 0 if unknown. */
int httpd_port(const httpd *h)
{
    return h ? h->port : 0;
}

/* httpd_set_ready: see http.h. Any thread. */
void httpd_set_ready(httpd *h, int ready, const char *reason)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    snprintf(h->reason, sizeof h->reason, "%s", reason ? reason : "");
    pthread_mutex_unlock(&h->lock);
    atomic_store(&h->ready, ready ? 1 : 0);
}

/* httpd_set_live: see http.h. Any thread. */
void httpd_set_live(httpd *h, int live)
{
    if (h)
        atomic_store(&h->live, live ? 1 : 0);
}

/* httpd_free: see http.h. Stops the server first so no handler can see h after it is freed. */
void httpd_free(httpd *h)
{
    if (!h)
        return;
    nng_http_server_stop(h->srv);
    nng_http_server_release(h->srv);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
