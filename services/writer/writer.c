/* writer.c: the request path of rsvp-writer: size and wire counts first, then decode (into the
 * worker's capped arena), validate, apply or query, reply. Counts every outcome
 * (rsvp_writer_batches_total{result}, rsvp_writer_bad_requests_total{reason}, ...) and logs
 * refusals and failures at most once per second per kind. */
#include "services/writer/writer.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "proto/rsvp.pb-c.h"
#include "services/writer/validate.h"

enum { R_OK, R_STALE, R_RETRY, R_ERROR, R_COUNT };

/* Refusal reasons: validate.h's first (same values), then those of the bytes themselves. */
enum {
    BAD_EMPTY = VR_TOO_MANY_PARTITIONS + 1,
    BAD_OVERSIZE,
    BAD_UNPACK,
    BAD_DECODE_LIMIT,
    BAD_NO_BODY,
    BAD_COUNT
};

static const char *const result_names[R_COUNT] = {"ok", "stale", "retry", "error"};
static const char *const bad_names[BAD_COUNT] = {
    [VR_INVALID_BATCH] = "invalid_batch",
    [VR_TOO_MANY_ROWS] = "too_many_rows",
    [VR_BAD_OFFSET] = "bad_offset",
    [VR_BAD_RANGE] = "bad_range",
    [VR_BAD_MESSAGES] = "bad_messages",
    [VR_BAD_DELTA] = "bad_delta",
    [VR_INVALID_QUERY] = "invalid_query",
    [VR_TOO_MANY_PARTITIONS] = "too_many_partitions",
    [BAD_EMPTY] = "empty",
    [BAD_OVERSIZE] = "oversize",
    [BAD_UNPACK] = "unpack",
    [BAD_DECODE_LIMIT] = "decode_limit",
    [BAD_NO_BODY] = "no_body",
};

static struct {
    mcounter *batches[R_COUNT];
    mcounter *queries[R_COUNT];
    mcounter *bad[BAD_COUNT];
    mcounter *rows, *messages, *tx_retries;
    mhist *batch_seconds, *freshness;
    mgauge *db_up;
} M;

/* Rate-limited logging: one line per kind per second, with how many were suppressed. */
typedef struct ratelog {
    _Atomic int64_t last_ms;
    _Atomic uint64_t suppressed;
} ratelog;

static ratelog rl_bad[BAD_COUNT], rl_batch[R_COUNT];

static int ratelog_allow(ratelog *rl, uint64_t *suppressed)
{
    int64_t now = clock_mono_ms(), last = atomic_load(&rl->last_ms);
    if (now - last < 1000 || !atomic_compare_exchange_strong(&rl->last_ms, &last, now)) {
        atomic_fetch_add(&rl->suppressed, 1);
        return 0;
    }
    *suppressed = atomic_exchange(&rl->suppressed, 0);
    return 1;
}

/* The arena: requests are served from one block; what does not fit is malloc'ed one piece at a
 * time (listed in 'extra') and the block is grown to the whole request's need at the next reset,
 * so a steady stream of similar batches decodes without any malloc. */
typedef struct extra_piece {
    struct extra_piece *next;
    max_align_t data[]; /* the allocation */
} extra_piece;

struct writer_arena {
    char *block;
    size_t cap, used;
    extra_piece *extra;
    size_t extra_bytes;
    size_t keep;  /* largest block kept between requests */
    size_t limit; /* most handed out per request */
    size_t peak;  /* largest need of the requests of this window */
    unsigned n;   /* requests in this window */
    int refused;  /* an allocation of this request went over the limit */
    ProtobufCAllocator pa;
};

#define ARENA_ALIGN _Alignof(max_align_t)

static void *arena_alloc(void *data, size_t n)
{
    writer_arena *a = data;
    if (n > a->limit) {
        a->refused = 1;
        return NULL;
    }
    n = n == 0 ? ARENA_ALIGN : (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    /* protobuf-c gives up (and returns NULL) at the first allocation that fails */
    if (a->used + a->extra_bytes + n > a->limit) {
        a->refused = 1;
        return NULL;
    }
    if (n <= a->cap - a->used) {
        void *p = a->block + a->used;
        a->used += n;
        return p;
    }
    extra_piece *e = malloc(sizeof *e + n);
    if (e == NULL)
        return NULL;
    e->next = a->extra;
    a->extra = e;
    a->extra_bytes += n;
    return e->data;
}

static void arena_free_one(void *data, void *p)
{
    (void)data; /* freed with the whole request in arena_reset() */
    (void)p;
}

/* Requests per window: a block more than twice the window's largest need (and its slack) is given
 * back at the window's end, so one catch-up batch does not pin its decode memory for good. */
#define ARENA_WINDOW 64

/* Drop everything handed out; size the block for a request like the last one, and down to the
 * recent ones' needs after a window of much smaller requests. */
static void arena_reset(writer_arena *a)
{
    size_t need = a->used + a->extra_bytes;
    if (need > a->peak)
        a->peak = need;
    if (++a->n >= ARENA_WINDOW) {
        size_t want = a->peak + a->peak / 4;
        if (a->cap > 2 * want && need <= a->cap) {
            free(a->block);
            a->block = NULL;
            a->cap = 0;
            char *p = want ? malloc(want) : NULL;
            if (p != NULL) { /* otherwise the next request grows it again */
                a->block = p;
                a->cap = want;
            }
        }
        a->n = 0;
        a->peak = 0;
    }
    while (a->extra) {
        extra_piece *e = a->extra;
        a->extra = e->next;
        free(e);
    }
    a->extra_bytes = 0;
    a->used = 0;
    a->refused = 0;
    if (need > a->cap && need <= a->keep) {
        size_t cap = need + need / 4 < a->keep ? need + need / 4 : a->keep;
        char *p = malloc(cap);
        if (p != NULL) { /* otherwise keep the old block: still correct, just slower */
            free(a->block);
            a->block = p;
            a->cap = cap;
        }
    }
}

int writer_arena_new(writer_arena **out, size_t keep_bytes, size_t cap_bytes)
{
    writer_arena *a = calloc(1, sizeof *a);
    if (a == NULL)
        return ERR_NOMEM;
    a->keep = keep_bytes < cap_bytes ? keep_bytes : cap_bytes;
    a->limit = cap_bytes;
    a->pa.alloc = arena_alloc;
    a->pa.free = arena_free_one;
    a->pa.allocator_data = a;
    *out = a;
    return 0;
}

size_t writer_arena_kept(const writer_arena *a)
{
    return a->cap;
}

void writer_arena_free(writer_arena *a)
{
    if (a == NULL)
        return;
    arena_reset(a);
    free(a->block);
    free(a);
}

int writer_metrics_init(void)
{
    static const double secs[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
    static const double fresh[] = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900};
    char labels[64];
    for (int i = 0; i < R_COUNT; i++) {
        snprintf(labels, sizeof labels, "result=\"%s\"", result_names[i]);
        M.batches[i] = metrics_counter("rsvp_writer_batches_total", labels, "Batches answered, by result");
        if (i != R_STALE)
            M.queries[i] = metrics_counter("rsvp_writer_offset_queries_total", labels,
                                           "Offset queries answered, by result");
        if (!M.batches[i] || (i != R_STALE && !M.queries[i]))
            return ERR_NOMEM;
    }
    for (int i = 1; i < BAD_COUNT; i++) { /* 0 is VR_OK */
        snprintf(labels, sizeof labels, "reason=\"%s\"", bad_names[i]);
        M.bad[i] = metrics_counter("rsvp_writer_bad_requests_total", labels,
                                   "Requests refused (ERROR reply) before the database, by reason");
        if (!M.bad[i])
            return ERR_NOMEM;
    }
    M.rows = metrics_counter("rsvp_writer_rows_total", NULL, "Aggregate rows committed");
    M.messages = metrics_counter("rsvp_writer_messages_total", NULL, "RSVPs covered by committed batches");
    M.tx_retries = metrics_counter("rsvp_writer_tx_retries_total", NULL,
                                   "Batch transactions re-run after serialization failure or "
                                   "deadlock");
    M.batch_seconds =
        metrics_histogram("rsvp_writer_batch_seconds", NULL, "Time to apply one batch (all results)", secs,
                          (int)(sizeof secs / sizeof secs[0]));
    M.freshness = metrics_histogram("rsvp_writer_freshness_seconds", NULL,
                                    "Commit time minus ingest time of the newest RSVP in a batch", fresh,
                                    (int)(sizeof fresh / sizeof fresh[0]));
    M.db_up = metrics_gauge("rsvp_writer_db_up", NULL,
                            "1 when a worker holds a ready database "
                            "connection (schema created)");
    if (!M.rows || !M.messages || !M.tx_retries || !M.batch_seconds || !M.freshness || !M.db_up)
        return ERR_NOMEM;
    return 0;
}

void writer_set_db_up(int up)
{
    mgauge_set(M.db_up, up ? 1.0 : 0.0);
}

static int pack_reply(const Rsvp__V1__WriterReply *rep, buf *out)
{
    size_t n = rsvp__v1__writer_reply__get_packed_size(rep);
    buf_reset(out);
    if (buf_reserve(out, n + 1) != 0)
        return ERR_NOMEM;
    out->len = rsvp__v1__writer_reply__pack(rep, (uint8_t *)out->data);
    return 0;
}

/* reply_bad: the ERROR reply "<reason>: <why>", counted and logged (rate-limited); b, when the
 * refused request is a decoded batch, puts its header in the log line. */
static int reply_bad(int reason, const char *why, const Rsvp__V1__Batch *b, buf *out)
{
    mcounter_add(M.bad[reason], 1);
    uint64_t sup;
    if (ratelog_allow(&rl_bad[reason], &sup)) {
        if (b)
            log_warn("bad request",
                     "reason=%s detail=%s topic=%s partition=%d from=%" PRId64 " to=%" PRId64
                     " messages=%" PRId64 " rows=%zu sender=%s suppressed=%" PRIu64,
                     bad_names[reason], why, b->topic, b->partition, b->from_offset, b->to_offset,
                     b->has_messages ? b->messages : (int64_t)-1, b->n_rows, b->sender, sup);
        else
            log_warn("bad request", "reason=%s detail=%s suppressed=%" PRIu64, bad_names[reason], why, sup);
    }
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", bad_names[reason], why);
    Rsvp__V1__WriterReply rep = RSVP__V1__WRITER_REPLY__INIT;
    rep.status = RSVP__V1__WRITER_REPLY__STATUS__ERROR;
    rep.message = msg;
    return pack_reply(&rep, out);
}

static int handle_batch(const writer_db *db, const writer_limits *lim, const Rsvp__V1__Batch *b, buf *out)
{
    int64_t t0 = clock_mono_ns();
    Rsvp__V1__WriterReply rep = RSVP__V1__WRITER_REPLY__INIT;
    const char *why = NULL;
    validate_reason bad = validate_batch(b, lim->max_batch_rows, lim->max_offset, &why);
    if (bad != VR_OK) {
        mcounter_add(M.batches[R_ERROR], 1);
        return reply_bad((int)bad, why, b, out);
    }
    store_result res;
    int rc;
    if (db == NULL) {
        memset(&res, 0, sizeof res);
        strcpy(res.message, "no database");
        rc = ERR_RETRY;
    } else {
        rc = db->apply_batch(db->ctx, b, &res);
    }
    if (res.tx_retries > 0)
        mcounter_add(M.tx_retries, (uint64_t)res.tx_retries);
    int result;
    switch (rc) {
    case 0:
        result = R_OK;
        rep.status = RSVP__V1__WRITER_REPLY__STATUS__OK;
        rep.has_batch_id = 1;
        rep.batch_id = res.batch_id;
        mcounter_add(M.rows, b->n_rows);
        mcounter_add(M.messages, (uint64_t)b->messages);
        if (b->has_newest_ingest_ms && b->newest_ingest_ms > 0) {
            double age = (double)(clock_wall_ms() - b->newest_ingest_ms) / 1000.0;
            mhist_observe(M.freshness, age < 0 ? 0 : age);
        }
        break;
    case ERR_STALE:
        result = R_STALE;
        rep.status = RSVP__V1__WRITER_REPLY__STATUS__STALE;
        rep.has_stored_offset = 1;
        rep.stored_offset = res.stored_offset;
        rep.message = res.message;
        break;
    case ERR_INVALID:
        result = R_ERROR;
        rep.status = RSVP__V1__WRITER_REPLY__STATUS__ERROR;
        rep.message = res.message;
        break;
    default:
        result = R_RETRY;
        rep.status = RSVP__V1__WRITER_REPLY__STATUS__RETRY;
        rep.message = res.message;
        break;
    }
    mcounter_add(M.batches[result], 1);
    mhist_observe(M.batch_seconds, (double)(clock_mono_ns() - t0) / 1e9);
    uint64_t sup;
    if (result == R_OK || result == R_STALE) {
        log_debug("batch",
                  "result=%s topic=%s partition=%d from=%" PRId64 " to=%" PRId64 " rows=%zu batch_id=%" PRId64
                  " stored=%" PRId64,
                  result_names[result], b->topic, b->partition, b->from_offset, b->to_offset, b->n_rows,
                  res.batch_id, res.stored_offset);
    } else if (ratelog_allow(&rl_batch[result], &sup)) {
        log_warn("batch failed",
                 "result=%s topic=%s partition=%d from=%" PRId64 " to=%" PRId64
                 " rows=%zu sender=%s error=%s suppressed=%" PRIu64,
                 result_names[result], b->topic, b->partition, b->from_offset, b->to_offset, b->n_rows,
                 b->sender, res.message, sup);
    }
    return pack_reply(&rep, out);
}

static int handle_query(const writer_db *db, const writer_limits *lim, const Rsvp__V1__OffsetQuery *q,
                        buf *out)
{
    const char *why = NULL;
    validate_reason bad = validate_offset_query(q, lim->max_partitions, &why);
    if (bad != VR_OK) {
        mcounter_add(M.queries[R_ERROR], 1);
        return reply_bad((int)bad, why, NULL, out);
    }
    Rsvp__V1__WriterReply rep = RSVP__V1__WRITER_REPLY__INIT;
    char msg[256] = "no database";
    int64_t *offs = calloc(q->n_partitions, sizeof *offs);
    Rsvp__V1__PartitionOffset *po = calloc(q->n_partitions, sizeof *po);
    Rsvp__V1__PartitionOffset **pp = calloc(q->n_partitions, sizeof *pp);
    int rc = ERR_NOMEM;
    if (offs && po && pp) {
        rc = db ? db->query_offsets(db->ctx, q->topic, q->partitions, q->n_partitions, offs, msg, sizeof msg)
                : ERR_RETRY;
    }
    int result;
    if (rc == 0) {
        result = R_OK;
        rep.status = RSVP__V1__WRITER_REPLY__STATUS__OK;
        for (size_t i = 0; i < q->n_partitions; i++) {
            rsvp__v1__partition_offset__init(&po[i]);
            po[i].partition = q->partitions[i];
            po[i].next_offset = offs[i];
            pp[i] = &po[i];
        }
        rep.n_offsets = q->n_partitions;
        rep.offsets = pp;
    } else {
        result = rc == ERR_INVALID ? R_ERROR : R_RETRY;
        rep.status =
            rc == ERR_INVALID ? RSVP__V1__WRITER_REPLY__STATUS__ERROR : RSVP__V1__WRITER_REPLY__STATUS__RETRY;
        rep.message = msg;
    }
    mcounter_add(M.queries[result], 1);
    rc = pack_reply(&rep, out);
    free(offs);
    free(po);
    free(pp);
    return rc;
}

/* Checks of the bytes before any decoding: 0 to go on, else the reply is in out (*rc). */
static int refuse_bytes(const writer_limits *lim, const void *req, size_t len, buf *out, int *rc)
{
    validate_wire_counts c;
    if (len == 0)
        *rc = reply_bad(BAD_EMPTY, "empty request", NULL, out);
    else if (len > lim->max_request_bytes)
        *rc = reply_bad(BAD_OVERSIZE, "request larger than MAX_REQUEST_BYTES", NULL, out);
    else if (validate_wire(req, len, &c) != 0)
        *rc = reply_bad(BAD_UNPACK, "request is not a WriterRequest", NULL, out);
    else if (c.rows > (uint64_t)lim->max_batch_rows) {
        mcounter_add(M.batches[R_ERROR], 1);
        *rc =
            reply_bad(VR_TOO_MANY_ROWS, "too many rows (MAX_BATCH_ROWS), counted before decoding", NULL, out);
    } else if (c.partitions > lim->max_partitions) {
        mcounter_add(M.queries[R_ERROR], 1);
        *rc = reply_bad(VR_TOO_MANY_PARTITIONS, "too many partitions, counted before decoding", NULL, out);
    } else
        return 0;
    return 1;
}

int writer_handle(const writer_db *db, const writer_limits *lim, writer_arena *ar, const void *req,
                  size_t len, buf *out)
{
    int rc;
    if (refuse_bytes(lim, req, len, out, &rc))
        return rc;
    Rsvp__V1__WriterRequest *r = rsvp__v1__writer_request__unpack(&ar->pa, len, req);
    if (r == NULL) {
        int capped = ar->refused;
        arena_reset(ar);
        return capped ? reply_bad(BAD_DECODE_LIMIT,
                                  "request needs more memory to decode than MAX_DECODE_BYTES", NULL, out)
                      : reply_bad(BAD_UNPACK, "request is not a WriterRequest", NULL, out);
    }
    switch (r->body_case) {
    case RSVP__V1__WRITER_REQUEST__BODY_BATCH: rc = handle_batch(db, lim, r->batch, out); break;
    case RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY: rc = handle_query(db, lim, r->offset_query, out); break;
    default: rc = reply_bad(BAD_NO_BODY, "request has no batch or offset_query", NULL, out); break;
    }
    arena_reset(ar); /* the whole request at once */
    return rc;
}

static int db_apply(void *ctx, const Rsvp__V1__Batch *b, store_result *res)
{
    return store_apply_batch(ctx, b, res);
}

static int db_query(void *ctx, const char *topic, const int32_t *parts, size_t n, int64_t *out, char *msg,
                    size_t cap)
{
    return store_query_offsets(ctx, topic, parts, n, out, msg, cap);
}

writer_db writer_db_store(store *st)
{
    writer_db db = {db_apply, db_query, st};
    return db;
}
