/* main.c: rsvp-writer wiring. Applies aggregator batches to PostgreSQL exactly once (stored next
 * offset per topic-partition, checked and advanced in the batch's transaction) and answers offset
 * queries, over nng REQ/REP. The work lives in server.c, writer.c and store.c. */
#include <nng/nng.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/sig.h"
#include "common/version.h"
#include "services/writer/schema.h"
#include "services/writer/server.h"
#include "services/writer/store.h"
#include "services/writer/writer.h"

static cfg_common common;
static char *listen_url, *pg_url, *meetup_table, *counts_table, *offsets_table, *batches_table;
static char *tls_cert, *tls_key, *tls_ca;
static int64_t max_request_bytes, max_batch_rows, workers, tx_retries;
static int64_t backoff_base_ms, backoff_max_ms, connect_timeout_ms, statement_timeout_ms;
static int64_t ping_interval_ms;

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
    {"max-request-bytes", "MAX_REQUEST_BYTES", CFG_SIZE, "64M",
     "largest request accepted (bigger: ERROR; over twice this nng drops the connection)", 1024, (int64_t)1 << 31, 0,
     &max_request_bytes},
    {"max-batch-rows", "MAX_BATCH_ROWS", CFG_INT, "1000000", "largest batch accepted, in rows",
     1, 100000000, 0, &max_batch_rows},
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
    {"tls-cert", "TLS_CERT", CFG_STRING, NULL, "PEM certificate for tls+tcp://", 0, 0, 0,
     &tls_cert},
    {"tls-key", "TLS_KEY", CFG_STRING, NULL, "PEM private key for tls+tcp://", 0, 0, 0, &tls_key},
    {"tls-ca", "TLS_CA", CFG_STRING, NULL,
     "PEM CA bundle: when set, clients must present a certificate it signed", 0, 0, 0, &tls_ca},
    CFG_COMMON_OPTIONS(&common, "127.0.0.1:9104"),
    {NULL, NULL, CFG_STRING, NULL, NULL, 0, 0, 0, NULL},
};
/* clang-format on */

/* The workers' settings from the parsed options (the schema is borrowed). */
static server_opts server_options(const schema *sch)
{
    server_opts so = {
        .listen = listen_url,
        .max_request_bytes = max_request_bytes,
        .workers = (int)workers,
        .ping_interval_ms = ping_interval_ms,
        .tls_cert = tls_cert,
        .tls_key = tls_key,
        .tls_ca = tls_ca,
        .store = {.pg_url = pg_url,
                  .sch = sch,
                  .backoff_base_ms = backoff_base_ms,
                  .backoff_max_ms = backoff_max_ms < backoff_base_ms ? backoff_base_ms : backoff_max_ms,
                  .connect_timeout_s = (connect_timeout_ms + 999) / 1000,
                  .statement_timeout_ms = statement_timeout_ms,
                  .tx_retries = (int)tx_retries},
        .limits = {.max_batch_rows = max_batch_rows,
                   .max_request_bytes = (size_t)max_request_bytes,
                   .max_partitions = 100000},
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

    /* Validation: table names become SQL identifiers. */
    schema *sch = NULL;
    const char *why = "";
    if ((rc = schema_new(&sch, meetup_table, counts_table, offsets_table, batches_table, &why))) {
        log_error("bad config", "option=%s error=%s", why,
                  "not an SQL identifier ([A-Za-z_][A-Za-z0-9_]*, optionally schema.table)");
        cfg_free(options);
        return 2;
    }

    /* Initialisation, order important: signals before any thread; metrics before the workers
     * that update them; the socket before HTTP so /readyz never vouches for a writer that cannot
     * listen; workers last. */
    sig_init();
    if (writer_metrics_init() != 0)
        return log_error("metrics", "error=%s", err_str(ERR_NOMEM)), 1;
    server_opts so = server_options(sch);
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
    if (server_start(srv) != 0) {
        sig_request_stop();
        rc = 1;
    }

    char masked[512];
    store_mask_url(pg_url, masked, sizeof masked);
    log_info("up", "version=%s nng=%s listen=%s pg=%s workers=%d metrics=%s", RSVP_VERSION, nng_version(),
             listen_url, masked, (int)workers, common.metrics_addr);
    cfg_log_effective(options);

    /* Loop: the workers do the work; here readiness follows the database. */
    while (!sig_stopping()) {
        int up = server_db_up(srv);
        httpd_set_ready(http, up, up ? NULL : "database unavailable");
        clock_sleep_ms(100);
    }

    /* Teardown in reverse: workers finish their current batch, then the socket closes. */
    log_info("stopping", "workers=%d", (int)workers);
    httpd_set_ready(http, 0, "stopping");
    server_stop(srv);
    httpd_free(http);
    server_free(srv);
    nng_fini(); /* nng's own threads too, so valgrind's leak report means something */
    schema_free(sch);
    log_info("down", "exit_code=%d", rc == 0 ? 0 : 1);
    metrics_free_all();
    cfg_free(options);
    return rc == 0 ? 0 : 1;
}
