/* server.h: the writer's nng REP endpoint: one listening socket (tcp://, ipc:// or tls+tcp:// with
 * mutual TLS) and a few worker threads, each with its own nng context, database connection (store)
 * and capped decode arena. The database serialises the batches; the workers only keep one slow
 * batch from stalling others. The socket admits at most max_connections connections and receives
 * at most server_recv_max() bytes per message, so the memory requests can take is bounded
 * (server_worst_memory). */
#ifndef SERVICES_WRITER_SERVER_H
#define SERVICES_WRITER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/tls.h"
#include "services/writer/store.h"
#include "services/writer/writer.h"

typedef struct server server;

typedef struct server_opts {
    const char *listen;       /* nng URL: tcp://host:port, tls+tcp://host:port, ipc://... */
    int workers;              /* >= 1 */
    int max_connections;      /* >= 1: more are closed as soon as they are established */
    size_t max_decode_bytes;  /* per worker: the arena's cap */
    int64_t ping_interval_ms; /* idle workers check their connection this often */
    tls_files tls;            /* for tls+tcp://: cert, key and the clients' CA (all required) */
    store_opts store;         /* copied into every worker's store */
    writer_limits limits;     /* limits.max_request_bytes also sets nng's receive limit */
} server_opts;

/* server_recv_max: the largest message nng receives for a request limit of max_request_bytes:
 * the limit plus min(limit, 1 MiB), so a request a little over the limit still gets a counted
 * ERROR reply; a larger one is dropped by nng before it is read (the connection is closed;
 * nng counts it with ordinary disconnects, so no metric tells it apart). */
size_t server_recv_max(size_t max_request_bytes);

/* server_worst_memory: the most memory requests can hold at once under opts: every admitted
 * connection and every worker's request with a message of server_recv_max(), plus every worker's
 * decode arena at its cap. (Base memory, libpq and TLS sessions come on top.) */
uint64_t server_worst_memory(const server_opts *opts);

/* server_new: open the REP socket and listen (no database I/O yet; workers connect); registers
 * the connection metrics. On success *out owns the socket. Returns 0, ERR_INVALID (bad URL, TLS
 * files missing, unreadable or not PEM, or TLS not built into nng), ERR_IO (listen failed, e.g.
 * address in use) or ERR_NOMEM; errbuf says why. */
int server_new(server **out, const server_opts *opts, char *errbuf, size_t errlen);

/* server_start: start the worker threads. 0 or ERR_NOMEM/ERR_IO. */
int server_start(server *s);

/* server_db_up: 1 when at least one worker holds a ready database connection (schema created,
 * statements prepared). Any thread. Also refreshes rsvp_writer_db_up. */
int server_db_up(server *s);

/* server_poll_transport: export nng's counts of connections that failed before or while
 * carrying requests (TLS authentication, protocol errors, oversize messages, ...) as
 * rsvp_writer_transport_errors_total{kind} and log what grew since the last call. Call from one
 * thread, about once a second. */
void server_poll_transport(server *s);

/* server_stop: ask the workers to stop, wait until each finished its current request (a batch in
 * flight is committed and answered), close the socket. Idempotent. */
void server_stop(server *s);

/* server_free: stops if needed and frees everything. NULL-safe. */
void server_free(server *s);

#endif
