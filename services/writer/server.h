/* server.h: the writer's nng REP endpoint: one listening socket (tcp:// or tls+tcp://) and a few
 * worker threads, each with its own nng context and its own database connection (store). The
 * database serialises the batches; the workers only keep one slow batch from stalling others. */
#ifndef SERVICES_WRITER_SERVER_H
#define SERVICES_WRITER_SERVER_H

#include <stdint.h>

#include "services/writer/store.h"
#include "services/writer/writer.h"

typedef struct server server;

typedef struct server_opts {
    const char *listen;        /* nng URL: tcp://host:port, tls+tcp://host:port, ipc://... */
    int64_t max_request_bytes; /* bigger: ERROR reply; over twice this nng drops them */
    int workers;               /* >= 1 */
    int64_t ping_interval_ms;  /* idle workers check their connection this often */
    const char *tls_cert;      /* PEM files for tls+tcp:// (cert and key required there) */
    const char *tls_key;
    const char *tls_ca; /* optional: require client certificates signed by it */
    store_opts store;   /* copied into every worker's store */
    writer_limits limits;
} server_opts;

/* server_new: open the REP socket and listen (no database I/O yet; workers connect). On success
 * *out owns the socket. Returns 0, ERR_INVALID (bad URL, TLS files unreadable or TLS not built
 * into nng), ERR_IO (listen failed, e.g. address in use) or ERR_NOMEM; errbuf says why. */
int server_new(server **out, const server_opts *opts, char *errbuf, size_t errlen);

/* server_start: start the worker threads. 0 or ERR_NOMEM/ERR_IO. */
int server_start(server *s);

/* server_db_up: 1 when at least one worker holds a ready database connection (schema created,
 * statements prepared). Any thread. Also refreshes rsvp_writer_db_up. */
int server_db_up(server *s);

/* server_stop: ask the workers to stop, wait until each finished its current request (a batch in
 * flight is committed and answered), close the socket. Idempotent. */
void server_stop(server *s);

/* server_free: stops if needed and frees everything. NULL-safe. */
void server_free(server *s);

#endif
