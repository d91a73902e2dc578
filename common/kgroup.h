/* kgroup.h: the rebalance callback of every group consumer (the parser, the aggregator), for both
 * of librdkafka's rebalance protocols: eager (rd_kafka_assign / rd_kafka_assign(NULL)) and
 * cooperative (rd_kafka_incremental_assign / _unassign). It makes the call librdkafka requires for
 * each event, checks and logs its result ("partitions assigned" / "partitions revoked"), and runs
 * the service's own work around it through hooks. Everything runs inside rd_kafka_consumer_poll
 * or rd_kafka_consumer_close, on the consumer's thread. */
#ifndef COMMON_KGROUP_H
#define COMMON_KGROUP_H

#include <librdkafka/rdkafka.h>

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

/* One consumer's rebalance state. Embedded by value in the service's state; fields are read-only
 * for the service. */
typedef struct kgroup {
    const kgroup_hooks *hooks;
    void *ctx;
    int cooperative; /* protocol of the last rebalance event */
} kgroup;

/* kgroup_attach: route conf's rebalance events to hooks (called with ctx). Takes conf's opaque (g):
 * the consumer's other callbacks must not use rd_kafka_opaque(). g and hooks must outlive the
 * consumer handle made from conf. */
void kgroup_attach(kgroup *g, rd_kafka_conf_t *conf, const kgroup_hooks *hooks, void *ctx);

#endif
