/* kconsumer.h: the aggregator's group consumer on librdkafka (read_committed, no auto commit),
 * presented to the loop as an aggloop_consumer; its rebalance callback hands assignments and
 * revocations to the loop (aggloop_assign / aggloop_revoke) and then assigns at the offsets the loop
 * got from the writer. Main thread only. */
#ifndef SERVICES_AGGREGATOR_KCONSUMER_H
#define SERVICES_AGGREGATOR_KCONSUMER_H

#include <stdint.h>

#include "services/aggregator/aggloop.h"

typedef struct kconsumer kconsumer;

typedef struct kconsumer_opts {
    const char *topic, *group_id, *instance_id;
    const char *start_offset; /* "earliest" or "latest": where AGGLOOP_START_OFFSET points */
    int64_t session_timeout_ms, queue_kbytes;
    int static_membership; /* group.instance.id = instance_id */
} kconsumer_opts;

/* kconsumer_new: the consumer, subscribed (Kafka settings layered by kafka_conf_new: defaults <
 * KAFKA_* < -X). Nothing is delivered before kconsumer_set_loop. On success *out owns it and *ops
 * is its aggloop_consumer table. 0, ERR_INVALID (bad Kafka setting, logged), ERR_IO or ERR_NOMEM. */
int kconsumer_new(kconsumer **out, const kconsumer_opts *o, aggloop_consumer *ops);

/* kconsumer_set_loop: the loop that receives rebalances (borrowed; set before the first poll).
 * Without a loop, rebalances assign and revoke without counting anything. */
void kconsumer_set_loop(kconsumer *k, aggloop *l);

/* kconsumer_wake: make the consumer's current poll (or its next one, if none is waiting) return
 * now, with whatever it has. Any thread, as long as k lives (wlink_set_wake's callback). */
void kconsumer_wake(void *k);

/* kconsumer_free: leave the group (revokes through the loop, which must still exist, or be unset),
 * destroy the handle. NULL-safe. */
void kconsumer_free(kconsumer *k);

#endif
