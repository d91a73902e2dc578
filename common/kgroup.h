/* kgroup.h: the rebalance callback of every group consumer (the parser, the aggregator), for both
 * of librdkafka's rebalance protocols: eager (rd_kafka_assign / rd_kafka_assign(NULL)) and
 * cooperative (rd_kafka_incremental_assign / _unassign). It makes the call librdkafka requires for
 * each event, checks and logs its result ("partitions assigned" / "partitions revoked"), and runs
 * the service's own work around it through hooks. Everything runs inside rd_kafka_consumer_poll
 * or rd_kafka_consumer_close, on the consumer's thread. */
#ifndef COMMON_KGROUP_H
#define COMMON_KGROUP_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* The service's work; any hook may be NULL. ctx is kgroup_attach's; parts is librdkafka's list of
 * the event (a hook may pass it to calls that set its err fields, e.g. rd_kafka_pause_partitions).
 * rc is 0, or the (un)assign call failed (librdkafka's message is logged): ERR_FATAL when the
 * consumer had a fatal error, ERR_INVALID otherwise (e.g. _STATE). The assignment is then not what
 * the event asked for; the hook decides what to do. */
typedef struct kgroup_hooks {
    /* assign: parts are about to be assigned (cooperative: added). The hook may set
     * parts->elems[i].offset to where consumption starts; otherwise the committed offset is used
     * (or auto.offset.reset). */
    void (*assign)(void *ctx, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts);
    /* assigned: after the assign call. */
    void (*assigned)(void *ctx, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int rc);
    /* revoke: parts are about to leave, still assigned: commit or hand back what they hold. lost:
     * they already belong to another member (session timed out, or an error event): whatever is
     * uncommitted must be aborted, not committed. */
    void (*revoke)(void *ctx, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int lost);
    /* revoked: after the unassign call (cooperative: what remains is still assigned). */
    void (*revoked)(void *ctx, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int lost, int rc);
} kgroup_hooks;

/* A partition this consumer gave up, kept for kgroup_sweep. */
typedef struct kgroup_gone {
    char *topic;
    int32_t partition;
    int64_t revoked_ms; /* clock_mono_ms() of the revoke */
} kgroup_gone;

/* One consumer's rebalance state. Embedded by value in the service's state; fields are read-only
 * for the service. kgroup_attach sets it up, kgroup_free releases it. */
typedef struct kgroup {
    const kgroup_hooks *hooks;
    void *ctx;
    int cooperative;   /* protocol of the last rebalance event */
    kgroup_gone *gone; /* partitions revoked and not assigned again (kgroup_sweep) */
    size_t ngone, capgone;
    int64_t next_sweep_ms;       /* kgroup_sweep's schedule */
    rd_kafka_message_t *pending; /* what a sweep popped that was not stale: kgroup_poll's next */
} kgroup;

/* kgroup_attach: route conf's rebalance events to hooks (called with ctx). Takes conf's opaque (g):
 * the consumer's other callbacks must not use rd_kafka_opaque(). g and hooks must outlive the
 * consumer handle made from conf. */
void kgroup_attach(kgroup *g, rd_kafka_conf_t *conf, const kgroup_hooks *hooks, void *ctx);

/* Stale fetches. librdkafka 2.0.2 stops a revoked partition's fetcher without outdating the Fetch
 * request already in flight: its answer, arriving after the revoke, goes into the partition's own
 * queue, which no longer feeds the consumer's. Those messages (and the decompressed batches they
 * point into: megabytes after a catch-up) stay there until this consumer is assigned the partition
 * again, which may be never; the soak saw a parser keep 12 MB that way after a broker restart.
 * librdkafka itself drops them (as outdated) when that queue is read. */

/* kgroup_sweep: reads the queue of every partition revoked at least KGROUP_SWEEP_AFTER_MS ago and
 * not assigned since, at most once per KGROUP_SWEEP_EVERY_MS (now_ms: clock_mono_ms()); what it
 * frees is logged. Should a read return a live message (the queue still
 * feeding the consumer's), it is kept for kgroup_poll, which returns it first: nothing is lost.
 * Call it where the service polls, e.g. from a once-a-second tick. Returns the messages freed. */
#define KGROUP_SWEEP_AFTER_MS 5000
#define KGROUP_SWEEP_EVERY_MS 10000
uint64_t kgroup_sweep(kgroup *g, rd_kafka_t *rk, int64_t now_ms);

/* kgroup_poll: rd_kafka_consumer_poll(rk, timeout_ms), after any message a sweep kept. */
rd_kafka_message_t *kgroup_poll(kgroup *g, rd_kafka_t *rk, int timeout_ms);

/* kgroup_free: releases g's memory (a kept message too); after the consumer is closed. */
void kgroup_free(kgroup *g);

#endif
