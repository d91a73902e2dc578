/* kafka.c: librdkafka configuration shared by every client (see kafka.h): layered settings
 * (defaults < KAFKA_* env < -X), and librdkafka's log/error/stats callbacks wired to log.h and
 * metrics.h. Callbacks run on librdkafka's threads; they only log and touch atomics. */
#include "common/kafka.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/sig.h"

static _Atomic int g_fatal;
/* Process-wide: one service per process, so the callbacks need no opaque (which stays free for
 * the caller's own rd_kafka_conf_set_opaque). */
static mcounter *_Atomic g_errors[2];
static mcounter *_Atomic g_logs[4];

static const char *const LOG_LEVEL_NAMES[] = {"debug", "info", "warn", "error"};

/* syslog level (0 emerg .. 7 debug) -> log.h level */
static log_level map_level(int level)
{
    if (level <= 3)
        return LOGL_ERROR;
    if (level == 4)
        return LOGL_WARN;
    if (level <= 6)
        return LOGL_INFO;
    return LOGL_DEBUG;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *text)
{
    log_level l = map_level(level);
    mcounter_add(atomic_load(&g_logs[l]), 1);
    log_write(l, "kafka", "client=%s fac=%s syslog_level=%d text=%s", rd_kafka_name(rk), fac, level, text);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
        atomic_store(&g_fatal, 1);
        mcounter_add(atomic_load(&g_errors[1]), 1);
        log_error("kafka fatal error", "client=%s error=%s reason=%s", rd_kafka_name(rk),
                  rd_kafka_err2name(orig), why);
        return;
    }
    mcounter_add(atomic_load(&g_errors[0]), 1);
    /* _TRANSPORT and _ALL_BROKERS_DOWN are routine when a broker restarts: warn, not error */
    log_warn("kafka error", "client=%s error=%s reason=%s", rd_kafka_name(rk),
             rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)opaque;
    log_debug("kafka stats", "client=%s json=%.*s", rd_kafka_name(rk), (int)len, json);
    return 0; /* librdkafka frees json */
}

/* kafka_metric_name: see kafka.h. */
void kafka_metric_name(char *out, size_t cap, const char *service, const char *suffix)
{
    snprintf(out, cap, "rsvp_%s_%s", service && *service ? service : "unknown", suffix);
    for (char *p = out; *p; p++) {
        int ok =
            (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_';
        if (!ok)
            *p = '_';
    }
}

static void register_metrics(const char *service)
{
    char name[160];
    kafka_metric_name(name, sizeof name, service, "kafka_errors_total");
    atomic_store(&g_errors[0],
                 metrics_counter(name, "fatal=\"0\"", "Errors reported by librdkafka's error callback."));
    atomic_store(&g_errors[1],
                 metrics_counter(name, "fatal=\"1\"", "Errors reported by librdkafka's error callback."));
    kafka_metric_name(name, sizeof name, service, "kafka_log_total");
    for (int i = 0; i < 4; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "level=\"%s\"", LOG_LEVEL_NAMES[i]);
        atomic_store(&g_logs[i], metrics_counter(name, labels, "Log lines emitted by librdkafka, by level."));
    }
}

/* One property; an unknown name from the environment is skipped with a warning (KAFKA_HOME and
 * the like are not meant for us), everywhere else it is an error. */
static int set_prop(rd_kafka_conf_t *conf, const char *k, const char *v, int from_env, char *errstr,
                    size_t errlen)
{
    rd_kafka_conf_res_t r = rd_kafka_conf_set(conf, k, v, errstr, errlen);
    if (r == RD_KAFKA_CONF_OK)
        return 0;
    if (r == RD_KAFKA_CONF_UNKNOWN && from_env) {
        log_warn("kafka: ignoring unknown property from environment", "property=%s error=%s", k, errstr);
        errstr[0] = '\0';
        return 0;
    }
    return ERR_INVALID;
}

/* kafka_conf_new: see kafka.h. Start-up thread. */
int kafka_conf_new(rd_kafka_conf_t **out, const char *service, const char *const *defaults, char *errstr,
                   size_t errlen)
{
    char dummy[8];
    if (errstr == NULL || errlen == 0) {
        errstr = dummy;
        errlen = sizeof dummy;
    }
    errstr[0] = '\0';
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf) {
        snprintf(errstr, errlen, "out of memory");
        return ERR_NOMEM;
    }
    int rc = set_prop(conf, "bootstrap.servers", "127.0.0.1:19092", 0, errstr, errlen);
    for (const char *const *d = defaults; rc == 0 && d && d[0]; d += 2) {
        if (d[1] == NULL) {
            snprintf(errstr, errlen, "default %s has no value", d[0]);
            rc = ERR_INVALID;
            break;
        }
        rc = set_prop(conf, d[0], d[1], 0, errstr, errlen);
    }
    const char *const *keys, *const *vals;
    size_t n = cfg_kafka_props(&keys, &vals);
    size_t nenv = cfg_kafka_props_from_env();
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = set_prop(conf, keys[i], vals[i], i < nenv, errstr, errlen);
    if (rc != 0) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }

    register_metrics(service);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    char sv[32];
    size_t svlen = sizeof sv;
    if (rd_kafka_conf_get(conf, "statistics.interval.ms", sv, &svlen) == RD_KAFKA_CONF_OK && atoi(sv) > 0)
        rd_kafka_conf_set_stats_cb(conf, on_stats);
    *out = conf;
    return 0;
}

/* kafka_fatal: see kafka.h. Any thread. */
int kafka_fatal(void)
{
    return atomic_load(&g_fatal);
}

/* kafka_consumer_lag: see kafka.h. Partitions whose position or high watermark is not known yet
 * (nothing fetched since assignment) are left out; -1 if no assigned partition is known. An empty
 * assignment has lag 0. Consumer's thread (or any thread: only cached state is read). */
int64_t kafka_consumer_lag(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rk == NULL || rd_kafka_assignment(rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    int64_t lag = 0;
    int known = 0;
    if (parts->cnt > 0 && rd_kafka_position(rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < parts->cnt; i++) {
            const rd_kafka_topic_partition_t *p = &parts->elems[i];
            int64_t lo = -1, hi = -1;
            if (p->offset < 0 ||
                rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, &lo, &hi) !=
                    RD_KAFKA_RESP_ERR_NO_ERROR ||
                hi < 0)
                continue;
            known++;
            if (hi > p->offset)
                lag += hi - p->offset;
        }
    }
    int cnt = parts->cnt;
    rd_kafka_topic_partition_list_destroy(parts);
    if (cnt == 0)
        return 0;
    return known ? lag : -1;
}

/* kafka_wait_ready: see kafka.h. Returns ERR_CLOSED early if a stop signal arrives (sig.h). */
int kafka_wait_ready(rd_kafka_t *rk, int timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            return ERR_TIMEOUT;
        if (sig_stopping())
            return ERR_CLOSED;
        const struct rd_kafka_metadata *md = NULL;
        int slice = left > 1000 ? 1000 : (int)left;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, slice);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            int brokers = md->broker_cnt;
            rd_kafka_metadata_destroy(md);
            if (brokers > 0)
                return 0;
        }
        /* a refused connection fails at once: do not spin */
        left = deadline - clock_mono_ms();
        clock_sleep_ms(left < 100 ? left : 100);
    }
}

/* kafka_error_kind: see kafka.h. */
int kafka_error_kind(const rd_kafka_error_t *e)
{
    if (rd_kafka_error_is_fatal(e))
        return ERR_FATAL;
    if (rd_kafka_error_txn_requires_abort(e))
        return ERR_ABORTED;
    if (rd_kafka_error_is_retriable(e) || rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__TIMED_OUT)
        return ERR_RETRY;
    return ERR_INVALID;
}

#define INIT_STEP_MS 250   /* one init_transactions call; resumed until done */
#define INIT_LOG_MS  30000 /* how often a still unfinished one is logged */

/* kafka_init_transactions: see kafka.h. The producer's thread. */
int kafka_init_transactions(rd_kafka_t *rk, backoff *bo, char *errstr, size_t errlen)
{
    int64_t waited_ms = 0;
    for (;;) {
        if (sig_stopping())
            return ERR_CLOSED;
        rd_kafka_poll(rk, 0); /* serve the error/log callbacks of the attempts so far */
        rd_kafka_error_t *e = rd_kafka_init_transactions(rk, INIT_STEP_MS);
        if (!e)
            return 0;
        snprintf(errstr, errlen, "%s: %s", rd_kafka_error_name(e), rd_kafka_error_string(e));
        int kind = kafka_error_kind(e);
        int timed_out = rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__TIMED_OUT;
        rd_kafka_error_destroy(e);
        if (kind == ERR_FATAL)
            return ERR_FATAL;
        if (timed_out) {
            waited_ms += INIT_STEP_MS;
            if (waited_ms % INIT_LOG_MS == 0)
                log_warn("init transactions: retrying", "error=%s waited_ms=%lld", errstr,
                         (long long)waited_ms);
            continue;
        }
        if (kind == ERR_RETRY)
            log_warn("init transactions: retrying", "error=%s", errstr);
        else
            log_error("init transactions failed (not retriable): retrying after a backoff", "error=%s",
                      errstr);
        clock_sleep_ms(backoff_next(bo)); /* returns early on a stop signal */
    }
}

void kafka_producer_destroy(rd_kafka_t *rk, int purge, int flush_ms)
{
    if (!rk)
        return;
    if (purge || rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk, flush_ms); /* the delivery reports, purged ones included */
    rd_kafka_destroy(rk);
}
