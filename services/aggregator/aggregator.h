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
    AGG_NTRIG
} agg_trigger;

/* agg_trigger_name: "interval", "max_keys", "max_bytes", "shutdown"; static. */
const char *agg_trigger_name(agg_trigger t);

/* What the caller must do after agg_on_reply. */
typedef enum agg_act {
    AGG_ACT_NONE,    /* nothing (reply of a revoked partition) */
    AGG_ACT_COMMIT,  /* range acknowledged; optional Kafka commit of offset (lag visibility) */
    AGG_ACT_RETRY,   /* batch kept; pause all partitions and resend after a backoff */
    AGG_ACT_SEEK,    /* state dropped; seek partition to offset (-1: START_OFFSET) */
    AGG_ACT_REQUERY, /* state dropped; ask the writer for the stored offset, then agg_assign+seek */
} agg_act;

typedef struct agg_action {
    agg_act act;
    agg_result result;
    int32_t partition;
    int64_t offset; /* COMMIT: the new range start; SEEK: stored offset */
} agg_action;

/* Cumulative counters since agg_new (the caller exports them as metrics). */
typedef struct agg_stats {
    uint64_t consumed;      /* messages handed to agg_consume for an assigned partition */
    uint64_t decode_errors; /* undecodable payloads (offset still covered) */
    uint64_t duplicates;    /* offset below the expected next offset: skipped */
    uint64_t deferred;      /* refused while the table was full (ERR_RANGE): read again later */
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

/* agg_assign: (re)start a partition with the writer's stored next offset (-1: nothing stored);
 * any previous state of that partition is dropped. 0 or ERR_NOMEM. */
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
 * expected next offset (a duplicate, ignored); ERR_RANGE if the partition's table is full while
 * its previous batch is in flight (not counted, range not advanced: the caller pauses while
 * agg_backlogged() and re-reads from the expected offset on resume); ERR_NOMEM (message not
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

/* agg_backlogged: 1 if some partition is full while its previous batch is still pending (the
 * caller pauses consumption until the writer answers). */
int agg_backlogged(const agg *a);

/* agg_next_request: the next frozen batch to send, if nothing is in flight: returns 1 and points
 * *data and *len at the packed WriterRequest (valid until the next agg_* call that mutates) and marks
 * it in flight; 0 if none. */
int agg_next_request(agg *a, int32_t *partition, const void **data, size_t *len);
/* agg_inflight: 1 while a batch was handed out and agg_on_reply has not been called. */
int agg_inflight(const agg *a);

/* agg_on_reply: the outcome of the in-flight batch: err = 0 and reply, or err = ERR_TIMEOUT
 * (no answer in time) / another ERR_* (transport) with reply NULL. Fills *out. */
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
