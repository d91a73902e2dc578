/* main.c: rsvp-parser wiring. Consumes raw RSVP JSON, produces rsvp.v1.Rsvp (protobuf) keyed by
 * event_id, dead-letters invalid messages unchanged, all exactly once through Kafka transactions.
 * The loop lives in parser.c, the JSON -> protobuf function in rsvp_json.c. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/config.h"
#include "common/err.h"
#include "common/http.h"
#include "common/log.h"
#include "common/memtrim.h"
#include "common/metrics.h"
#include "common/sig.h"
#include "common/version.h"
#include "services/parser/parser.h"
#include "services/parser/rsvp_json.h"

/* The parser's malloc thresholds where it trims: librdkafka frees and allocates fetch and
 * decompression buffers of up to ~1 MB all the time on a backlog; with memtrim's 1 MiB / 128 KiB
 * each round trip faulted its pages in again (+9% CPU per million, 3.25 -> 3.54, old against new).
 * At a steady 10k RSVPs/s the same held with a 1 MiB trim threshold: librdkafka sizes a
 * decompression buffer at 4x the compressed bytes and grows it by 1.75x, so a commit's lines of one
 * partition (~600 KB) took a buffer of about the threshold, and page faults were 10% of the
 * parser's CPU; with 4 MiB the parser used 0.94x the CPU there, and the same on a backlog
 * (bench/README.md, "Four steady-stream changes tried, one taken"). Fixed (not glibc's dynamic ones, which grow after a catch-up until nothing is given
 * back), a thread arena keeps at most 4 MiB of free top. */
#define PARSER_MMAP_THRESHOLD ((size_t)4 << 20)
#define PARSER_TRIM_THRESHOLD ((size_t)4 << 20)

typedef struct settings {
    cfg_common common;
    char *raw_topic, *parsed_topic, *dlq_topic, *group_id, *validation;
    int64_t txn_messages, txn_interval_ms, txn_idle_ms, max_message_bytes, max_string_bytes,
        session_timeout_ms;
    int static_membership;
} settings;

int main(int argc, char **argv)
{
    settings s = {0};
    /* clang-format off */
    int64_t mem_trim_ms = 0;
    const cfg_option opts[] = {
        {"raw-topic", "RAW_TOPIC", CFG_STRING, "rsvps.raw", "Kafka topic of raw RSVP JSON", 0, 0,
         0, &s.raw_topic},
        {"parsed-topic", "PARSED_TOPIC", CFG_STRING, "rsvps.parsed",
         "Kafka topic for rsvp.v1.Rsvp (protobuf), keyed by event_id", 0, 0, 0, &s.parsed_topic},
        {"dlq-topic", "DLQ_TOPIC", CFG_STRING, "rsvps.dlq",
         "dead-letter topic: invalid messages unchanged, headers reason, source_*", 0, 0, 0,
         &s.dlq_topic},
        {"group-id", "GROUP_ID", CFG_STRING, "rsvp-parser", "Kafka consumer group", 0, 0, 0,
         &s.group_id},
        /* Only a backlog (a catch-up, a rebuild) fills a transaction: a steady stream comes in
         * bursts that TXN_IDLE ends. On a backlog each commit stops the loop while the offsets
         * are sent and the last messages delivered, so fewer, larger transactions catch up
         * faster (10000 / 100ms -> 50000 / 500ms, with the producer's batch.size in parser.c:
         * 1.03-1.05x a backlog's throughput, no more CPU; bench/README.md, "Larger parser
         * transactions on a backlog"). */
        {"txn-messages", "TXN_MESSAGES", CFG_INT, "50000",
         "commit the transaction after this many messages", 1, 10000000, 0, &s.txn_messages},
        {"txn-interval", "TXN_INTERVAL", CFG_DURATION, "500ms",
         "... or this long after its first message", 1, 600000, 0, &s.txn_interval_ms},
        /* Raw messages come in bursts, one per ingestor commit: committing when a burst is done
         * saves the rest of TXN_INTERVAL, with about as many transactions. */
        {"txn-idle", "TXN_IDLE", CFG_DURATION, "10ms",
         "... or as soon as no message came for this long (0: off; at most 100ms)", 0, 100, 0,
         &s.txn_idle_ms},
        {"validation", "VALIDATION", CFG_STRING, "reference",
         "reference: read each message as the reference Spark job does and count what it counts "
         "(unreadable input is dead-lettered and counted under a key of NULLs); strict: RFC 8259, "
         "typed fields, required fields, dead-letter everything else", 0, 0, 0, &s.validation},
        {"max-message-bytes", "MAX_MESSAGE_BYTES", CFG_SIZE, "1M",
         "larger raw messages are dead-lettered (too_large); the ingestor's longest line by default",
         64, 64LL << 20, 0, &s.max_message_bytes},
        {"max-string-bytes", "MAX_STRING_BYTES", CFG_SIZE, "1024",
         "strict: longest decoded string field (string_too_long)", 1, 64LL << 20, 0,
         &s.max_string_bytes},
        {"static-membership", "STATIC_MEMBERSHIP", CFG_BOOL, "false",
         "group.instance.id = INSTANCE_ID: a restarted replica rejoins without a rebalance", 0, 0, 0,
         &s.static_membership},
        {"session-timeout", "SESSION_TIMEOUT", CFG_DURATION, "45s", "Kafka group session timeout",
         1000, 1800000, 0, &s.session_timeout_ms},
        MEMTRIM_OPTION(&mem_trim_ms, "10s"),
        CFG_COMMON_OPTIONS(&s.common, "127.0.0.1:9102"),
        {NULL, NULL, CFG_STRING, NULL, NULL, 0, 0, 0, NULL},
    };
    /* clang-format on */

    /* Configuration: default < environment < flag; then what the table cannot check. */
    int rc = cfg_parse("rsvp-parser", "raw RSVP JSON -> rsvp.v1.Rsvp protobuf (+ dead letters), exactly once",
                       opts, argc, argv);
    if (rc != 0) {
        cfg_free(opts);
        return rc == 1 ? 0 : 2;
    }
    log_level level;
    rsvp_json_mode mode;
    if (log_level_parse(s.common.log_level, &level) != 0 || !s.raw_topic[0] || !s.parsed_topic[0] ||
        !s.dlq_topic[0] || !s.group_id[0] || rsvp_json_mode_parse(s.validation, &mode) != 0) {
        fprintf(stderr, "rsvp-parser: bad log level, empty topic / group id, or validation not "
                        "reference or strict\n");
        cfg_free(opts);
        return 2;
    }
    const char *instance = cfg_instance_id(s.common.instance_id);
    parser_opts po = {
        .raw_topic = s.raw_topic,
        .parsed_topic = s.parsed_topic,
        .dlq_topic = s.dlq_topic,
        .group_id = s.group_id,
        .instance_id = instance,
        .txn_messages = s.txn_messages,
        .txn_interval_ms = s.txn_interval_ms,
        .txn_idle_ms = s.txn_idle_ms,
        .session_timeout_ms = s.session_timeout_ms,
        .static_membership = s.static_membership,
        .limits = rsvp_json_limits_default(),
    };
    po.limits.max_message_bytes = (size_t)s.max_message_bytes;
    po.limits.max_string_bytes = (size_t)s.max_string_bytes;
    po.limits.mode = mode;

    /* Initialisation, order important: */
    /* 1. logs and signals, so everything after can report and be interrupted */
    log_init("parser", instance, level);
    sig_init();
    memtrim_start(mem_trim_ms, PARSER_MMAP_THRESHOLD, PARSER_TRIM_THRESHOLD);
    /* 2. /metrics, /healthz, /readyz: live, not ready until the producer and the group are up */
    httpd *h = NULL;
    if (s.common.metrics_addr[0] && (rc = httpd_start(&h, s.common.metrics_addr)) != 0) {
        log_error("metrics endpoint", "addr=%s error=%s", s.common.metrics_addr, err_str(rc));
        goto out_http;
    }
    /* 3. clients (nothing sent yet), then init_transactions (fences our zombie) and subscribe */
    parser *p = NULL;
    char err[512] = "";
    if ((rc = parser_new(&p, &po, h, err, sizeof err)) != 0) {
        log_error("parser init", "error=%s detail=%s", err_str(rc), err);
        goto out_parser;
    }
    if ((rc = parser_start(p)) != 0)
        goto out_parser;

    cfg_log_effective(opts);
    log_info("up",
             "version=%s librdkafka=%s transactional_id=rsvp-parser-%s group=%s raw=%s parsed=%s "
             "dlq=%s validation=%s",
             RSVP_VERSION, rd_kafka_version_str(), instance, s.group_id, s.raw_topic, s.parsed_topic,
             s.dlq_topic, s.validation);
    rc = parser_run(p);
    log_info("down", "result=%s", rc == 0 ? "ok" : err_str(rc));

    /* Teardown in reverse order. */
out_parser:
    parser_free(p);
out_http:
    httpd_free(h);
    memtrim_stop();
    metrics_free_all();
    cfg_free(opts);
    if (rc == 0 || rc == ERR_CLOSED)
        return 0;
    return rc == ERR_INVALID ? 2 : 1;
}
