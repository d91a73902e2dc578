/* main.c: rsvp-aggregator wiring. Consumes rsvp.v1.Rsvp from the parsed topic (read_committed,
 * kconsumer.c), counts per key per partition (aggregator.c) in the loop (aggloop.c), and every
 * trigger sends one Batch per changed partition to the writer over nng REQ (wlink.c). The writer's
 * stored offsets, not Kafka's committed ones, decide where each partition resumes: exactly-once end
 * to end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/http.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/memtrim.h"
#include "common/metrics.h"
#include "common/sig.h"
#include "common/version.h"
#include "services/aggregator/aggloop.h"
#include "services/aggregator/kconsumer.h"
#include "services/aggregator/wlink.h"

typedef struct config {
    cfg_common common;
    char *topic, *group_id, *writer_url, *start_offset;
    char *tls_ca, *tls_cert, *tls_key, *tls_server_name; /* client side of tls+tcp:// */
    int64_t trigger_ms, trigger_offset_ms, max_keys, max_bytes, request_timeout_ms, session_timeout_ms;
    int64_t backoff_base_ms, backoff_max_ms, queue_kbytes;
    int static_membership;
} config;

/* ---- configuration ---- */

static int config_parse(config *c, cfg_option *opts, int argc, char **argv)
{
    int rc =
        cfg_parse("rsvp-aggregator", "counts RSVPs per key per partition and sends batches to rsvp-writer",
                  opts, argc, argv);
    if (rc)
        return rc;
    if (strcmp(c->start_offset, "earliest") != 0 && strcmp(c->start_offset, "latest") != 0) {
        fprintf(stderr, "rsvp-aggregator: --start-offset: must be earliest or latest\n");
        return ERR_INVALID;
    }
    if (!c->topic[0] || !c->group_id[0] || !c->writer_url[0]) {
        fprintf(stderr, "rsvp-aggregator: topic, group id and writer url must not be empty\n");
        return ERR_INVALID;
    }
    if ((c->tls_cert && c->tls_cert[0]) != (c->tls_key && c->tls_key[0])) {
        fprintf(stderr, "rsvp-aggregator: --tls-cert and --tls-key go together\n");
        return ERR_INVALID;
    }
    if (strstr(c->writer_url, "tls+") && !(c->tls_ca && c->tls_ca[0])) {
        fprintf(stderr, "rsvp-aggregator: a tls+tcp:// writer url needs --tls-ca (TLS_CA)\n");
        return ERR_INVALID;
    }
    return 0;
}

/* ---- the process's clock and writer link for the loop ---- */

static int64_t mono_ms(void *ctx)
{
    (void)ctx;
    return clock_mono_ms();
}

static int64_t wall_ms(void *ctx)
{
    (void)ctx;
    return clock_wall_ms();
}

static void sleep_ms(void *ctx, int64_t ms)
{
    (void)ctx;
    clock_sleep_ms(ms);
}

static int stopping(void *ctx)
{
    (void)ctx;
    return sig_stopping() || kafka_fatal();
}

static int w_start(void *ctx, wlink_chan c, const void *data, size_t len, int64_t timeout_ms)
{
    return wlink_start(ctx, c, data, len, timeout_ms);
}

static int w_poll(void *ctx, wlink_chan c, int64_t wait_ms, Rsvp__V1__WriterReply **reply)
{
    return wlink_poll(ctx, c, wait_ms, reply);
}

int main(int argc, char **argv)
{
    config c = {0};
    /* clang-format off */
    int64_t mem_trim_ms = 0;
    cfg_option opts[] = {
        {"parsed-topic", "PARSED_TOPIC", CFG_STRING, "rsvps.parsed", "topic of rsvp.v1.Rsvp to count", 0, 0, 0, &c.topic},
        {"group-id", "GROUP_ID", CFG_STRING, "rsvp-aggregator", "Kafka consumer group", 0, 0, 0, &c.group_id},
        {"writer-url", "WRITER_URL", CFG_STRING, "tcp://127.0.0.1:7400", "writer nng REP URL(s), comma-separated (requests load-balance)", 0, 0, 0, &c.writer_url},
        {"trigger-interval", "TRIGGER_INTERVAL", CFG_DURATION, "30s", "send the changed aggregates this often, at the wall clock's multiples of it (as Spark's processing-time trigger)", 100, 86400000, 0, &c.trigger_ms},
        /* The ingestors commit at the multiples of their COMMIT_INTERVAL; this leaves the parsers
         * time to pass a commit on, so that a trigger counts what the commit before it brought (at
         * 20k RSVPs/s, one pipeline on 2 cores, all but a few bursts made it within 100 ms:
         * bench/README.md, "Aligned commits and triggers"). */
        {"trigger-offset", "TRIGGER_OFFSET", CFG_DURATION, "100ms", "... that much later (keep TRIGGER_INTERVAL a multiple of the ingestors' COMMIT_INTERVAL)", 0, 86400000, 0, &c.trigger_offset_ms},
        {"max-batch-keys", "MAX_BATCH_KEYS", CFG_INT, "100000", "send a partition early when its table has this many keys", 1, 100000000, 0, &c.max_keys},
        {"max-batch-bytes", "MAX_BATCH_BYTES", CFG_SIZE, "4M", "... or when its keys take this many bytes (keep well under the writer's MAX_REQUEST_BYTES, 8M by default)", 4096, 1073741824, 0, &c.max_bytes},
        {"request-timeout", "REQUEST_TIMEOUT", CFG_DURATION, "10s", "wait this long for the writer's reply", 100, 600000, 0, &c.request_timeout_ms},
        {"start-offset", "START_OFFSET", CFG_STRING, "earliest", "where to start a partition the writer has no offset for: earliest|latest", 0, 0, 0, &c.start_offset},
        {"static-membership", "STATIC_MEMBERSHIP", CFG_BOOL, "false", "group.instance.id = INSTANCE_ID (StatefulSet pod name)", 0, 0, 0, &c.static_membership},
        {"session-timeout", "SESSION_TIMEOUT", CFG_DURATION, "45s", "Kafka group session timeout", 1000, 1800000, 0, &c.session_timeout_ms},
        {"queue-kbytes", "QUEUE_KBYTES", CFG_INT, "65536", "queued.max.messages.kbytes: prefetch memory bound", 1024, 2097151, 0, &c.queue_kbytes},
        {"backoff-base", "BACKOFF_BASE", CFG_DURATION, "200ms", "first retry delay (writer, offset query)", 1, 600000, 0, &c.backoff_base_ms},
        {"backoff-max", "BACKOFF_MAX", CFG_DURATION, "10s", "retry delay cap", 1, 3600000, 0, &c.backoff_max_ms},
        {"tls-ca", "TLS_CA", CFG_STRING, NULL, "PEM CA that signed the writer's certificate (required for tls+tcp:// writer urls)", 0, 0, 0, &c.tls_ca},
        {"tls-cert", "TLS_CERT", CFG_STRING, NULL, "PEM client certificate for tls+tcp:// (writers with TLS_CA demand one)", 0, 0, 0, &c.tls_cert},
        {"tls-key", "TLS_KEY", CFG_STRING, NULL, "PEM private key of --tls-cert", 0, 0, 0, &c.tls_key},
        {"tls-server-name", "TLS_SERVER_NAME", CFG_STRING, NULL, "name the writer's certificate must carry (default: host of the url)", 0, 0, 0, &c.tls_server_name},
        MEMTRIM_OPTION(&mem_trim_ms, "10s"),
        CFG_COMMON_OPTIONS(&c.common, "127.0.0.1:9103"),
        {0},
    };
    /* clang-format on */
    int rc = config_parse(&c, opts, argc, argv);
    if (rc) {
        cfg_free(opts);
        return rc == 1 ? 0 : 2;
    }
    log_level lvl = LOGL_INFO;
    log_level_parse(c.common.log_level, &lvl);
    const char *instance = cfg_instance_id(c.common.instance_id);
    wlink *w = NULL;
    kconsumer *k = NULL;
    aggloop *loop = NULL;
    httpd *http = NULL;

    /* Order matters: logs and signals first; HTTP before the loop so that readiness is reported from
     * the start; the consumer before the loop (the loop drives it), the loop before the first poll
     * (rebalances are delivered to it). */
    log_init("aggregator", instance, lvl);
    sig_init();
    memtrim_start(mem_trim_ms, MEMTRIM_MMAP_THRESHOLD, MEMTRIM_TRIM_THRESHOLD);
    int exit_code = 1;
    wlink_tls tls = {c.tls_ca, c.tls_cert, c.tls_key, c.tls_server_name};
    if (wlink_open_tls(&w, c.writer_url, &tls) != 0) {
        exit_code = 2;
        goto out;
    }
    kconsumer_opts ko = {c.topic,        c.group_id,         instance, c.start_offset, c.session_timeout_ms,
                         c.queue_kbytes, c.static_membership};
    aggloop_consumer cops;
    if ((rc = kconsumer_new(&k, &ko, &cops)) != 0) {
        exit_code = rc == ERR_INVALID ? 2 : 1;
        goto out;
    }
    if (c.common.metrics_addr && c.common.metrics_addr[0] && httpd_start(&http, c.common.metrics_addr) != 0) {
        log_error("cannot serve metrics", "addr=%s", c.common.metrics_addr);
        goto out;
    }
    aggloop_opts lo = {.topic = c.topic,
                       .sender = instance,
                       .max_batch_keys = (size_t)c.max_keys,
                       .max_batch_bytes = (size_t)c.max_bytes,
                       .trigger_ms = c.trigger_ms,
                       .trigger_offset_ms = c.trigger_offset_ms,
                       .request_timeout_ms = c.request_timeout_ms,
                       .backoff_base_ms = c.backoff_base_ms,
                       .backoff_max_ms = c.backoff_max_ms,
                       .metrics = 1,
                       .replies_wake = 1};
    aggloop_writer wops = {w, w_start, w_poll};
    aggloop_clock clk = {NULL, mono_ms, sleep_ms, stopping, wall_ms};
    if (aggloop_new(&loop, &lo, &cops, &wops, &clk, http) != 0)
        goto out;
    kconsumer_set_loop(k, loop);
    wlink_set_wake(w, kconsumer_wake, k); /* a writer reply ends the loop's wait for messages */
    cfg_log_effective(opts);
    log_info("up", "version=%s librdkafka=%s topic=%s group=%s writer=%s trigger_ms=%lld", RSVP_VERSION,
             rd_kafka_version_str(), c.topic, c.group_id, c.writer_url, (long long)c.trigger_ms);

    rc = aggloop_run(loop);

    exit_code = rc || kafka_fatal() ? 1 : 0;
out:
    if (w)
        wlink_set_wake(w, NULL, NULL); /* before k goes */
    kconsumer_free(k);                 /* revokes through the loop */
    aggloop_free(loop);
    httpd_free(http);
    wlink_free(w);
    memtrim_stop();
    log_info("down", "exit_code=%d", exit_code);
    cfg_free(opts);
    metrics_free_all();
    return exit_code;
}
