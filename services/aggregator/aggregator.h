/* aggregator.h: the aggregator's state, without I/O. Per assigned partition: a delta table over
 * the open offset range [from, next), and at most one frozen batch (packed WriterRequest) waiting
 * for the writer. The caller (main.c) feeds Kafka messages and writer replies in, and performs the
 * actions this module returns (send, seek, pause, re-query). Single-threaded: one caller thread. */
#ifndef SERVICES_AGGREGATOR_AGGREGATOR_H
#define SERVICES_AGGREGATOR_AGGREGATOR_H

#include <stddef.h>
#include <stdint.h>

#include "proto/rsvp.pb-c.h"

typedef struct agg agg;

/* How a sent batch ended (label values of rsvp_aggregator_batches_total{result}). */
typedef enum agg_result {
    AGG_RES_OK,            /* applied */
    AGG_RES_STALE_APPLIED, /* STALE with stored == to: applied earlier, reply was lost */
    AGG_RES_STALE,         /* STALE: someone else wrote this partition; state dropped, seek */
    AGG_RES_RETRY,         /* writer said RETRY (database down) */
    AGG_RES_TIMEOUT,       /* no reply within the request timeout */
    AGG_RES_TRANSPORT,     /* nng failure or an undecodable reply */
    AGG_RES_ERROR,         /* writer said ERROR: state dropped, re-query */
    AGG_RES_DROPPED,       /* reply for a partition revoked meanwhile */
    AGG_NRES
} agg_result;

/* agg_result_name: "ok", "stale_applied", ...; static. */
const char *agg_result_name(agg_result r);

/* Why a batch was cut (label values of rsvp_aggregator_batches_sent_total{trigger}). */
typedef enum agg_trigger {
    AGG_TRIG_INTERVAL,  /* the trigger interval elapsed */
    AGG_TRIG_MAX_KEYS,  /* the partition's table reached max_batch_keys */
    AGG_TRIG_MAX_BYTES, /* ... or its keys reached max_batch_bytes */
    AGG_TRIG_SHUTDOWN,  /* the final flush on a stop signal */
    AGG_TRIG_BISECT,    /* the writer rejected a batch: ranges are halved to find the record */
    AGG_NTRIG
} agg_trigger;

/* agg_trigger_name: "interval", "max_keys", "max_bytes", "shutdown", "bisect"; static. */
const char *agg_trigger_name(agg_trigger t);

/* What the caller must do after agg_on_reply. */
typedef enum agg_act {
    AGG_ACT_NONE,    /* nothing (reply of a revoked partition) */
    AGG_ACT_COMMIT,  /* range acknowledged; optional Kafka commit of offset (lag visibility) */
    AGG_ACT_RETRY,   /* batch kept; pause all partitions and resend after a backoff */
    AGG_ACT_SEEK,    /* state dropped; seek partition to offset (-1: START_OFFSET) */
    AGG_ACT_REQUERY, /* state dropped; ask the writer for the stored offset, then agg_assign+seek */
} agg_act;

/* What a reply changed in the partition's rejection search (see agg_on_reply). */
typedef enum agg_search {
    AGG_SEARCH_NONE,    /* nothing */
    AGG_SEARCH_STARTED, /* the writer rejected a batch of a partition it accepted until now */
    AGG_SEARCH_FOUND,   /* the writer rejected a batch of one record: bad_offset is known */
    AGG_SEARCH_ENDED,   /* a batch reaching past the rejected range was accepted */
} agg_search;

typedef struct agg_action {
    agg_act act;
    agg_result result;
    int32_t partition;
    int64_t offset;    /* COMMIT: the new range start; SEEK: stored offset */
    agg_search search; /* the partition's rejection search */
} agg_action;

/* Cumulative counters since agg_new (the caller exports them as metrics). */
typedef struct agg_stats {
    uint64_t consumed;      /* messages handed to agg_consume for an assigned partition */
    uint64_t decode_errors; /* undecodable payloads (offset still covered) */
    uint64_t duplicates;    /* offset below the expected next offset: skipped */
    uint64_t deferred;      /* refused (ERR_RANGE: table full, or held): read again later */
    uint64_t rows;          /* rows in frozen batches */
    uint64_t batches[AGG_NRES];
    uint64_t discarded_msgs; /* messages whose deltas were dropped (revoke, STALE, ERROR) */
    uint64_t cut[AGG_NTRIG]; /* batches frozen, by why (a resend is not a new batch) */
} agg_stats;

/* agg_new: topic and sender are copied. A partition's table is "full" (frozen early) when it has
 * max_batch_keys keys or its keys take max_batch_bytes (about the packed size of its batch, which
 * must stay under the writer's request limit); 0 means no limit. Returns NULL on ERR_NOMEM. */
agg *agg_new(const char *topic, const char *sender, size_t max_batch_keys, size_t max_batch_bytes);
/* agg_free: NULL-safe. */
void agg_free(agg *a);

/* agg_assign: (re)start a partition with the writer's stored next offset (-1: nothing stored); the
 * caller positions its consumer there. Its deltas and frozen batch are dropped; a partition already
 * assigned keeps its rejection search, hold and paused state. 0 or ERR_NOMEM. */
int agg_assign(agg *a, int32_t partition, int64_t stored_next);
/* agg_revoke: forget the partition: its unwritten deltas and its frozen batch are discarded (an
 * in-flight reply for it will be reported as AGG_RES_DROPPED). No-op if not assigned. */
void agg_revoke(agg *a, int32_t partition);
/* agg_assigned: 1 if assigned. agg_partitions: copy up to cap assigned ids, returns the count. */
int agg_assigned(const agg *a, int32_t partition);
size_t agg_partitions(const agg *a, int32_t *out, size_t cap);

/* agg_consume: count one message of `partition` at `offset` (payload: a packed rsvp.v1.Rsvp).
 * Returns 0; ERR_INVALID if the payload does not decode (counted, offset still covered);
 * ERR_NOTFOUND if the partition is not assigned (ignored); ERR_STALE if offset is below the
 * expected next offset (a duplicate, ignored); ERR_RANGE if the partition takes no message now
 * (its table is full while its previous batch is in flight, or it is held, or it refused an
 * earlier message and was not re-read since): not counted, range not advanced, and the partition
 * is marked for a re-read: every later message of it is refused too until the caller seeks it to
 * its expected next offset and calls agg_rewound (see agg_part_at); ERR_NOMEM (message not
 * counted: caller must stop). */
int agg_consume(agg *a, int32_t partition, int64_t offset, const void *payload, size_t len);

/* One message for agg_consume_many; rc is its agg_consume status on return. */
typedef struct agg_msg {
    int32_t partition;
    int64_t offset;
    const void *payload;
    size_t len;
    int rc;
} agg_msg;

/* agg_consume_many: agg_consume of m[0], m[1], ... m[n-1] in this order, with the same results,
 * but faster: every key is decoded and hashed first, so the table lookups overlap their memory
 * latency. After an ERR_NOMEM the remaining messages are not counted (rc ERR_NOMEM too). */
void agg_consume_many(agg *a, agg_msg *m, size_t n);

/* agg_freeze: for each partition without a pending batch whose range is not empty and which is
 * either full (see agg_new) or all != 0: pack its deltas into one Batch, reset its table and
 * start the next range at the batch's to_offset. Returns the number frozen or ERR_NOMEM. */
int agg_freeze(agg *a, int all);
/* agg_freeze_for: agg_freeze that counts the batches frozen only because all != 0 under
 * why_all (AGG_TRIG_INTERVAL or AGG_TRIG_SHUTDOWN); a full partition counts as max_keys or
 * max_bytes whatever all says. agg_freeze(a, all) == agg_freeze_for(a, all, AGG_TRIG_INTERVAL). */
int agg_freeze_for(agg *a, int all, agg_trigger why_all);

/* agg_backlogged: 1 if some partition is full while its previous batch is still pending. */
int agg_backlogged(const agg *a);

/* What the caller needs to know of one assigned partition to drive its consumer. */
typedef struct agg_part {
    int32_t partition;
    int64_t next;       /* expected next offset; -1: nothing consumed and nothing stored */
    int blocked;        /* takes no message now (full while its batch is pending, or held): pause it */
    int reread;         /* refused a message: seek it to next and call agg_rewound before it takes more */
    int paused;         /* as last told by agg_set_paused (the consumer's state, kept here) */
    int64_t hold_until; /* agg_hold's time; 0: not held */
    /* rejection search: the writer rejected a batch of this partition (ERROR) */
    int rejected;       /* the search runs: the first rejected record lies in [next, suspect_to) */
    int64_t suspect_to; /* to_offset of the last rejected batch */
    int64_t bad_offset; /* the record the writer rejects on its own; -1 until found */
    size_t cap;         /* batches are cut at this many messages while searching; 0: no cap */
    unsigned holds;     /* agg_hold calls since the search started */
    const char *error;  /* the writer's message for the last rejected batch ("" if none) */
} agg_part;

/* agg_npartitions: assigned partitions. agg_part_at: the state of the i-th (0 <= i < count; the order
 * changes with agg_assign/agg_revoke). 0 or ERR_NOTFOUND. */
size_t agg_npartitions(const agg *a);
int agg_part_at(const agg *a, size_t i, agg_part *out);

/* agg_set_paused: remember whether the caller's consumer has partition paused. agg_rewound: the
 * caller sought partition to its expected next offset (agg_part.next): messages from there are
 * taken again. No-ops if not assigned. */
void agg_set_paused(agg *a, int32_t partition, int paused);
void agg_rewound(agg *a, int32_t partition);

/* agg_hold: hold partition (blocked: the caller pauses it) until the caller's time until_ms, 0 to
 * release it; the caller releases it when that time came. Counted in agg_part.holds (the caller's
 * backoff). A partition whose single-record batch the writer rejected is held between resends. */
void agg_hold(agg *a, int32_t partition, int64_t until_ms);

/* agg_next_request: the next frozen batch to send, if nothing is in flight (partitions with frozen batches
 * take turns, so a backlogged one cannot starve the others): returns 1 and points
 * *data and *len at the packed WriterRequest (valid until the next agg_* call that mutates) and marks
 * it in flight; 0 if none. */
int agg_next_request(agg *a, int32_t *partition, const void **data, size_t *len);
/* agg_inflight: 1 while a batch was handed out and agg_on_reply has not been called. */
int agg_inflight(const agg *a);

/* agg_on_reply: the outcome of the in-flight batch: err = 0 and reply, or err = ERR_TIMEOUT
 * (no answer in time) / another ERR_* (transport) with reply NULL. Fills *out.
 * ERROR (the writer will never apply this content) never drops counts: the partition's state is
 * dropped and re-read from the stored offset (AGG_ACT_REQUERY), and a rejection search starts:
 * batches of the partition are cut at half the rejected batch's messages, again on each rejection,
 * until a batch of one record is rejected (AGG_SEARCH_FOUND: agg_part.bad_offset names it; the
 * caller holds the partition between resends of that record) or a batch reaching past the rejected
 * range is accepted (AGG_SEARCH_ENDED). Batches before the bad record are applied meanwhile. */
void agg_on_reply(agg *a, int err, const Rsvp__V1__WriterReply *reply, agg_action *out);

/* Gauges. */
size_t agg_live_keys(const agg *a);
size_t agg_pending_batches(const agg *a);
size_t agg_state_bytes(const agg *a);
const agg_stats *agg_get_stats(const agg *a);

/* agg_range: the open range of a partition (for tests and logs). 0 or ERR_NOTFOUND. */
int agg_range(const agg *a, int32_t partition, int64_t *from, int64_t *next, int *has_pending);

/* agg_pack_offset_query: a packed WriterRequest{offset_query} for the given partitions into a
 * malloc'd buffer the caller frees. 0 or ERR_NOMEM. */
int agg_pack_offset_query(const char *topic, const int32_t *parts, size_t n, void **out, size_t *len);

#endif
