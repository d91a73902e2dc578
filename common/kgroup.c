/* kgroup.c: the rebalance callback (see kgroup.h). The order is the contract: the service's revoke
 * work runs while the partitions are still assigned (a transaction can still commit their
 * offsets), its assign work before the assignment (it may choose the start offsets). */
#include "common/kgroup.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"

/* result: 0, or the kind of a failed (un)assign call, logged with librdkafka's message. Frees e. */
static int result(const char *call, rd_kafka_error_t *e, rd_kafka_resp_err_t err)
{
    if (!e && !err)
        return 0;
    int fatal = e ? rd_kafka_error_is_fatal(e) : err == RD_KAFKA_RESP_ERR__FATAL;
    log_error("rebalance: call failed", "call=%s error=%s", call,
              e ? rd_kafka_error_string(e) : rd_kafka_err2str(err));
    if (e)
        rd_kafka_error_destroy(e);
    return fatal ? ERR_FATAL : ERR_INVALID;
}

/* gone_find: index of topic/partition in g->gone, or -1. */
static long gone_find(const kgroup *g, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < g->ngone; i++)
        if (g->gone[i].partition == partition && !strcmp(g->gone[i].topic, topic))
            return (long)i;
    return -1;
}

static void gone_remove(kgroup *g, size_t i)
{
    free(g->gone[i].topic);
    g->gone[i] = g->gone[--g->ngone];
}

/* gone_note: parts were revoked now (kept for kgroup_sweep) or assigned (no longer gone). Out of
 * memory only means a partition is not swept. */
static void gone_note(kgroup *g, const rd_kafka_topic_partition_list_t *parts, int revoked)
{
    int64_t now = revoked ? clock_mono_ms() : 0;
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        long at = gone_find(g, tp->topic, tp->partition);
        if (!revoked) {
            if (at >= 0)
                gone_remove(g, (size_t)at);
            continue;
        }
        if (at >= 0) {
            g->gone[at].revoked_ms = now;
            continue;
        }
        if (g->ngone == g->capgone) {
            size_t cap = g->capgone ? 2 * g->capgone : 8;
            kgroup_gone *n = realloc(g->gone, cap * sizeof *n);
            if (!n)
                continue;
            g->gone = n;
            g->capgone = cap;
        }
        char *topic = strdup(tp->topic);
        if (topic)
            g->gone[g->ngone++] = (kgroup_gone){topic, tp->partition, now};
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    kgroup *g = opaque;
    const kgroup_hooks *h = g->hooks;
    const char *proto = rd_kafka_rebalance_protocol(rk);
    int coop = g->cooperative = proto && !strcmp(proto, "COOPERATIVE");
    int rc;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        gone_note(g, parts, 0);
        if (h->assign)
            h->assign(g->ctx, rk, parts);
        if (coop)
            rc = result("incremental_assign", rd_kafka_incremental_assign(rk, parts), 0);
        else
            rc = result("assign", NULL, rd_kafka_assign(rk, parts));
        log_info("partitions assigned", "count=%d protocol=%s", parts->cnt, coop ? "cooperative" : "eager");
        if (h->assigned)
            h->assigned(g->ctx, rk, parts, rc);
        return;
    }
    /* _REVOKE_PARTITIONS, or an error: librdkafka's examples treat every other event as a loss */
    int lost = err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || rd_kafka_assignment_lost(rk);
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        log_warn("rebalance error: partitions taken as lost", "error=%s", rd_kafka_err2str(err));
    if (h->revoke)
        h->revoke(g->ctx, rk, parts, lost);
    if (coop)
        rc = result("incremental_unassign", rd_kafka_incremental_unassign(rk, parts), 0);
    else
        rc = result("assign(NULL)", NULL, rd_kafka_assign(rk, NULL));
    gone_note(g, parts, 1);
    log_info("partitions revoked", "count=%d lost=%d protocol=%s", parts->cnt, lost,
             coop ? "cooperative" : "eager");
    if (h->revoked)
        h->revoked(g->ctx, rk, parts, lost, rc);
}

void kgroup_attach(kgroup *g, rd_kafka_conf_t *conf, const kgroup_hooks *hooks, void *ctx)
{
    g->hooks = hooks;
    g->ctx = ctx;
    g->cooperative = 0;
    g->gone = NULL;
    g->ngone = g->capgone = 0;
    g->next_sweep_ms = 0;
    g->pending = NULL;
    rd_kafka_conf_set_opaque(conf, g);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
}

/* assigned_now: whether topic/partition is in rk's assignment (1 when that cannot be told: such a
 * partition is left alone). */
static int assigned_now(const rd_kafka_topic_partition_list_t *owned, const char *topic, int32_t partition)
{
    return !owned || rd_kafka_topic_partition_list_find(owned, topic, partition) != NULL;
}

uint64_t kgroup_sweep(kgroup *g, rd_kafka_t *rk, int64_t now_ms)
{
    if (g->ngone == 0 || now_ms < g->next_sweep_ms || g->pending)
        return 0;
    g->next_sweep_ms = now_ms + KGROUP_SWEEP_EVERY_MS;
    rd_kafka_topic_partition_list_t *owned = NULL;
    if (rd_kafka_assignment(rk, &owned) != RD_KAFKA_RESP_ERR_NO_ERROR)
        owned = NULL;
    uint64_t freed = 0;
    /* by index, re-checked each time: a read that reaches the consumer's queue may serve a
     * rebalance, which changes g->gone */
    for (size_t i = 0; i < g->ngone && !g->pending; i++) {
        const kgroup_gone *p = &g->gone[i];
        if (now_ms - p->revoked_ms < KGROUP_SWEEP_AFTER_MS || assigned_now(owned, p->topic, p->partition))
            continue;
        int32_t partition = p->partition;
        rd_kafka_queue_t *q = rd_kafka_queue_get_partition(rk, p->topic, partition);
        if (!q)
            continue;
        size_t before = rd_kafka_queue_length(q);
        if (before > 0) {
            /* outdated ops are dropped inside the read; anything else comes back */
            g->pending = rd_kafka_consume_queue(q, 0);
            size_t after = rd_kafka_queue_length(q);
            if (!g->pending && after < before) {
                freed += before - after;
                log_info("stale fetched messages freed", "partition=%d messages=%zu", (int)partition,
                         before - after);
            }
        }
        rd_kafka_queue_destroy(q);
    }
    if (owned)
        rd_kafka_topic_partition_list_destroy(owned);
    return freed;
}

rd_kafka_message_t *kgroup_poll(kgroup *g, rd_kafka_t *rk, int timeout_ms)
{
    rd_kafka_message_t *m = g->pending;
    if (m) {
        g->pending = NULL;
        return m;
    }
    return rd_kafka_consumer_poll(rk, timeout_ms);
}

void kgroup_free(kgroup *g)
{
    if (g->pending)
        rd_kafka_message_destroy(g->pending);
    for (size_t i = 0; i < g->ngone; i++)
        free(g->gone[i].topic);
    free(g->gone);
    g->pending = NULL;
    g->gone = NULL;
    g->ngone = g->capgone = 0;
}
