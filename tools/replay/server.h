/* server.h: the HTTP/1.1 side of rsvp-replay. One thread, non-blocking sockets and poll(2); every
 * connection walks the timeline on its own (optionally from ?since_mtime=), paced or at full speed,
 * as a chunked (optionally gzipped) NDJSON body, with optional fault injection (extra bad lines,
 * one stall, closes, error statuses). */
#ifndef TOOLS_REPLAY_SERVER_H
#define TOOLS_REPLAY_SERVER_H

#include <stdint.h>

#include "tools/replay/timeline.h"

/* Fault knobs: 0 disables each. "every K" counts timeline messages sent on one connection. */
typedef struct server_faults {
    int64_t close_after;     /* close each connection after N messages (no final chunk) */
    int64_t stall_after;     /* once per server: the first connection reaching M messages ... */
    int64_t stall_ms;        /* ... sends nothing for this long (connection kept open) */
    int64_t truncated_every; /* extra line: the first half of the message just sent */
    int64_t bad_utf8_every;  /* extra line with invalid UTF-8 inside a JSON string */
    int64_t huge_every;      /* extra line of huge_bytes bytes (JSON-looking, never closed) */
    int64_t huge_bytes;
    int64_t nonjson_every; /* extra line "this is not json" */
    int64_t status_code;   /* the first status_count requests get this status + Retry-After: 1 */
    int64_t status_count;
} server_faults;

typedef struct server_cfg {
    const char *listen;    /* "host:port" (port 0 picks one) */
    const timeline *tl;    /* not owned; must outlive the server */
    double rate;           /* msgs/s, <= 0: unpaced */
    int64_t start_mono_ns; /* pacing origin (clock_mono_ns() at start) */
    int64_t chunk_bytes;   /* largest chunk payload; lines may be split across chunks */
    int64_t max_clients;
    int gzip_level; /* 1..9: gzip the body for clients sending Accept-Encoding: gzip; -1: never */
    server_faults faults;
} server_cfg;

typedef struct server server;

/* server_new: bind and listen, register the rsvp_replay_* metrics. On success *out owns the
 * socket. Returns 0, ERR_INVALID (bad address), ERR_IO (bind/listen failed), ERR_NOMEM. */
int server_new(server **out, const server_cfg *cfg);
/* server_port: the bound TCP port. */
int server_port(const server *s);
/* server_run: serve until stop() returns nonzero (checked at least every 100 ms), then close every
 * client. Returns 0, or ERR_IO if poll(2) fails. Call from one thread only. */
int server_run(server *s, int (*stop)(void));
/* server_free: close the listener and any client left; NULL-safe. */
void server_free(server *s);

#endif
