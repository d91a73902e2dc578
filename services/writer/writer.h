/* writer.h: one request in, one reply out: checks the packed WriterRequest (size, rows and
 * partitions counted on the wire), decodes it into a capped arena, validates it, runs it on the
 * database side and packs the WriterReply. Owns the rsvp_writer_* request metrics. No sockets here
 * (server.c moves the bytes), so the whole request path is testable without nng. */
#ifndef SERVICES_WRITER_WRITER_H
#define SERVICES_WRITER_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "services/writer/store.h"

typedef struct writer_limits {
    size_t max_request_bytes; /* longer request -> ERROR (reason "oversize") */
    int64_t max_batch_rows;   /* more rows -> ERROR ("too_many_rows"), counted before decoding */
    size_t max_partitions;    /* per OffsetQuery ("too_many_partitions"), counted before decoding */
    int64_t max_offset;       /* largest to_offset accepted ("bad_offset") */
} writer_limits;

/* The database side of a request: the contract of store_apply_batch() and store_query_offsets()
 * (store.h), so the request path runs on a real store (writer_db_store) or, in the fuzzer, on a
 * model of it. */
typedef struct writer_db {
    int (*apply_batch)(void *ctx, const Rsvp__V1__Batch *b, store_result *res);
    int (*query_offsets)(void *ctx, const char *topic, const int32_t *parts, size_t n, int64_t *out,
                         char *msg, size_t cap);
    void *ctx;
} writer_db;

/* writer_db_store: the database side backed by st (borrowed). */
writer_db writer_db_store(store *st);

/* Decode memory for one worker's requests: unpacking a batch allocates once per row and per
 * string; an arena hands out that memory from one reused block, drops it all at once, and refuses
 * to hand out more than its cap (the request is then refused, reason "decode_limit"). */
typedef struct writer_arena writer_arena;

/* writer_arena_new: an empty arena that keeps at most keep_bytes between requests and hands out
 * at most cap_bytes per request (keep_bytes <= cap_bytes). 0 or ERR_NOMEM. writer_arena_free:
 * frees it; NULL-safe. One thread at a time. */
int writer_arena_new(writer_arena **out, size_t keep_bytes, size_t cap_bytes);
void writer_arena_free(writer_arena *a);
/* writer_arena_kept: the bytes of the block kept between requests: it grows to what a request
 * needed (at most keep_bytes) and shrinks back after 64 requests that all needed much less. */
size_t writer_arena_kept(const writer_arena *a);

/* writer_metrics_init: register every rsvp_writer_* metric of the request path once at start-up
 * (before workers start). 0 or ERR_NOMEM. */
int writer_metrics_init(void);

/* writer_handle: answer the request req[0..len) using db (NULL: no database configured, every
 * database request gets RETRY). The request is decoded into ar, which is emptied before
 * returning. The packed reply replaces out's content. A refused request (ERROR reply, counted in
 * rsvp_writer_bad_requests_total{reason}, logged at most once per second per reason) never
 * reaches db. Never fails for bad input; returns ERR_NOMEM only if no reply could be built.
 * Thread-safe across workers (each with its own db and arena). */
int writer_handle(const writer_db *db, const writer_limits *lim, writer_arena *ar, const void *req,
                  size_t len, buf *out);

/* writer_set_db_up: export the database state (1 up, 0 down) as rsvp_writer_db_up. */
void writer_set_db_up(int up);

#endif
