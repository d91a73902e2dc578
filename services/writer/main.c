/* main.c: rsvp-writer wiring. Applies aggregator batches to PostgreSQL exactly once (stored next
 * offset per topic-partition, checked and advanced in the batch's transaction) and answers offset
 * queries, over nng REQ/REP. The work lives in server.c, writer.c and store.c. */
#include <nng/nng.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/http.h"
#include "common/log.h"
#include "common/memtrim.h"
#include "common/metrics.h"
#include "common/sig.h"
#include "common/version.h"
#include "services/writer/partition.h"
#include "services/writer/retention.h"
#include "services/writer/schema.h"
#include "services/writer/server.h"
#include "services/writer/store.h"
#include "services/writer/writer.h"

static cfg_common common;
static int64_t mem_trim_ms;
static char *listen_url, *pg_url, *meetup_table, *counts_table, *offsets_table, *batches_table;
static char *tls_cert, *tls_key, *tls_ca;
static int64_t max_request_bytes, max_batch_rows, max_decode_bytes, max_offset, max_connections, max_memory;
static int64_t workers, tx_retries;
static int64_t backoff_base_ms, backoff_max_ms, connect_timeout_ms, statement_timeout_ms;
static int64_t ping_interval_ms, retention_ms, partition_interval_ms;

/* clang-format off */
static const cfg_option options[] = {
    {"listen", "LISTEN", CFG_STRING, "tcp://127.0.0.1:7400",
     "nng REP address (tcp://, tls+tcp://, ipc://)", 0, 0, 0, &listen_url},
    {"pg-url", "PG_URL", CFG_STRING, "postgresql://postgres@127.0.0.1:15432/postgres",
     "PostgreSQL connection URL (libpq)", 0, 0, 1, &pg_url},
    {"meetup-table", "MEETUP_TABLE", CFG_STRING, "meetup_table",
     "history table: new running totals appended per batch", 0, 0, 0, &meetup_table},
    {"counts-table", "COUNTS_TABLE", CFG_STRING, "rsvp_counts",
     "current total per aggregate key", 0, 0, 0, &counts_table},
    {"offsets-table", "OFFSETS_TABLE", CFG_STRING, "rsvp_offsets",
     "stored next offset per topic-partition", 0, 0, 0, &offsets_table},
    {"batches-table", "BATCHES_TABLE", CFG_STRING, "rsvp_batches", "one row per applied batch",
     0, 0, 0, &batches_table},
    {"max-request-bytes", "MAX_REQUEST_BYTES", CFG_SIZE, "8M",
     "largest request accepted, per connection (a little over: ERROR; over it by more than min(itself, 1M): nng "
     "closes the connection unread)", 1024, (int64_t)1 << 30, 0, &max_request_bytes},
    {"max-batch-rows", "MAX_BATCH_ROWS", CFG_INT, "100000",
     "largest batch accepted, in rows (counted before decoding; keep >= the aggregators' MAX_BATCH_KEYS)",
     1, 100000000, 0, &max_batch_rows},
    {"max-decode-bytes", "MAX_DECODE_BYTES", CFG_SIZE, "24M",
     "memory one worker may use to decode a request (more: ERROR decode_limit)", 1 << 20, (int64_t)1 << 32, 0,
     &max_decode_bytes},
    {"max-connections", "MAX_CONNECTIONS", CFG_INT, "10",
     "open connections (one per aggregator and writer URL); more are closed at once", 1, 100000, 0,
     &max_connections},
    {"max-memory", "MAX_MEMORY", CFG_SIZE, "160M",
     "memory requests may hold at once; the writer does not start if (MAX_CONNECTIONS + WORKERS) x receive limit "
     "+ WORKERS x MAX_DECODE_BYTES exceeds it (keep ~40M under the memory limit)", 1 << 20, (int64_t)1 << 40, 0,
     &max_memory},
    {"max-offset", "MAX_OFFSET", CFG_INT, "9007199254740992",
     "largest to_offset accepted (2^53: a partition taking 10^6 RSVPs/s gets there in 285 years)", 1,
     INT64_MAX, 0, &max_offset},
    {"workers", "WORKERS", CFG_INT, "2", "request workers, one database connection each", 1, 64,
     0, &workers},
    {"tx-retries", "TX_RETRIES", CFG_INT, "3",
     "re-runs of a batch after serialization failure or deadlock before answering RETRY", 0, 100,
     0, &tx_retries},
    {"backoff-base", "BACKOFF_BASE", CFG_DURATION, "200ms", "first reconnect delay", 1, 3600000,
     0, &backoff_base_ms},
    {"backoff-max", "BACKOFF_MAX", CFG_DURATION, "10s", "longest reconnect delay", 1, 3600000, 0,
     &backoff_max_ms},
    {"db-connect-timeout", "DB_CONNECT_TIMEOUT", CFG_DURATION, "3s",
     "PostgreSQL connect timeout (whole seconds, at least 2)", 1000, 600000, 0,
     &connect_timeout_ms},
    {"statement-timeout", "STATEMENT_TIMEOUT", CFG_DURATION, "60s",
     "PostgreSQL statement_timeout (0 = none)", 0, 0, 0, &statement_timeout_ms},
    {"db-ping-interval", "DB_PING_INTERVAL", CFG_DURATION, "2s",
     "how often an idle worker checks its connection", 100, 3600000, 0, &ping_interval_ms},
    {"retention", "RETENTION", CFG_DURATION, "0",
     "drop meetup_table and rsvp_batches partitions older than this (0 = keep everything)", 0,
     (int64_t)3650 * 86400000, 0,
     &retention_ms},
    {"partition-interval", "PARTITION_INTERVAL", CFG_DURATION, "1d",
     "time span of one partition of meetup_table and rsvp_batches (whole seconds)", 1000,
     (int64_t)366 * 24 * 3600 * 1000, 0, &partition_interval_ms},
        {"tls-cert", "TLS_CERT", CFG_STRING, NULL, "PEM certificate for tls+tcp:// (required there)", 0, 0, 0,
     &tls_cert},
    {"tls-key", "TLS_KEY", CFG_STRING, NULL, "PEM private key for tls+tcp:// (required there)", 0, 0, 0,
     &tls_key},
    {"tls-ca", "TLS_CA", CFG_STRING, NULL,
     "PEM CA bundle for tls+tcp:// (required there): clients must present a certificate it signed", 0, 0, 0,
     &tls_ca},
    MEMTRIM_OPTION(&mem_trim_ms, "10s"),
    CFG_COMMON_OPTIONS(&common, "127.0.0.1:9104"),
    {NULL, NULL, CFG_STRING, NULL, NULL, 0, 0, 0, NULL},
};
/* clang-format on */

/* listen_private: 1 when url stays on this host or carries TLS (ipc://, inproc://, tls+..., or
 * tcp:// on a loopback address or localhost). */
static int listen_private(const char *url)
{
    static const char *const ok[] = {"ipc://",     "inproc://",        "tls+",
                                     "tcp://127.", "tcp://localhost:", "tcp://[::1]:"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strncmp(url, ok[i], strlen(ok[i])) == 0)
            return 1;
    return 0;
}

/* The workers' settings from the parsed options (the schema is borrowed). */
static server_opts server_options(const schema *sch)
{
    server_opts so = {
        .listen = listen_url,
        .workers = (int)workers,
        .max_connections = (int)max_connections,
        .max_decode_bytes = (size_t)max_decode_bytes,
        .ping_interval_ms = ping_interval_ms,
        .tls = {.ca = tls_ca, .cert = tls_cert, .key = tls_key},
        .store = {.pg_url = pg_url,
                  .sch = sch,
                  .backoff_base_ms = backoff_base_ms,
                  .backoff_max_ms = backoff_max_ms < backoff_base_ms ? backoff_base_ms : backoff_max_ms,
                  .connect_timeout_s = (connect_timeout_ms + 999) / 1000,
                  .statement_timeout_ms = statement_timeout_ms,
                  .tx_retries = (int)tx_retries,
                  /* partitions reach further ahead than a detach can hold the keeper up */
                  .part = {.interval_ms = partition_interval_ms,
                           .ahead = 3 + (int)(PARTITION_DETACH_TIMEOUT_MS / partition_interval_ms),
                           .retention_ms = retention_ms,
                           .lock_timeout_ms = 1000,
                           .detach_timeout_ms = PARTITION_DETACH_TIMEOUT_MS}},
        .limits = {.max_request_bytes = (size_t)max_request_bytes,
                   .max_batch_rows = max_batch_rows,
                   .max_partitions = 100000,
                   .max_offset = max_offset},
    };
    return so;
}

int main(int argc, char **argv)
{
    /* Configuration: default < environment < flags. */
    int rc =
        cfg_parse("rsvp-writer", "apply aggregator batches to PostgreSQL exactly once", options, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    log_level level;
    if (log_level_parse(common.log_level, &level) != 0) {
        fprintf(stderr, "rsvp-writer: --log-level: %s: unknown level\n", common.log_level);
        return 2;
    }
    log_init("writer", cfg_instance_id(common.instance_id), level);

    /* Validation: table names become SQL identifiers; the request limits fit the memory budget. */
    schema *sch = NULL;
    const char *why = "";
    if ((rc = schema_new(&sch, meetup_table, counts_table, offsets_table, batches_table, &why))) {
        log_error("bad config", "option=%s error=%s", why,
                  "not an SQL identifier ([A-Za-z_][A-Za-z0-9_]*, optionally schema.table)");
        cfg_free(options);
        return 2;
    }
    if (partition_interval_ms % 1000 != 0) {
        log_error("bad config", "option=PARTITION_INTERVAL error=%s", "not a whole number of seconds");
        schema_free(sch);
        cfg_free(options);
        return 2;
    }
    server_opts so = server_options(sch);
    if (server_worst_memory(&so) > (uint64_t)max_memory) {
        log_error(
            "bad config", "option=MAX_MEMORY max_memory=%lld worst_case=%llu error=%s", (long long)max_memory,
            (unsigned long long)server_worst_memory(&so),
            "(MAX_CONNECTIONS + WORKERS) x (MAX_REQUEST_BYTES + min(MAX_REQUEST_BYTES, 1M)) + WORKERS x "
            "MAX_DECODE_BYTES exceeds MAX_MEMORY: lower one of them, or raise MAX_MEMORY with the memory "
            "limit");
        schema_free(sch);
        cfg_free(options);
        return 2;
    }
    if (!listen_private(listen_url))
        log_warn("listening without TLS beyond this host", "listen=%s hint=%s", listen_url,
                 "any process that reaches this port can write counts: use tls+tcp:// with TLS_CERT, TLS_KEY "
                 "and TLS_CA (mutual TLS), or a loopback or ipc:// address");

    /* Initialisation, order important: signals before any thread; metrics before the workers
     * that update them; the socket before HTTP so /readyz never vouches for a writer that cannot
     * listen; workers last. */
    sig_init();
    memtrim_start(mem_trim_ms, MEMTRIM_MMAP_THRESHOLD, MEMTRIM_TRIM_THRESHOLD);
    if (writer_metrics_init() != 0 || partition_metrics_init() != 0)
        return log_error("metrics", "error=%s", err_str(ERR_NOMEM)), 1;
    server *srv = NULL;
    char err[256] = "";
    if ((rc = server_new(&srv, &so, err, sizeof err)) != 0) {
        log_error("cannot listen", "listen=%s error=%s", listen_url, err);
        schema_free(sch);
        cfg_free(options);
        return rc == ERR_INVALID ? 2 : 1;
    }
    httpd *http = NULL;
    if (common.metrics_addr && *common.metrics_addr && (rc = httpd_start(&http, common.metrics_addr)) != 0) {
        log_error("cannot serve metrics", "addr=%s error=%s", common.metrics_addr, err_str(rc));
        server_free(srv);
        schema_free(sch);
        cfg_free(options);
        return 1;
    }
    httpd_set_ready(http, 0, "database not connected yet");
    retention *keeper = NULL;
    if (server_start(srv) != 0 ||
        retention_new(&keeper, &so.store, retention_period_ms(partition_interval_ms)) != 0 ||
        retention_start(keeper) != 0) {
        sig_request_stop();
        rc = 1;
    }

    char masked[512];
    store_mask_url(pg_url, masked, sizeof masked);
    log_info("up",
             "version=%s nng=%s listen=%s pg=%s workers=%d metrics=%s worst_case_request_memory=%llu "
             "retention_ms=%lld partition_interval_ms=%lld",
             RSVP_VERSION, nng_version(), listen_url, masked, (int)workers, common.metrics_addr,
             (unsigned long long)server_worst_memory(&so), (long long)retention_ms,
             (long long)partition_interval_ms);
    cfg_log_effective(options);

    /* Loop: the workers do the work; here readiness follows the database, and once a second the
     * failed connections are counted. */
    for (int tick = 0; !sig_stopping(); tick++) {
        int up = server_db_up(srv);
        httpd_set_ready(http, up, up ? NULL : "database unavailable");
        if (tick % 10 == 0)
            server_poll_transport(srv);
        clock_sleep_ms(100);
    }

    /* Teardown in reverse: workers finish their current batch, then the socket closes. */
    log_info("stopping", "workers=%d", (int)workers);
    httpd_set_ready(http, 0, "stopping");
    retention_free(keeper);
    server_stop(srv);
    httpd_free(http);
    server_free(srv);
    memtrim_stop();
    nng_fini(); /* nng's own threads too, so valgrind's leak report means something */
    schema_free(sch);
    log_info("down", "exit_code=%d", rc == 0 ? 0 : 1);
    metrics_free_all();
    cfg_free(options);
    return rc == 0 ? 0 : 1;
}
