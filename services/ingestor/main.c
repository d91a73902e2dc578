/* main.c: rsvp-ingestor wiring. Reads the RSVP HTTP stream and produces every line unchanged to
 * the raw topic in Kafka transactions, resuming after any failure without loss or duplicates.
 * The work lives in ingestor.c (loop), source.c, producer.c, recover.c and the pure modules. */
#include <curl/curl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/http.h"
#include "common/ktxn.h"
#include "common/log.h"
#include "common/memtrim.h"
#include "common/metrics.h"
#include "common/sig.h"
#include "common/version.h"
#include "services/ingestor/ingestor.h"
#include "services/ingestor/producer.h"
#include "services/ingestor/recover.h"
#include "services/ingestor/resume.h"

#define INIT_TIMEOUT_MS       30000 /* each topic / recovery call */
#define MALLOC_MMAP_THRESHOLD (4 << 20)
#define MALLOC_TRIM_THRESHOLD (32 << 20)

typedef struct settings {
    cfg_common common;
    char *source_url;
    char *raw_topic;
    char *transactional_id;
    char *accept_encoding;
    int64_t max_line_bytes, stall_ms, commit_interval_ms, commit_messages;
    int64_t backoff_base_ms, backoff_max_ms, recover_tail, initial_since_ms;
    int64_t resume_window_ms, max_future_ms, resume_max_lines, resume_max_held;
} settings;

/* malloc_tune: keep freed memory in the process instead of handing it back to the kernel at once.
 * Every produce request (a batch of up to ~1 MB and its lz4 output, in librdkafka's broker thread)
 * and every 256 KiB stash block of producer.c is freed within milliseconds and allocated again;
 * with glibc's defaults (trim above 128 KiB free, dynamic mmap threshold) each round trip faulted
 * the pages in again: 60-190k page faults per million lines unpaced, 3.4k with this. Cost: RSS
 * stays near its high-water mark (~90 MB after an unpaced burst with 50k-line transactions; a
 * stream at 10k lines/s stays at ~16 MB, as before). So MEM_TRIM_INTERVAL (common/memtrim.h), 10 s
 * as in the other services, keeps these thresholds: after a broker restart's catch-up the soak's
 * ingestor held 41.5 MB with 6.5 MB of heap in use; one malloc_trim gave back 14 MB. It was a minute
 * while the broker threads had arenas of their own (a trim every 10 s then made the ingestor swing
 * between 20 and 40 MB); with one arena (below), a minute between trims let the churn of a stream
 * (produce requests placed anew in a heap a catch-up had left fragmented) keep ~2 MB more resident
 * than before the first broker restart: the soak's ingestor +11.9% with its heap in use flat. */
static void malloc_tune(void)
{
    mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD);
    memtrim_one_arena(); /* so that the trim gives back what the broker threads freed, too */
}

/* txn_id_for: "rsvp-ingestor-" + TRANSACTIONAL_ID, or + FNV-1a of source URL and topic, so the same
 * source and topic always get the same id (a restart fences the old process) and two pipelines on
 * different topics never fence each other. */
static void txn_id_for(const settings *s, char *out, size_t cap)
{
    if (s->transactional_id && s->transactional_id[0]) {
        snprintf(out, cap, "rsvp-ingestor-%s", s->transactional_id);
        return;
    }
    uint64_t h = 0xcbf29ce484222325ULL;
    const char *parts[] = {s->source_url, "\n", s->raw_topic};
    for (size_t i = 0; i < 3; i++)
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
            h = (h ^ *p) * 0x100000001b3ULL;
    snprintf(out, cap, "rsvp-ingestor-%016" PRIx64, h);
}

/* start_producer: create the producer, init_transactions and make sure the raw topic exists,
 * retrying transient failures until a stop signal. 0, ERR_CLOSED (stopped), or another error. */
static int start_producer(const settings *s, const char *txn_id, producer **out)
{
    char err[512];
    int rc = producer_new(out, s->raw_topic, txn_id, s->max_line_bytes + 4096, err, sizeof err);
    if (rc != 0) {
        log_error("kafka producer", "error=%s", err);
        return rc;
    }
    backoff bo;
    backoff_init(&bo, s->backoff_base_ms, s->backoff_max_ms, 0);
    /* retries every error that is not fatal (kafka_init_transactions): a restart would not help */
    rc = ktxn_init(producer_txn(*out), &bo, err, sizeof err);
    if (rc == ERR_CLOSED)
        return rc;
    if (rc != 0) {
        log_error("init transactions failed", "error=%s", err);
        return rc;
    }
    int created = 0;
    while ((rc = producer_ensure_topic(*out, INIT_TIMEOUT_MS, &created, err, sizeof err)) == ERR_RETRY ||
           rc == ERR_TIMEOUT) {
        log_warn("raw topic not ready: retrying", "topic=%s error=%s", s->raw_topic, err);
        clock_sleep_ms(backoff_next(&bo));
        if (sig_stopping())
            return ERR_CLOSED;
    }
    if (rc != 0)
        log_error("raw topic", "topic=%s error=%s", s->raw_topic, err);
    else if (created)
        log_info("raw topic created", "topic=%s", s->raw_topic);
    return rc;
}

/* recover_state: resume point from the committed tail of the raw topic, retrying timeouts. */
static int recover_state(const settings *s, resume *r)
{
    char err[512];
    recover_stats st;
    backoff bo;
    backoff_init(&bo, s->backoff_base_ms, s->backoff_max_ms, 0);
    int64_t t0 = clock_mono_ms();
    int rc;
    while ((rc = recover_tail(s->raw_topic, s->recover_tail, INIT_TIMEOUT_MS, r, &st, err, sizeof err)) ==
           ERR_TIMEOUT) {
        log_warn("recover resume state: retrying", "error=%s", err);
        resume_clear(r);
        clock_sleep_ms(backoff_next(&bo));
        if (sig_stopping())
            return ERR_CLOSED;
    }
    if (rc != 0) {
        log_error("recover resume state failed", "error=%s", err);
        return rc;
    }
    resume_info in;
    resume_get_info(r, &in);
    log_info("resume state recovered",
             "topic=%s partitions=%d messages=%lld with_mtime=%lld resume_mtime=%lld since_mtime=%lld "
             "remembered_lines=%zu held_lines=%zu ms=%lld",
             s->raw_topic, st.partitions, (long long)st.messages, (long long)st.with_mtime,
             (long long)resume_mtime(r), (long long)resume_since(r), in.lines, in.held,
             (long long)(clock_mono_ms() - t0));
    return 0;
}

int main(int argc, char **argv)
{
    settings s = {0};
    /* clang-format off */
    int64_t mem_trim_ms = 0;
    const cfg_option opts[] = {
        {"source-url", "SOURCE_URL", CFG_STRING, "http://127.0.0.1:8080/2/rsvps",
         "RSVP stream URL (chunked NDJSON; ?since_mtime= is appended on resume)", 0, 0, 0,
         &s.source_url},
        {"raw-topic", "RAW_TOPIC", CFG_STRING, "rsvps.raw", "Kafka topic for the raw lines", 0, 0,
         0, &s.raw_topic},
        {"max-line-bytes", "MAX_LINE_BYTES", CFG_SIZE, "1M",
         "longest line accepted; longer ones are counted and skipped", 64, 256LL << 20, 0,
         &s.max_line_bytes},
        {"accept-encoding", "ACCEPT_ENCODING", CFG_STRING, "identity",
         "compression to ask the source for: identity (none: cheapest on a fast link), gzip, or all",
         0, 0, 0, &s.accept_encoding},
        {"stall-timeout", "STALL_TIMEOUT", CFG_DURATION, "30s",
         "reconnect when the source sends no byte for this long", 100, 3600000, 0, &s.stall_ms},
        /* A line waits up to this long for its commit, then for the aggregator's trigger: the two
         * waits are most of p99 freshness. Commits fall on the wall clock's multiples of the
         * interval and the aggregators' triggers TRIGGER_OFFSET after theirs, so with a trigger
         * interval that is a multiple of this one a line waits for one of them, not for both.
         * Each transaction costs ~2 ms of CPU here and as much in the parser (librdkafka's main
         * thread, docs/kafka-client.md): the interval is a trade of CPU for freshness. */
        {"commit-interval", "COMMIT_INTERVAL", CFG_DURATION, "250ms",
         "commit the open Kafka transaction at the wall clock's multiples of this", 1, 600000, 0,
         &s.commit_interval_ms},
        /* Each transaction costs ~2 ms of CPU in librdkafka's main thread and drains the
         * pipeline once: unpaced, 10000 cost 0.15-0.2 CPU s per million lines more than 50000,
         * but 50000 lines in flight took the peak RSS from 34 to 89 MB: memory wins the default. */
        {"commit-messages", "COMMIT_MESSAGES", CFG_INT, "10000",
         "... or as soon as it holds this many messages", 1, 10000000, 0, &s.commit_messages},
        {"backoff-base", "BACKOFF_BASE", CFG_DURATION, "200ms",
         "first reconnect / retry delay (doubles, with jitter)", 1, 3600000, 0,
         &s.backoff_base_ms},
        {"backoff-max", "BACKOFF_MAX", CFG_DURATION, "30s", "longest reconnect / retry delay", 1,
         3600000, 0, &s.backoff_max_ms},
        {"transactional-id", "TRANSACTIONAL_ID", CFG_STRING, NULL,
         "suffix of transactional.id rsvp-ingestor-<id> (default: hash of source URL and topic)",
         0, 0, 0, &s.transactional_id},
        {"recover-tail", "RECOVER_TAIL", CFG_INT, "2000",
         "offsets per partition read back at start to find the resume point", 1, 10000000, 0,
         &s.recover_tail},
        {"initial-since-mtime", "INITIAL_SINCE_MTIME", CFG_INT, "-1",
         "since_mtime (ms) of the very first connection, while the topic holds no resume point "
         "(backfill); -1: start live",
         -1, INT64_MAX, 0, &s.initial_since_ms},
        /* Resume (services/ingestor/resume.h, docs/architecture.md "Resuming"). */
        {"resume-window", "RESUME_WINDOW", CFG_DURATION, "1s",
         "a reconnect asks for since_mtime = resume point minus this: a line at most this much "
         "older than the second-newest before it is neither lost nor duplicated (unsorted source)",
         0, 86400000, 0, &s.resume_window_ms},
        {"max-future-mtime", "MAX_FUTURE_MTIME", CFG_DURATION, "10m",
         "a line whose mtime is this far beyond the clock is produced but never becomes the "
         "resume point", 0, 315360000000LL, 0, &s.max_future_ms},
        {"resume-max-lines", "RESUME_MAX_LINES", CFG_INT, "100000",
         "lines of the resume window remembered one by one (about 100 bytes each); beyond, by "
         "number", 1, 100000000, 0, &s.resume_max_lines},
        {"resume-max-held", "RESUME_MAX_HELD", CFG_INT, "1000",
         "lines beyond the clock remembered one by one; beyond, by number and /readyz says the "
         "resume point is stuck", 1, 10000000, 0, &s.resume_max_held},
        MEMTRIM_OPTION(&mem_trim_ms, "10s"),
        CFG_COMMON_OPTIONS(&s.common, "127.0.0.1:9101"),
        {NULL, NULL, CFG_STRING, NULL, NULL, 0, 0, 0, NULL},
    };
    /* clang-format on */

    /* Configuration: default < environment < flag; then what the table cannot check. */
    int rc =
        cfg_parse("rsvp-ingestor", "RSVP HTTP stream -> Kafka raw topic, exactly once", opts, argc, argv);
    if (rc != 0) {
        cfg_free(opts);
        return rc == 1 ? 0 : 2;
    }
    log_level level;
    if (log_level_parse(s.common.log_level, &level) != 0 || !s.source_url[0] || !s.raw_topic[0] ||
        s.backoff_max_ms < s.backoff_base_ms) {
        fprintf(stderr, "rsvp-ingestor: bad log level, empty URL/topic or BACKOFF_MAX < "
                        "BACKOFF_BASE\n");
        cfg_free(opts);
        return 2;
    }
    /* identity: send no Accept-Encoding at all; all: every encoding libcurl supports */
    const char *encoding = !strcmp(s.accept_encoding, "identity") ? NULL
                           : !strcmp(s.accept_encoding, "all")    ? ""
                                                                  : s.accept_encoding;
    if (encoding && *encoding &&
        strspn(encoding, "abcdefghijklmnopqrstuvwxyz0123456789-, ") != strlen(encoding)) {
        fprintf(stderr, "rsvp-ingestor: --accept-encoding: not an encoding list: %s\n", encoding);
        cfg_free(opts);
        return 2;
    }
    char txn_id[256];
    txn_id_for(&s, txn_id, sizeof txn_id);

    /* Initialisation, order important: */
    /* 1. allocator policy before any thread exists; logs and signals, so everything after can
     *    report and be interrupted; the trimming thread keeps malloc_tune's thresholds */
    malloc_tune();
    log_init("ingestor", cfg_instance_id(s.common.instance_id), level);
    sig_init();
    memtrim_start(mem_trim_ms, 0, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* 2. /metrics, /healthz, /readyz: live (not ready) while Kafka is still coming up */
    httpd *h = NULL;
    if (s.common.metrics_addr[0] && (rc = httpd_start(&h, s.common.metrics_addr)) != 0) {
        log_error("metrics endpoint", "addr=%s error=%s", s.common.metrics_addr, err_str(rc));
        goto out_curl;
    }
    httpd_set_ready(h, 0, "starting");
    /* 3. producer + init_transactions (fences an older instance, aborts its open transaction);
     *    the topic must exist before the first produce */
    producer *prod = NULL;
    if ((rc = start_producer(&s, txn_id, &prod)) != 0)
        goto out_producer;
    /* 4. resume state from what is committed in the topic (only after 3 settled the txns) */
    resume *rs = NULL;
    const resume_limits lim = {s.resume_window_ms, s.max_future_ms, (size_t)s.resume_max_lines,
                               (size_t)s.resume_max_held};
    if ((rc = resume_new(&rs, &lim)) != 0 || (rc = recover_state(&s, rs)) != 0)
        goto out_resume;
    /* 5. the loop's state; the source connection opens inside ingestor_run() */
    ingestor *ing = NULL;
    const ingestor_opts io = {s.source_url,         s.max_line_bytes,   s.stall_ms,
                              s.commit_interval_ms, s.commit_messages,  s.backoff_base_ms,
                              s.backoff_max_ms,     s.initial_since_ms, encoding};
    if ((rc = ingestor_new(&ing, &io, prod, rs, h)) != 0) {
        log_error("ingestor init", "error=%s", err_str(rc));
        goto out_ingestor;
    }

    cfg_log_effective(opts);
    log_info("up", "version=%s curl=%s transactional_id=%s topic=%s url=%s resume_mtime=%lld", RSVP_VERSION,
             curl_version_info(CURLVERSION_NOW)->version, txn_id, s.raw_topic, s.source_url,
             (long long)resume_mtime(rs));
    rc = ingestor_run(ing);
    log_info("down", "result=%s resume_mtime=%lld", rc == 0 ? "ok" : err_str(rc),
             (long long)resume_mtime(rs));

    /* Teardown in reverse order. */
out_ingestor:
    ingestor_free(ing);
out_resume:
    resume_free(rs);
out_producer:
    producer_free(prod);
    httpd_free(h);
out_curl:
    curl_global_cleanup();
    memtrim_stop();
    metrics_free_all();
    cfg_free(opts);
    return rc == 0 || rc == ERR_CLOSED ? 0 : 1;
}
