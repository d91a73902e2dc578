/* kgroup.c: the rebalance callback (see kgroup.h). The order is the contract: the service's revoke
 * work runs while the partitions are still assigned (a transaction can still commit their
 * offsets), its assign work before the assignment (it may choose the start offsets). */
#include "common/kgroup.h"

#include <string.h>

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

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    kgroup *g = opaque;
    const kgroup_hooks *h = g->hooks;
    const char *proto = rd_kafka_rebalance_protocol(rk);
    int coop = g->cooperative = proto && !strcmp(proto, "COOPERATIVE");
    int rc;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
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
    rd_kafka_conf_set_opaque(conf, g);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
}
