/* kconsumer.c: aggloop_consumer over a librdkafka group consumer: poll, pause/resume, seek, commit,
 * lag, and the rebalance hooks (common/kgroup.h: eager and cooperative) that ask the loop where
 * each partition starts. */
#include "services/aggregator/kconsumer.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/kafka.h"
#include "common/kgroup.h"
#include "common/log.h"

struct kconsumer {
    rd_kafka_t *rk;
    kgroup group; /* rk's rebalance handling */
    char *topic;
    int64_t start_logical; /* RD_KAFKA_OFFSET_BEGINNING or _END */
    aggloop *loop;
    rd_kafka_queue_t *queue; /* the consumer queue, yielded by kconsumer_wake */
    unsigned polls;          /* since the last kgroup_sweep check */
};

/* SWEEP_POLLS: a busy consumer checks whether a sweep is due (kgroup_sweep) once per this many
 * polls; one that waits, at every wait. */
#define SWEEP_POLLS 4096

static int64_t logical(const kconsumer *k, int64_t off)
{
    return off >= 0 ? off : k->start_logical;
}

static int k_poll(void *ctx, int wait_ms, aggloop_msg *out)
{
    kconsumer *k = ctx;
    if (wait_ms > 0 || ++k->polls >= SWEEP_POLLS) {
        k->polls = 0;
        kgroup_sweep(&k->group, k->rk, clock_mono_ms()); /* revoked partitions' late fetches */
    }
    for (;;) {
        rd_kafka_message_t *m = kgroup_poll(&k->group, k->rk, wait_ms);
        if (!m)
            return 0;
        if (!m->err) {
            *out = (aggloop_msg){m->partition, m->offset, m->payload, m->len, m};
            return 1;
        }
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_warn("consumer error", "err=%s msg=%s", rd_kafka_err2name(m->err),
                     rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        wait_ms = 0;
    }
}

static void k_release(void *ctx, aggloop_msg *m)
{
    (void)ctx;
    rd_kafka_message_destroy(m->handle);
    m->handle = NULL;
}

static void k_pause(void *ctx, const int32_t *ids, size_t n, int pause)
{
    kconsumer *k = ctx;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)(n ? n : 1));
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(parts, k->topic, ids[i]);
    rd_kafka_resp_err_t err =
        pause ? rd_kafka_pause_partitions(k->rk, parts) : rd_kafka_resume_partitions(k->rk, parts);
    if (err)
        log_warn("pause/resume failed", "pause=%d err=%s", pause, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(parts);
}

static void k_seek(void *ctx, const int32_t *parts, const int64_t *offs, size_t n)
{
    kconsumer *k = ctx;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)(n ? n : 1));
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, k->topic, parts[i])->offset = logical(k, offs[i]);
    rd_kafka_error_t *e = rd_kafka_seek_partitions(k->rk, l, 0); /* async */
    if (e) {
        log_error("seek failed", "partitions=%zu first=%d offset=%lld err=%s", n, n ? parts[0] : -1,
                  (long long)(n ? offs[0] : -1), rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void k_commit(void *ctx, int32_t partition, int64_t offset)
{
    kconsumer *k = ctx;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, k->topic, partition)->offset = offset;
    rd_kafka_commit(k->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

static int64_t k_lag(void *ctx)
{
    kconsumer *k = ctx;
    return kafka_consumer_lag(k->rk);
}

/* ---- rebalance hooks (common/kgroup.h makes the (un)assign calls and checks each) ---- */

/* on_assign: the loop says where each partition starts. kgroup assigns the partitions even when
 * stopping or after a failure here: messages of untracked partitions are ignored, and
 * rd_kafka_consumer_close() expects a consistent assignment. */
static void on_assign(void *ctx, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    (void)rk;
    kconsumer *k = ctx;
    size_t n = (size_t)parts->cnt;
    int32_t *ids = calloc(n ? n : 1, sizeof *ids);
    int64_t *offs = calloc(n ? n : 1, sizeof *offs);
    if (ids && offs && k->loop) {
        for (size_t i = 0; i < n; i++)
            ids[i] = parts->elems[i].partition;
        aggloop_assign(k->loop, ids, n, offs); /* failures are the loop's to report */
        for (size_t i = 0; i < n; i++)
            parts->elems[i].offset = logical(k, offs[i]);
    } else if (k->loop) {
        log_error("out of memory assigning partitions", "partitions=%zu", n);
    }
    free(ids);
    free(offs);
}

/* on_assigned: librdkafka keeps a partition's pause flag across revoke and re-assign: a partition the
 * loop had paused when it was revoked would come back paused while the loop counts it as running,
 * and be silently never read again. A new assignment starts delivering, as aggloop_consumer
 * promises. */
static void on_assigned(void *ctx, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int rc)
{
    (void)ctx;
    (void)rc; /* a refused assign was logged by kgroup */
    rd_kafka_resp_err_t err = rd_kafka_resume_partitions(rk, parts);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        log_error("resume of assigned partitions failed", "err=%s", rd_kafka_err2str(err));
}

/* on_revoke: the loop drops what the partitions hold (revoked or lost alike). */
static void on_revoke(void *ctx, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int lost)
{
    (void)rk;
    kconsumer *k = ctx;
    size_t n = (size_t)parts->cnt;
    int32_t *ids = calloc(n ? n : 1, sizeof *ids);
    for (size_t i = 0; ids && i < n; i++) {
        ids[i] = parts->elems[i].partition;
        log_info("partition revoked", "partition=%d lost=%d", ids[i], lost);
    }
    if (ids && k->loop)
        aggloop_revoke(k->loop, ids, n);
    else if (!ids)
        log_error("out of memory revoking partitions", "partitions=%zu", n);
    free(ids);
}

static const kgroup_hooks REBALANCE_HOOKS = {
    .assign = on_assign, .assigned = on_assigned, .revoke = on_revoke};

int kconsumer_new(kconsumer **out, const kconsumer_opts *o, aggloop_consumer *ops)
{
    char session[32], qkb[32], client_id[256];
    snprintf(session, sizeof session, "%lld", (long long)o->session_timeout_ms);
    snprintf(qkb, sizeof qkb, "%lld", (long long)o->queue_kbytes);
    snprintf(client_id, sizeof client_id, "rsvp-aggregator-%s", o->instance_id);
    const char *defaults[] = {"group.id",
                              o->group_id,
                              "client.id",
                              client_id,
                              "enable.auto.commit",
                              "false",
                              "enable.auto.offset.store",
                              "false",
                              "isolation.level",
                              "read_committed",
                              "auto.offset.reset",
                              o->start_offset,
                              "session.timeout.ms",
                              session,
                              "queued.max.messages.kbytes",
                              qkb,
                              o->static_membership ? "group.instance.id" : NULL,
                              o->instance_id,
                              NULL};
    kconsumer *k = calloc(1, sizeof *k);
    if (!k || !(k->topic = strdup(o->topic))) {
        free(k);
        return ERR_NOMEM;
    }
    k->start_logical =
        strcmp(o->start_offset, "latest") == 0 ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
    char errstr[512];
    rd_kafka_conf_t *conf = NULL;
    if (kafka_conf_new(&conf, "aggregator", defaults, errstr, sizeof errstr)) {
        log_error("kafka config", "err=%s", errstr);
        kconsumer_free(k);
        return ERR_INVALID;
    }
    kgroup_attach(&k->group, conf, &REBALANCE_HOOKS, k);
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        log_error("rd_kafka_new failed", "err=%s", errstr);
        kconsumer_free(k);
        return ERR_INVALID;
    }
    rd_kafka_poll_set_consumer(k->rk);
    k->queue = rd_kafka_queue_get_consumer(k->rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, o->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(k->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        log_error("subscribe failed", "topic=%s err=%s", o->topic, rd_kafka_err2str(err));
        rd_kafka_destroy(k->rk);
        k->rk = NULL;
        kconsumer_free(k);
        return ERR_IO;
    }
    *ops = (aggloop_consumer){k, k_poll, k_release, k_pause, k_seek, k_commit, k_lag};
    *out = k;
    return 0;
}

void kconsumer_set_loop(kconsumer *k, aggloop *l)
{
    k->loop = l;
}

void kconsumer_wake(void *k)
{
    kconsumer *kc = k;
    if (kc->queue)
        rd_kafka_queue_yield(kc->queue); /* a yield flag: a poll that starts later returns at once too */
}

void kconsumer_free(kconsumer *k)
{
    if (!k)
        return;
    if (k->queue)
        rd_kafka_queue_destroy(k->queue);
    if (k->rk) {
        rd_kafka_consumer_close(k->rk); /* revokes through the rebalance hooks: needs the loop */
        kgroup_free(&k->group);         /* a message it kept must go before the handle */
        rd_kafka_destroy(k->rk);
    }
    kgroup_free(&k->group);
    free(k->topic);
    free(k);
}
