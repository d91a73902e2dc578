/* rebuild.c: `rsvpctl rebuild` (see rebuild.h). Order of a run: the exclusive lock; the rebuild
 * tables (created, or continued from a killed run); for --from raw, the cut; the count, applied
 * batch by batch with the writer's transaction; for --from parsed, catching up with the live end;
 * the swap, retried while the live tables are busy. */
#include "tools/rsvpctl/rebuild.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/sig.h"
#include "proto/rsvp.pb-c.h"
#include "services/aggregator/aggregator.h"
#include "services/parser/rsvp_json.h"
#include "services/writer/schema.h"
#include "services/writer/store.h"
#include "tools/rsvpctl/cli.h"
#include "tools/rsvpctl/control.h"
#include "tools/rsvpctl/dlq.h"
#include "tools/rsvpctl/kread.h"

#define SUFFIX          "_rebuild"
#define FLUSH_MS        2000 /* counted deltas are applied at least this often (a kill loses less) */
#define CATCH_UP_ROUNDS 5    /* --from parsed: passes to come close to the live end before the swap */
#define CATCH_UP_CLOSE  2000 /* ... close: fewer messages than this left */

static struct {
    char *from, *parsed_topic, *raw_topic, *parser_group, *control_url, *pg_url;
    char *meetup, *counts, *offsets, *batches, *log_level, *validation;
    int64_t interval_ms, max_keys, lock_timeout_ms, swap_attempts, rate, max_message_bytes, max_string_bytes;
    int pause_parsers, parsers_stopped, allow_truncated;
} O;

/* clang-format off */
static const cfg_option rebuild_options[] = {
    {"from", "REBUILD_FROM", CFG_STRING, "parsed",
     "parsed: recount the parsed topic; raw: parse the raw topic again (after a parser change)", 0, 0, 0, &O.from},
    {"parsed-topic", "PARSED_TOPIC", CFG_STRING, "rsvps.parsed", "the aggregators' topic", 0, 0, 0, &O.parsed_topic},
    {"raw-topic", "RAW_TOPIC", CFG_STRING, "rsvps.raw", "the parsers' topic (--from raw)", 0, 0, 0, &O.raw_topic},
    {"parser-group", "PARSER_GROUP_ID", CFG_STRING, "rsvp-parser",
     "the parsers' consumer group (--from raw: its committed offsets are the cut)", 0, 0, 0, &O.parser_group},
    {"pause-parsers", NULL, CFG_BOOL, "false",
     "--from raw: stop the supervisor's parsers for the cut (a few seconds) and start them again", 0, 0, 0,
     &O.pause_parsers},
    {"parsers-stopped", NULL, CFG_BOOL, "false",
     "--from raw: the parsers are stopped (by you); start them once the cut is logged", 0, 0, 0,
     &O.parsers_stopped},
    {"control-url", "CONTROL_URL", CFG_STRING, CLI_DEFAULT_CONTROL_URL, "the supervisor (--pause-parsers)", 0, 0,
     0, &O.control_url},
    {"pg-url", "PG_URL", CFG_STRING, "postgresql://postgres@127.0.0.1:15432/postgres",
     "PostgreSQL with the writer's tables", 0, 0, 1, &O.pg_url},
    {"meetup-table", "MEETUP_TABLE", CFG_STRING, "meetup_table", "as the writer's", 0, 0, 0, &O.meetup},
    {"counts-table", "COUNTS_TABLE", CFG_STRING, "rsvp_counts", "as the writer's", 0, 0, 0, &O.counts},
    {"offsets-table", "OFFSETS_TABLE", CFG_STRING, "rsvp_offsets", "as the writer's", 0, 0, 0, &O.offsets},
    {"batches-table", "BATCHES_TABLE", CFG_STRING, "rsvp_batches", "as the writer's", 0, 0, 0, &O.batches},
    {"partition-interval", "PARTITION_INTERVAL", CFG_DURATION, "1d",
     "time span of the rebuilt history tables' partitions (as the writer's)", 1000,
     (int64_t)366 * 86400000, 0, &O.interval_ms},
    {"max-batch-keys", "MAX_BATCH_KEYS", CFG_INT, "100000", "keys per applied batch", 1, 10000000, 0,
     &O.max_keys},
    {"rate", "REBUILD_RATE", CFG_INT, "0", "read at most this many messages per second (0: no limit)", 0,
     100000000, 0, &O.rate},
    {"lock-timeout", "REBUILD_LOCK_TIMEOUT", CFG_DURATION, "5s",
     "the swap waits this long for the live tables (batches wait as long), then tries again", 100, 600000, 0,
     &O.lock_timeout_ms},
    {"swap-attempts", "REBUILD_SWAP_ATTEMPTS", CFG_INT, "20", "swaps tried before giving up", 1, 10000, 0,
     &O.swap_attempts},
    {"allow-truncated", NULL, CFG_BOOL, "false",
     "count what the topic still holds although its retention deleted older messages (their counts are lost)",
     0, 0, 0, &O.allow_truncated},
    {"validation", "VALIDATION", CFG_STRING, "reference",
     "the parser's mode (--from raw; as rsvp-parser): reference or strict", 0, 0, 0, &O.validation},
    {"max-message-bytes", "MAX_MESSAGE_BYTES", CFG_SIZE, "1M", "the parser's limit (--from raw)", 1,
     (int64_t)1 << 30, 0, &O.max_message_bytes},
    {"max-string-bytes", "MAX_STRING_BYTES", CFG_SIZE, "1024", "the parser's limit (--from raw)", 1,
     (int64_t)1 << 30, 0, &O.max_string_bytes},
    {"log-level", "LOG_LEVEL", CFG_STRING, "info", "log level: debug, info, warn, error", 0, 0, 0, &O.log_level},
    {NULL, NULL, CFG_STRING, NULL, NULL, 0, 0, 0, NULL},
};
/* clang-format on */

typedef struct rebuild {
    int raw;           /* --from raw */
    int parsing;       /* the raw phase: messages are raw JSON to parse */
    const char *topic; /* the topic counted */
    schema *live, *rbs;
    PGconn *ctl; /* the exclusive lock, checks and the swap */
    store *st;   /* the writer's batch transaction, on the rebuild tables */
    kread *k;
    int32_t nparts, *parts;
    int64_t *next, *end; /* per partition: stored next offset (-1: none), where to stop */
    int32_t nparsed;
    int64_t *parsed_end; /* --from raw: the parsed topic's end at the cut */
    rsvp_json *json;
    buf packed;
    uint64_t messages, counted_batches;
    int64_t t0;
    char err[512];
} rebuild;

/* ---- PostgreSQL ---- */

static int ctl_exec(rebuild *r, const char *sql, const char *what)
{
    PGresult *res = PQexec(r->ctl, sql);
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(r->err, sizeof r->err, "%s: %s", what, PQerrorMessage(r->ctl));
    PQclear(res);
    return ok ? 0 : ERR_RETRY;
}

/* The rebuild tables' names: every live name with SUFFIX. */
static int make_schemas(rebuild *r)
{
    const char *names[4] = {O.meetup, O.counts, O.offsets, O.batches};
    char rb[4][128];
    for (int i = 0; i < 4; i++)
        snprintf(rb[i], sizeof rb[i], "%s%s", names[i], SUFFIX);
    const char *why = "";
    if (schema_new(&r->live, O.meetup, O.counts, O.offsets, O.batches, &why) != 0) {
        snprintf(r->err, sizeof r->err, "--%s: not an SQL identifier", why);
        return ERR_INVALID;
    }
    if (schema_new(&r->rbs, rb[0], rb[1], rb[2], rb[3], &why) != 0) {
        snprintf(r->err, sizeof r->err, "%s: too long with \"" SUFFIX "\" appended (at most 48 bytes)", why);
        return ERR_INVALID;
    }
    buf b = {0};
    int rc = schema_swap_sql(r->live, r->rbs, &b);
    buf_free(&b);
    if (rc != 0)
        snprintf(r->err, sizeof r->err, "the four tables must be in one SQL schema");
    return rc;
}

static int ctl_connect(rebuild *r)
{
    r->ctl = PQconnectdb(O.pg_url);
    if (PQstatus(r->ctl) != CONNECTION_OK) {
        snprintf(r->err, sizeof r->err, "PostgreSQL: %s", PQerrorMessage(r->ctl));
        return ERR_RETRY;
    }
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%lld)", (long long)RSVPCTL_EXCLUSIVE_LOCK_KEY);
    PGresult *res = PQexec(r->ctl, sql);
    int got = PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!got) {
        snprintf(r->err, sizeof r->err, "another rsvpctl rebuild or dlq redrive is running on this database");
        return ERR_STALE;
    }
    return 0;
}

/* The rebuild's store: the writer's DDL and partitions on the rebuild tables. */
static int store_open(rebuild *r)
{
    store_opts so = {.pg_url = O.pg_url,
                     .sch = r->rbs,
                     .backoff_base_ms = 200,
                     .backoff_max_ms = 2000,
                     .connect_timeout_s = 5,
                     .statement_timeout_ms = 0,
                     .tx_retries = 5,
                     .part = {.interval_ms = O.interval_ms,
                              .ahead = 3 + (int)(PARTITION_DETACH_TIMEOUT_MS / O.interval_ms),
                              .retention_ms = 0,
                              .lock_timeout_ms = 1000,
                              .detach_timeout_ms = PARTITION_DETACH_TIMEOUT_MS}};
    if (store_new(&r->st, &so) != 0)
        return ERR_NOMEM;
    for (int64_t deadline = clock_mono_ms() + 60000; store_ensure(r->st) != 0;) {
        if (clock_mono_ms() > deadline || sig_stopping()) {
            snprintf(r->err, sizeof r->err, "cannot prepare the rebuild tables (see the log)");
            return ERR_RETRY;
        }
        clock_sleep_ms(200);
    }
    return 0;
}

/* Rebuild tables of another run (another source topic) are dropped; the first batch ids of a new
 * rebuild come after the live ones. */
static int prepare_tables(rebuild *r)
{
    int rc = store_open(r);
    if (rc != 0)
        return rc;
    buf q = {0};
    const char *ro = schema_table_quoted(r->rbs, SCHEMA_T_OFFSETS);
    /* a rebuild from parsed writes rows of the parsed topic; one from raw, of both */
    buf_printf(&q, "SELECT count(*) FILTER (WHERE topic <> $1 AND topic <> $2), count(*) FROM %s", ro);
    const char *vals[2] = {O.parsed_topic, r->raw ? O.raw_topic : O.parsed_topic};
    PGresult *res = PQexecParams(r->ctl, q.data, 2, NULL, vals, NULL, NULL, 0);
    buf_free(&q);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(r->err, sizeof r->err, "reading %s: %s", ro, PQerrorMessage(r->ctl));
        PQclear(res);
        return ERR_RETRY;
    }
    long other = strtol(PQgetvalue(res, 0, 0), NULL, 10), rows = strtol(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    if (other > 0) {
        log_warn("rebuild tables of another kind of rebuild found: starting over", "tables=%s", ro);
        store_free(r->st);
        r->st = NULL;
        buf_printf(&q, "DROP TABLE IF EXISTS %s, %s, %s, %s", schema_table_quoted(r->rbs, SCHEMA_T_MEETUP),
                   schema_table_quoted(r->rbs, SCHEMA_T_BATCHES),
                   schema_table_quoted(r->rbs, SCHEMA_T_COUNTS), ro);
        rc = ctl_exec(r, q.data, "drop old rebuild tables");
        buf_free(&q);
        if (rc != 0 || (rc = store_open(r)) != 0)
            return rc;
        rows = 0;
    }
    if (rows == 0) {
        /* batch ids of the rebuild start after the live ones (the swap keeps the larger) */
        const char *ls = schema_sequence_quoted(r->live), *rs = schema_sequence_quoted(r->rbs);
        buf_printf(
            &q,
            "DO $s$ DECLARE v bigint; BEGIN IF to_regclass('%s') IS NOT NULL THEN SELECT CASE WHEN "
            "is_called THEN last_value END INTO v FROM %s; IF v IS NOT NULL THEN PERFORM setval('%s', v); "
            "END IF; END IF; END $s$",
            ls, ls, rs);
        rc = ctl_exec(r, q.data, "batch ids");
        buf_free(&q);
    }
    return rc;
}

/* ---- Kafka ---- */

/* The source topic, its partitions, where the rebuild stands on each. */
static int open_source(rebuild *r)
{
    kread_free(r->k);
    r->k = NULL;
    free(r->parts);
    free(r->next);
    free(r->end);
    r->parts = NULL;
    r->next = r->end = NULL;
    int rc = kread_new(&r->k, r->topic, 30000, &r->nparts, r->err, sizeof r->err);
    if (rc != 0)
        return rc;
    r->parts = calloc((size_t)r->nparts, sizeof *r->parts);
    r->next = calloc((size_t)r->nparts, sizeof *r->next);
    r->end = calloc((size_t)r->nparts, sizeof *r->end);
    if (!r->parts || !r->next || !r->end)
        return ERR_NOMEM;
    for (int32_t i = 0; i < r->nparts; i++)
        r->parts[i] = i;
    char msg[256];
    if (store_query_offsets(r->st, r->topic, r->parts, (size_t)r->nparts, r->next, msg, sizeof msg) != 0) {
        snprintf(r->err, sizeof r->err, "rebuild offsets: %s", msg);
        return ERR_RETRY;
    }
    /* a recount needs every message: refuse when the topic's retention already deleted some */
    for (int32_t i = 0; i < r->nparts; i++) {
        int64_t lo, hi;
        if ((rc = kread_watermarks(r->k, i, &lo, &hi, r->err, sizeof r->err)) != 0)
            return rc;
        r->end[i] = hi;
        if (lo > 0 && r->next[i] < lo) {
            if (!O.allow_truncated) {
                snprintf(r->err, sizeof r->err,
                         "%s partition %d starts at offset %" PRId64
                         ": its retention deleted older messages, "
                         "whose counts a rebuild would lose (keep the topic's messages: retention.ms=-1, see "
                         "docs/operations.md; or pass --allow-truncated)",
                         r->topic, (int)i, lo);
                return ERR_INVALID;
            }
            log_warn("counting a truncated partition", "topic=%s partition=%d first_offset=%" PRId64,
                     r->topic, (int)i, lo);
        }
    }
    return 0;
}

/* The supervisor's parser replicas: how many run (-1: unreachable). */
static int parsers_running(char *err, size_t errlen)
{
    buf reply = {0};
    control_proc *procs = NULL;
    size_t n = 0;
    int running = -1;
    if (control_request(O.control_url, "status", 5000, &reply, err, errlen) == 0 &&
        control_parse_status(reply.data, reply.len, &procs, &n, err, errlen) == 0) {
        running = 0;
        for (size_t i = 0; i < n; i++)
            running += !strcmp(procs[i].service, "parser") && procs[i].pid > 0;
    }
    free(procs);
    buf_free(&reply);
    return running;
}

static int scale_parsers(int n, char *err, size_t errlen)
{
    char req[48];
    buf reply = {0};
    snprintf(req, sizeof req, "scale parser=%d", n);
    int rc = control_request(O.control_url, req, 10000, &reply, err, errlen);
    if (rc == 0 && strncmp(reply.data ? reply.data : "", "ok", 2) != 0) {
        snprintf(err, errlen, "scale parser=%d: %s", n, reply.data ? reply.data : "no reply");
        rc = ERR_RETRY;
    }
    buf_free(&reply);
    return rc;
}

/* --from raw: the parser group's committed offsets on the raw topic and the parsed topic's end,
 * taken while no parser runs, so that raw below the one maps exactly to parsed below the other. */
static int take_cut(rebuild *r)
{
    int had = 0, rc = 0;
    if (O.pause_parsers) {
        had = parsers_running(r->err, sizeof r->err);
        if (had < 0)
            return ERR_RETRY;
        if ((rc = scale_parsers(0, r->err, sizeof r->err)) != 0)
            return rc;
        log_info("parsers stopped for the cut", "replicas=%d", had);
        for (int64_t deadline = clock_mono_ms() + 60000; parsers_running(r->err, sizeof r->err) != 0;) {
            if (clock_mono_ms() > deadline) {
                snprintf(r->err, sizeof r->err, "parsers still running 60 s after scale parser=0");
                rc = ERR_RETRY;
                break;
            }
            clock_sleep_ms(200);
        }
    }
    int64_t *committed = calloc((size_t)r->nparts, sizeof *committed);
    kread *pk = NULL;
    rc = rc ? rc : committed ? 0 : ERR_NOMEM;
    rc = rc ? rc
            : kread_committed(r->k, O.parser_group, r->parts, (size_t)r->nparts, committed, r->err,
                              sizeof r->err);
    rc = rc ? rc : kread_new(&pk, O.parsed_topic, 30000, &r->nparsed, r->err, sizeof r->err);
    if (rc == 0 && !(r->parsed_end = calloc((size_t)r->nparsed, sizeof *r->parsed_end)))
        rc = ERR_NOMEM;
    for (int32_t i = 0; rc == 0 && i < r->nparsed; i++) {
        int64_t lo;
        rc = kread_watermarks(pk, i, &lo, &r->parsed_end[i], r->err, sizeof r->err);
    }
    for (int32_t i = 0; rc == 0 && i < r->nparts; i++) {
        int64_t lo, hi;
        rc = kread_watermarks(r->k, i, &lo, &hi, r->err, sizeof r->err);
        /* a partition the parsers never committed: they have read nothing of it */
        r->end[i] = committed[i] >= 0 ? committed[i] : lo;
        log_info("cut", "raw_topic=%s partition=%d raw_end=%" PRId64, r->topic, (int)i, r->end[i]);
    }
    for (int32_t i = 0; rc == 0 && i < r->nparsed; i++)
        log_info("cut", "parsed_topic=%s partition=%d parsed_end=%" PRId64, O.parsed_topic, (int)i,
                 r->parsed_end[i]);
    kread_free(pk);
    free(committed);
    if (O.pause_parsers && had > 0) {
        char err2[256];
        if (scale_parsers(had, err2, sizeof err2) != 0) {
            log_error("cannot start the parsers again: scale them yourself", "replicas=%d error=%s", had,
                      err2);
            if (rc == 0) {
                snprintf(r->err, sizeof r->err, "starting the parsers again: %s", err2);
                rc = ERR_RETRY;
            }
        } else {
            log_info("parsers started again", "replicas=%d", had);
        }
    } else if (rc == 0) {
        log_info("cut taken: the parsers may be started again", "parser_group=%s", O.parser_group);
    }
    return rc;
}

/* ---- the count ---- */

/* Apply every frozen batch with the writer's transaction; the rebuild tables are ours alone, so
 * anything but OK (or RETRY, waited out) means they were changed under us. */
static int apply_pending(rebuild *r, agg *a)
{
    int32_t part;
    const void *data;
    size_t len;
    while (agg_next_request(a, &part, &data, &len)) {
        Rsvp__V1__WriterRequest *req = rsvp__v1__writer_request__unpack(NULL, len, data);
        if (req == NULL || req->body_case != RSVP__V1__WRITER_REQUEST__BODY_BATCH) {
            rsvp__v1__writer_request__free_unpacked(req, NULL);
            return ERR_NOMEM;
        }
        store_result res;
        int rc;
        while ((rc = store_apply_batch(r->st, req->batch, &res)) == ERR_RETRY && !sig_stopping())
            clock_sleep_ms(500); /* database down or busy: the batch waits, nothing is lost */
        Rsvp__V1__WriterReply rep = RSVP__V1__WRITER_REPLY__INIT;
        rep.status = rc == 0           ? RSVP__V1__WRITER_REPLY__STATUS__OK
                     : rc == ERR_STALE ? RSVP__V1__WRITER_REPLY__STATUS__STALE
                     : rc == ERR_RETRY ? RSVP__V1__WRITER_REPLY__STATUS__RETRY
                                       : RSVP__V1__WRITER_REPLY__STATUS__ERROR;
        rep.has_stored_offset = rc == ERR_STALE;
        rep.stored_offset = res.stored_offset;
        agg_action act;
        agg_on_reply(a, 0, &rep, &act);
        if (act.act != AGG_ACT_COMMIT) {
            snprintf(r->err, sizeof r->err, "batch of %s[%d] from %" PRId64 ": %s (%s)", r->topic, (int)part,
                     req->batch->from_offset, agg_result_name(act.result), res.message);
            rsvp__v1__writer_request__free_unpacked(req, NULL);
            return rc == ERR_RETRY ? ERR_CLOSED : ERR_FATAL;
        }
        r->counted_batches++;
        rsvp__v1__writer_request__free_unpacked(req, NULL);
    }
    return 0;
}

/* One message into the count: the parsed record as is, or the raw one parsed and packed as the
 * parser would (ingest time = the raw message's timestamp); a raw message the parser rejects is
 * not counted (nor is its offset covered: reading it again rejects it again). */
static int count_one(rebuild *r, agg *a, const rd_kafka_message_t *m)
{
    const void *payload = m->payload;
    size_t len = m->len;
    if (r->parsing) {
        Rsvp__V1__Rsvp *x = NULL;
        if (rsvp_json_parse(r->json, m->payload, m->len, &x) != RSVP_JSON_OK)
            return 0;
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        x->has_ingest_time_ms = ts > 0;
        x->ingest_time_ms = ts > 0 ? ts : 0;
        size_t n = rsvp__v1__rsvp__get_packed_size(x);
        buf_reset(&r->packed);
        if (buf_reserve(&r->packed, n) != 0)
            return ERR_NOMEM;
        r->packed.len = rsvp__v1__rsvp__pack(x, (uint8_t *)r->packed.data);
        payload = r->packed.data;
        len = r->packed.len;
    }
    int rc = agg_consume(a, m->partition, m->offset, payload, len);
    if (rc == ERR_RANGE) {
        /* the partition's table is full and its batch not applied yet: apply it; the refused
         * message is the partition's next offset and in hand, so it counts as re-read */
        if ((rc = apply_pending(r, a)) != 0)
            return rc;
        agg_rewound(a, m->partition);
        rc = agg_consume(a, m->partition, m->offset, payload, len);
    }
    /* undecodable (ERR_INVALID): covered, not counted, as the aggregator does; ERR_STALE: read twice */
    return rc == ERR_NOMEM || rc == ERR_RANGE ? ERR_NOMEM : 0;
}

/* Count every partition from its stored offset to its end. */
static int count_to_end(rebuild *r)
{
    agg *a = agg_new(r->topic, "rsvpctl-rebuild", (size_t)O.max_keys, (size_t)16 << 20);
    if (a == NULL)
        return ERR_NOMEM;
    int rc = 0;
    for (int32_t i = 0; i < r->nparts && rc == 0; i++)
        rc = agg_assign(a, r->parts[i], r->next[i]);
    rc = rc ? rc : kread_start(r->k, r->parts, r->next, r->end, (size_t)r->nparts, r->err, sizeof r->err);
    int64_t last_flush = clock_mono_ms(), last_log = last_flush, wait = 0;
    pacer pace; /* from the first message; a stall earns at most 1 s of catch-up */
    pacer_init(&pace, O.rate, 1000);
    rd_kafka_message_t *m;
    int got;
    while (rc == 0 && (got = kread_next(r->k, &m, 200, r->err, sizeof r->err)) != 0) {
        if (got == 1) {
            rc = count_one(r, a, m);
            rd_kafka_message_destroy(m);
            wait = pacer_next(&pace, clock_mono_ms());
            r->messages++;
        } else if (got != ERR_TIMEOUT) {
            log_warn("reading", "topic=%s error=%s", r->topic, r->err); /* the consumer retries */
        }
        int64_t now = clock_mono_ms();
        if (rc == 0 && (agg_pending_batches(a) > 0 || now - last_flush >= FLUSH_MS)) {
            if (agg_pending_batches(a) == 0 && agg_freeze(a, 1) < 0)
                rc = ERR_NOMEM;
            rc = rc ? rc : apply_pending(r, a);
            last_flush = now;
        }
        if (now - last_log >= 5000) {
            log_info("rebuilding", "topic=%s messages=%" PRIu64 " batches=%" PRIu64, r->topic, r->messages,
                     r->counted_batches);
            last_log = now;
        }
        if (rc == 0 && sig_stopping())
            rc = ERR_CLOSED;
        if (rc == 0 && wait > 0) {
            clock_sleep_ms(wait);
            wait = 0;
        }
    }
    /* what was counted is applied, also on a stop signal (the rerun goes on from there) */
    if (rc == 0 || rc == ERR_CLOSED) {
        int frc = agg_freeze(a, 1) < 0 ? ERR_NOMEM : apply_pending(r, a);
        rc = rc ? rc : frc;
    }
    for (int32_t i = 0; i < r->nparts; i++) {
        int64_t from, nxt;
        int pending;
        if (agg_range(a, r->parts[i], &from, &nxt, &pending) == 0 && !pending)
            r->next[i] = from;
    }
    agg_free(a);
    return rc;
}

/* --from parsed: pass over what the live topic gained meanwhile until only a little is left. */
static int catch_up(rebuild *r)
{
    for (int round = 0; round < CATCH_UP_ROUNDS; round++) {
        int64_t left = 0;
        for (int32_t i = 0; i < r->nparts; i++) {
            int64_t lo;
            int rc = kread_watermarks(r->k, i, &lo, &r->end[i], r->err, sizeof r->err);
            if (rc != 0)
                return rc;
            left += r->end[i] - (r->next[i] < 0 ? lo : r->next[i]);
        }
        if (left < CATCH_UP_CLOSE)
            return 0;
        int rc = count_to_end(r);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- --from raw: from the raw phase to the parsed phase ---- */

/* Rows of a topic in the rebuild's offsets table (the parsed ones appear when the raw phase ends). */
static int rows_of(rebuild *r, const char *topic, long *n)
{
    buf q = {0};
    buf_printf(&q, "SELECT count(*) FROM %s WHERE topic = $1", schema_table_quoted(r->rbs, SCHEMA_T_OFFSETS));
    PGresult *res = PQexecParams(r->ctl, q.data, 1, NULL, &topic, NULL, NULL, 0);
    buf_free(&q);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (ok)
        *n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    else
        snprintf(r->err, sizeof r->err, "rebuild offsets: %s", PQerrorMessage(r->ctl));
    PQclear(res);
    return ok ? 0 : ERR_RETRY;
}

static int upsert_offset(rebuild *r, const char *topic, int32_t p, int64_t next)
{
    buf q = {0};
    buf_printf(
        &q,
        "INSERT INTO %s AS o (topic, partition, next_offset) VALUES ($1, $2::int, $3::bigint) ON CONFLICT "
        "(topic, partition) DO UPDATE SET next_offset = greatest(o.next_offset, EXCLUDED.next_offset)",
        schema_table_quoted(r->rbs, SCHEMA_T_OFFSETS));
    char ps[16], ns[24];
    snprintf(ps, sizeof ps, "%d", (int)p);
    snprintf(ns, sizeof ns, "%" PRId64, next);
    const char *vals[3] = {topic, ps, ns};
    PGresult *res = PQexecParams(r->ctl, q.data, 3, NULL, vals, NULL, NULL, 0);
    buf_free(&q);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        snprintf(r->err, sizeof r->err, "rebuild offsets: %s", PQerrorMessage(r->ctl));
    PQclear(res);
    return ok ? 0 : ERR_RETRY;
}

/* The raw topic is counted up to the cut: record the cut (the raw rows, which rsvpctl dlq reads after
 * the swap) and the parsed topic's start (its end at the cut), in one transaction: from then on the
 * rebuild goes on as one from parsed, and a rerun knows the raw phase is over. */
static int end_raw_phase(rebuild *r)
{
    int rc = ctl_exec(r, "BEGIN", "begin");
    for (int32_t i = 0; rc == 0 && i < r->nparts; i++)
        rc = upsert_offset(r, O.raw_topic, r->parts[i], r->end[i]);
    for (int32_t i = 0; rc == 0 && i < r->nparsed; i++)
        rc = upsert_offset(r, O.parsed_topic, i, r->parsed_end[i]);
    rc = rc ? rc : ctl_exec(r, "COMMIT", "commit");
    if (rc != 0)
        PQclear(PQexec(r->ctl, "ROLLBACK"));
    return rc;
}

/* ---- the swap ---- */

/* Inside the swap's transaction, the live tables locked: every partition of the parsed topic must be
 * rebuilt at least as far as the live tables stored (else an aggregator idle on that partition would
 * never send the batch that makes it seek back, and what lies between would be lost). The little that
 * is missing is counted now, while batches wait on the locks. */
static int reach_live(rebuild *r)
{
    const char *lo = schema_table_quoted(r->live, SCHEMA_T_OFFSETS);
    const char *vals[1] = {lo};
    PGresult *res = PQexecParams(r->ctl, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, vals, NULL, NULL, 0);
    int exists = PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!exists)
        return 0;
    buf q = {0};
    buf_printf(&q, "SELECT partition, next_offset FROM %s WHERE topic = $1", lo);
    vals[0] = r->topic;
    res = PQexecParams(r->ctl, q.data, 1, NULL, vals, NULL, NULL, 0);
    buf_free(&q);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(r->err, sizeof r->err, "live offsets: %s", PQerrorMessage(r->ctl));
        PQclear(res);
        return ERR_RETRY;
    }
    int behind = 0;
    for (int32_t j = 0; j < r->nparts; j++)
        r->end[j] = r->next[j]; /* where the rebuild is: nothing to read there */
    for (int i = 0; i < PQntuples(res); i++) {
        int32_t p = (int32_t)strtol(PQgetvalue(res, i, 0), NULL, 10);
        int64_t live = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        for (int32_t j = 0; j < r->nparts; j++)
            if (r->parts[j] == p && live > r->next[j]) {
                r->end[j] = live;
                behind = 1;
            }
    }
    PQclear(res);
    if (!behind)
        return 0;
    int64_t *want = malloc((size_t)r->nparts * sizeof *want);
    if (want == NULL)
        return ERR_NOMEM;
    memcpy(want, r->end, (size_t)r->nparts * sizeof *want);
    log_info("catching up with the live tables under the swap's lock", "topic=%s", r->topic);
    int rc = count_to_end(r);
    for (int32_t j = 0; rc == 0 && j < r->nparts; j++)
        if (r->next[j] < want[j]) {
            snprintf(r->err, sizeof r->err, "%s[%d]: rebuilt to %" PRId64 ", the live tables are at %" PRId64,
                     r->topic, (int)r->parts[j], r->next[j], want[j]);
            rc = ERR_RETRY;
        }
    free(want);
    return rc;
}

/* One attempt: 0, ERR_TIMEOUT (the live tables were busy: try again) or another error. */
static int swap_once(rebuild *r)
{
    buf sql = {0}, lock = {0};
    char lt[64];
    snprintf(lt, sizeof lt, "SET LOCAL lock_timeout = %" PRId64, O.lock_timeout_ms);
    int rc = schema_swap_sql(r->live, r->rbs, &sql) || schema_lock_sql(r->live, &lock) ? ERR_NOMEM : 0;
    rc = rc ? rc : ctl_exec(r, "BEGIN", "begin");
    rc = rc ? rc : ctl_exec(r, lt, "lock_timeout");
    rc = rc ? rc : ctl_exec(r, lock.data, "lock live tables");
    rc = rc ? rc : reach_live(r);
    rc = rc ? rc : ctl_exec(r, sql.data, "swap");
    rc = rc ? rc : ctl_exec(r, "COMMIT", "commit");
    buf_free(&sql);
    buf_free(&lock);
    if (rc != 0) {
        PQclear(PQexec(r->ctl, "ROLLBACK"));
        if (strstr(r->err, "lock timeout") || strstr(r->err, "deadlock"))
            return ERR_TIMEOUT;
    }
    return rc;
}

static int swap(rebuild *r)
{
    for (int64_t attempt = 1;; attempt++) {
        int rc = swap_once(r);
        if (rc != ERR_TIMEOUT || attempt >= O.swap_attempts || sig_stopping())
            return rc == ERR_TIMEOUT ? ERR_RETRY : rc;
        log_warn("live tables busy: swap again", "attempt=%" PRId64 " error=%s", attempt, r->err);
        if ((rc = catch_up(r)) != 0)
            return rc;
    }
}

/* ---- main ---- */

static void rebuild_free(rebuild *r)
{
    kread_free(r->k);
    store_free(r->st);
    if (r->ctl)
        PQfinish(r->ctl);
    schema_free(r->live);
    schema_free(r->rbs);
    rsvp_json_free(r->json);
    buf_free(&r->packed);
    free(r->parts);
    free(r->next);
    free(r->end);
    free(r->parsed_end);
}

static int run(rebuild *r)
{
    int rc = make_schemas(r);
    rc = rc ? rc : ctl_connect(r);
    rc = rc ? rc : prepare_tables(r);
    long parsed_rows = 0;
    if (rc == 0 && r->raw)
        rc = rows_of(r, O.parsed_topic, &parsed_rows);
    if (rc == 0 && r->raw && parsed_rows == 0) {
        /* the raw phase: parse raw again up to the cut */
        r->topic = O.raw_topic;
        r->parsing = 1;
        rc = open_source(r);
        rc = rc ? rc : take_cut(r);
        log_info("rebuild", "from=raw topic=%s partitions=%d", r->topic, (int)r->nparts);
        rc = rc ? rc : count_to_end(r);
        rc = rc ? rc : end_raw_phase(r);
        r->parsing = 0;
    }
    /* the parsed phase (all of a rebuild from parsed), up to the live end, then the swap */
    r->topic = O.parsed_topic;
    rc = rc ? rc : open_source(r);
    if (rc == 0)
        log_info("rebuild", "from=%s topic=%s partitions=%d", O.from, r->topic, (int)r->nparts);
    rc = rc ? rc : count_to_end(r);
    rc = rc ? rc : catch_up(r);
    rc = rc ? rc : swap(r);
    return rc;
}

int rebuild_main(int argc, char **argv)
{
    int rc =
        cfg_parse("rsvpctl rebuild",
                  "recount the PostgreSQL side from Kafka into new tables, swap them in while the pipeline "
                  "runs",
                  rebuild_options, argc, argv);
    if (rc != 0) {
        cfg_free(rebuild_options);
        return rc == 1 ? 0 : 2;
    }
    rebuild r;
    memset(&r, 0, sizeof r);
    log_level level;
    int bad = log_level_parse(O.log_level, &level) != 0;
    r.raw = !strcmp(O.from, "raw");
    if (bad || (!r.raw && strcmp(O.from, "parsed") != 0) ||
        (r.raw && !O.pause_parsers && !O.parsers_stopped)) {
        fprintf(stderr, "rsvpctl rebuild: %s\n",
                bad ? "--log-level: unknown level"
                : !r.raw && strcmp(O.from, "parsed") != 0
                    ? "--from: parsed or raw"
                    : "--from raw needs the parsers stopped for the cut: --pause-parsers (under rsvpctl up) "
                      "or stop them and pass --parsers-stopped");
        cfg_free(rebuild_options);
        return 2;
    }
    log_init("rsvpctl", "rsvpctl-rebuild", level);
    sig_init();
    r.topic = O.parsed_topic;
    r.t0 = clock_mono_ms();
    rsvp_json_limits lim = rsvp_json_limits_default();
    lim.max_message_bytes = (size_t)O.max_message_bytes;
    lim.max_string_bytes = (size_t)O.max_string_bytes;
    if (rsvp_json_mode_parse(O.validation, &lim.mode) != 0) {
        fprintf(stderr, "rsvpctl rebuild: --validation: '%s' is neither reference nor strict\n",
                O.validation);
        cfg_free(rebuild_options);
        return 2;
    }
    rc = rsvp_json_new(&r.json, &lim);
    rc = rc ? rc : run(&r);
    double secs = (double)(clock_mono_ms() - r.t0) / 1000.0;
    if (rc == 0) {
        log_info("swapped", "from=%s topic=%s messages=%" PRIu64 " batches=%" PRIu64 " seconds=%.1f", O.from,
                 r.topic, r.messages, r.counted_batches, secs);
        printf("{\"from\":\"%s\",\"topic\":\"%s\",\"messages\":%" PRIu64 ",\"batches\":%" PRIu64
               ",\"seconds\":%.1f,\"swapped\":true}\n",
               O.from, r.topic, r.messages, r.counted_batches, secs);
    } else {
        fprintf(stderr, "rsvpctl rebuild: %s\n",
                rc == ERR_CLOSED ? "stopped by a signal"
                : r.err[0]       ? r.err
                                 : err_str(rc));
        if (rc != ERR_INVALID && rc != ERR_STALE)
            fprintf(stderr,
                    "rsvpctl rebuild: nothing was swapped; run it again to continue from where it stopped\n");
    }
    rebuild_free(&r);
    cfg_free(rebuild_options);
    return rc == 0 ? 0 : rc == ERR_INVALID ? 2 : 1;
}
