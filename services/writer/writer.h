/* writer.h: one request in, one reply out: decodes a packed WriterRequest, validates it, runs it
 * on a store and packs the WriterReply. Owns the rsvp_writer_* request metrics. No sockets here
 * (server.c moves the bytes), so the whole request path is testable without nng. */
#ifndef SERVICES_WRITER_WRITER_H
#define SERVICES_WRITER_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "services/writer/store.h"

typedef struct writer_limits {
    int64_t max_batch_rows;   /* more rows -> ERROR */
    size_t max_request_bytes; /* longer request -> ERROR (reason "oversize") */
    size_t max_partitions;    /* per OffsetQuery */
} writer_limits;

/* Decode memory for one worker's requests: unpacking a batch allocates once per row and per
 * string; an arena hands out that memory from one reused block and drops it all at once. */
typedef struct writer_arena writer_arena;

/* writer_arena_new: an empty arena that keeps at most keep_bytes between requests. 0 or
 * ERR_NOMEM. writer_arena_free: frees it; NULL-safe. One thread at a time. */
int writer_arena_new(writer_arena **out, size_t keep_bytes);
void writer_arena_free(writer_arena *a);

/* writer_metrics_init: register every rsvp_writer_* metric once at start-up (before workers
 * start). 0 or ERR_NOMEM. */
int writer_metrics_init(void);

/* writer_handle: answer the request req[0..len) using st (may be NULL when no database is
 * configured: every database request then gets RETRY). The request is decoded into ar (NULL:
 * malloc), which is emptied before returning. The packed reply replaces out's content.
 * Never fails for bad input (that is an ERROR reply); returns ERR_NOMEM only if no reply could
 * be built. Thread-safe across workers (each with its own store and arena). */
int writer_handle(store *st, const writer_limits *lim, writer_arena *ar, const void *req, size_t len,
                  buf *out);

/* writer_set_db_up: export the database state (1 up, 0 down) as rsvp_writer_db_up. */
void writer_set_db_up(int up);

#endif
