/* http.h: the observability endpoint of every service, on nng's HTTP server:
 *   GET /metrics  Prometheus text from metrics.h
 *   GET /healthz  200 "ok" while the process loop is alive (httpd_set_live), else 503
 *   GET /readyz   200 "ready" when httpd_set_ready(1) (e.g. connected to broker and source; with
 *                 its reason, if one was given: "ready: <reason>"), else 503 with the last reason
 *                 given to httpd_set_ready()
 * Served from nng's own threads. */
#ifndef COMMON_HTTP_H
#define COMMON_HTTP_H

typedef struct httpd httpd;

/* httpd_start: addr "host:port" (port 0 picks a free one). On success *out owns the server.
 * Returns 0, ERR_INVALID (bad address) or ERR_IO (bind failed, e.g. port in use). */
int httpd_start(httpd **out, const char *addr);
/* httpd_port: the bound port (useful with port 0). */
int httpd_port(const httpd *h);
/* httpd_set_ready: ready = 1/0; reason (copied, may be NULL) shows in the body. NULL-safe. */
void httpd_set_ready(httpd *h, int ready, const char *reason);
/* httpd_set_live: liveness; starts live. NULL-safe. */
void httpd_set_live(httpd *h, int live);
/* httpd_free: stop serving and free. NULL-safe. */
void httpd_free(httpd *h);

#endif
