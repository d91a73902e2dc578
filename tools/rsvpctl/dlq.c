/* dlq.c: `rsvpctl dlq list|redrive` (see dlq.h). The re-drive is a consume-transform-produce over the
 * dead-letter topic: each chosen dead letter is parsed again and, in one Kafka transaction, the
 * parsed record (if it parses now) and its ledger record are written; a crash aborts the open
 * transaction (the next run's init_transactions, same transactional id, fences and aborts it), so
 * the ledger read at start is exactly what was committed. */
#include "tools/rsvpctl/dlq.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/sig.h"
#include "proto/rsvp.pb-c.h"
#include "services/parser/rsvp_json.h"
#include "services/writer/schema.h"
#include "tools/rsvpctl/kread.h"

#define TXN_TIMEOUT_MS 30000
#define MAX_REASONS    64 /* distinct reason names tracked; more are counted as "other" */

/* ---- the ledger: (partition, offset) of a dead letter -> outcome, open addressing ---- */

typedef struct lentry {
    uint64_t key; /* partition << 48 | offset, + 1 (0 = empty slot) */
    uint8_t outcome;
    uint8_t reason; /* index into reasons[] for DLQ_FAILED */
} lentry;

typedef struct ledger {
    lentry *slot;
    size_t cap, n;
} ledger;

/* Reason names seen (header values and new reasons), interned. */
static char reasons[MAX_REASONS][40];
static int nreasons;

static int reason_id(const char *name)
{
    for (int i = 0; i < nreasons; i++)
        if (!strcmp(reasons[i], name))
            return i;
    if (nreasons == MAX_REASONS)
        return MAX_REASONS - 1; /* the last slot doubles as "other" */
    snprintf(reasons[nreasons], sizeof reasons[0], "%s", name);
    return nreasons++;
}

static uint64_t lkey(int32_t p, int64_t off)
{
    return (((uint64_t)(uint32_t)p << 48) | ((uint64_t)off & 0xffffffffffffULL)) + 1;
}

static lentry *ledger_find(ledger *l, uint64_t k, int insert)
{
    if (insert && (l->n + 1) * 2 > l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 1024;
        lentry *ns = calloc(nc, sizeof *ns);
        if (ns == NULL)
            return NULL;
        for (size_t i = 0; i < l->cap; i++)
            if (l->slot[i].key) {
                size_t j = (size_t)(l->slot[i].key * 0x9e3779b97f4a7c15ULL >> 20) & (nc - 1);
                while (ns[j].key)
                    j = (j + 1) & (nc - 1);
                ns[j] = l->slot[i];
            }
        free(l->slot);
        l->slot = ns;
        l->cap = nc;
    }
    if (l->cap == 0)
        return NULL;
    size_t j = (size_t)(k * 0x9e3779b97f4a7c15ULL >> 20) & (l->cap - 1);
    while (l->slot[j].key && l->slot[j].key != k)
        j = (j + 1) & (l->cap - 1);
    if (l->slot[j].key == 0) {
        if (!insert)
            return NULL;
        l->slot[j].key = k;
        l->n++;
    }
    return &l->slot[j];
}

void dlq_ledger_key(int32_t partition, int64_t offset, char *out, size_t cap)
{
    snprintf(out, cap, "%" PRId32 ":%" PRId64, partition, offset);
}

/* The string value of "field":"..." in a flat JSON object we wrote (no escapes in our values). */
static int json_str(const char *val, size_t vlen, const char *field, char *out, size_t cap)
{
    char pat[48];
    snprintf(pat, sizeof pat, "\"%s\":\"", field);
    size_t pl = strlen(pat);
    for (size_t i = 0; i + pl <= vlen; i++) {
        if (memcmp(val + i, pat, pl) != 0)
            continue;
        size_t s = i + pl, e = s;
        while (e < vlen && val[e] != '"' && val[e] != '\\')
            e++;
        if (e == vlen || val[e] != '"' || e - s >= cap)
            return ERR_INVALID;
        memcpy(out, val + s, e - s);
        out[e - s] = '\0';
        return 0;
    }
    return ERR_INVALID;
}

int dlq_ledger_parse(const char *key, size_t klen, const char *val, size_t vlen, int32_t *partition,
                     int64_t *offset, dlq_outcome *outcome, char *reason, size_t cap)
{
    char k[48], o[24];
    if (key == NULL || val == NULL || klen == 0 || klen >= sizeof k)
        return ERR_INVALID;
    memcpy(k, key, klen);
    k[klen] = '\0';
    char *colon = strchr(k, ':'), *end = NULL;
    if (colon == NULL)
        return ERR_INVALID;
    long p = strtol(k, &end, 10);
    if (end == k || end != colon || p < 0 || p > 65535)
        return ERR_INVALID;
    long long off = strtoll(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || off < 0)
        return ERR_INVALID;
    if (json_str(val, vlen, "outcome", o, sizeof o) != 0)
        return ERR_INVALID;
    if (!strcmp(o, "redriven")) {
        *outcome = DLQ_REDRIVEN;
        if (cap)
            reason[0] = '\0';
    } else if (!strcmp(o, "failed")) {
        *outcome = DLQ_FAILED;
        if (json_str(val, vlen, "reason", reason, cap) != 0)
            return ERR_INVALID;
    } else {
        return ERR_INVALID;
    }
    *partition = (int32_t)p;
    *offset = off;
    return 0;
}

/* ---- options ---- */

static struct {
    char *dlq_topic, *ledger_topic, *parsed_topic, *pg_url, *offsets_table, *reasons, *validation;
    int64_t partition, from_offset, to_offset, max_message_bytes, max_string_bytes, txn_messages, rate;
    int json, dry_run;
    char *log_level;
} O;

/* clang-format off */
static const cfg_option dlq_options[] = {
    {"dlq-topic", "DLQ_TOPIC", CFG_STRING, "rsvps.dlq", "the parser's dead-letter topic", 0, 0, 0, &O.dlq_topic},
    {"ledger-topic", "DLQ_LEDGER_TOPIC", CFG_STRING, NULL,
     "where re-drive outcomes are recorded (default <dlq-topic>.redriven; created, compacted)", 0, 0, 0,
     &O.ledger_topic},
    {"parsed-topic", "PARSED_TOPIC", CFG_STRING, "rsvps.parsed", "where re-driven RSVPs go", 0, 0, 0,
     &O.parsed_topic},
    {"pg-url", "PG_URL", CFG_STRING, "postgresql://postgres@127.0.0.1:15432/postgres",
     "PostgreSQL with the writer's tables (a rebuild's raw cut; one re-drive or rebuild at a time)", 0, 0, 1,
     &O.pg_url},
    {"offsets-table", "OFFSETS_TABLE", CFG_STRING, "rsvp_offsets", "the writer's offsets table", 0, 0, 0,
     &O.offsets_table},
    {"reason", "DLQ_REASON", CFG_STRING, NULL, "only dead letters whose reason is in this comma-separated list",
     0, 0, 0, &O.reasons},
    {"partition", "DLQ_PARTITION", CFG_INT, "-1", "only this partition of the dead-letter topic (-1: all)", -1,
     65535, 0, &O.partition},
    {"from-offset", "DLQ_FROM_OFFSET", CFG_INT, "0", "only dead letters at this offset or later", 0, 0, 0,
     &O.from_offset},
    {"to-offset", "DLQ_TO_OFFSET", CFG_INT, "-1", "only dead letters before this offset (-1: the end)", -1,
     INT64_MAX, 0,
     &O.to_offset},
    {"validation", "VALIDATION", CFG_STRING, "reference", "the parser's mode (as rsvp-parser): reference or strict",
     0, 0, 0, &O.validation},
    {"max-message-bytes", "MAX_MESSAGE_BYTES", CFG_SIZE, "1M", "the parser's limit (as rsvp-parser)", 1,
     (int64_t)1 << 30, 0, &O.max_message_bytes},
    {"max-string-bytes", "MAX_STRING_BYTES", CFG_SIZE, "1024", "the parser's limit (as rsvp-parser)", 1,
     (int64_t)1 << 30, 0, &O.max_string_bytes},
    {"txn-messages", "DLQ_TXN_MESSAGES", CFG_INT, "500", "dead letters per Kafka transaction", 1, 1000000, 0,
     &O.txn_messages},
    {"rate", "DLQ_RATE", CFG_INT, "0", "re-drive at most this many dead letters per second (0: no limit)", 0,
     10000000, 0, &O.rate},
    {"dry-run", NULL, CFG_BOOL, "false", "redrive: parse and report, write nothing", 0, 0, 0, &O.dry_run},
    {"json", NULL, CFG_BOOL, "false", "print one JSON object instead of a table", 0, 0, 0, &O.json},
    {"log-level", "LOG_LEVEL", CFG_STRING, "warn", "log level: debug, info, warn, error", 0, 0, 0,
     &O.log_level},
    {NULL, NULL, CFG_STRING, NULL, NULL, 0, 0, 0, NULL},
};
/* clang-format on */

/* ---- counts by reason ---- */

typedef struct tally {
    uint64_t pending[MAX_REASONS], redriven[MAX_REASONS], failed[MAX_REASONS], superseded[MAX_REASONS];
    int64_t lo[MAX_REASONS], hi[MAX_REASONS]; /* pending: lowest and highest dead-letter offset */
    uint64_t no_payload, total;
} tally;

/* A rebuild from a source topic's cut (rsvp_offsets rows of topics other than the parsed topic). */
typedef struct cut {
    char topic[256];
    int32_t partition;
    int64_t next;
} cut;

typedef struct run {
    ledger led;
    cut *cuts;
    size_t ncuts;
    PGconn *pg;
    kread *dlq;
    int32_t nparts;
    rd_kafka_t *producer;
    rd_kafka_topic_t *parsed_rkt, *ledger_rkt;
    rsvp_json *json;
    tally t;
    buf val, out;
    int txn_open;
    int64_t in_txn;
    char err[512];
} run;

static int wanted_reason(const char *r)
{
    if (O.reasons == NULL || !*O.reasons)
        return 1;
    size_t n = strlen(r);
    for (const char *p = O.reasons; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !memcmp(p, r, n))
            return 1;
        p += len + (e ? 1 : 0);
    }
    return 0;
}

static const char *header(const rd_kafka_message_t *m, const char *name, char *out, size_t cap)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h ||
        rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v || n >= cap)
        return NULL;
    memcpy(out, v, n);
    out[n] = '\0';
    return out;
}

/* Was the raw message of this dead letter recounted by a rebuild from its topic? */
static int superseded(const run *r, const rd_kafka_message_t *m)
{
    char topic[256], part[16], off[24];
    if (!header(m, "source_topic", topic, sizeof topic) ||
        !header(m, "source_partition", part, sizeof part) || !header(m, "source_offset", off, sizeof off))
        return 0;
    int32_t p = (int32_t)strtol(part, NULL, 10);
    int64_t o = strtoll(off, NULL, 10);
    for (size_t i = 0; i < r->ncuts; i++)
        if (r->cuts[i].partition == p && !strcmp(r->cuts[i].topic, topic) && o < r->cuts[i].next)
            return 1;
    return 0;
}

/* ---- setup ---- */

/* PostgreSQL: the exclusive lock (redrive) and the cuts of rebuilds from other topics. */
static int pg_setup(run *r, int lock)
{
    r->pg = PQconnectdb(O.pg_url);
    if (PQstatus(r->pg) != CONNECTION_OK) {
        snprintf(r->err, sizeof r->err, "PostgreSQL: %s", PQerrorMessage(r->pg));
        return ERR_RETRY;
    }
    PGresult *res;
    if (lock) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%lld)", (long long)RSVPCTL_EXCLUSIVE_LOCK_KEY);
        res = PQexec(r->pg, sql);
        int got = PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
        if (!got) {
            snprintf(r->err, sizeof r->err,
                     "another rsvpctl rebuild or dlq redrive is running on this database");
            return ERR_STALE;
        }
    }
    /* the table name, checked and quoted the writer's way; it may not exist yet (nothing written) */
    schema *sch = NULL;
    const char *why = "";
    if (schema_new(&sch, "meetup_table", "rsvp_counts", O.offsets_table, "rsvp_batches", &why) != 0) {
        snprintf(r->err, sizeof r->err, "--offsets-table %s: not an SQL identifier", O.offsets_table);
        return ERR_INVALID;
    }
    const char *qname = schema_table_quoted(sch, SCHEMA_T_OFFSETS);
    res = PQexecParams(r->pg, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, &qname, NULL, NULL, 0);
    int exists = PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    buf q = {0};
    int rc = buf_printf(&q, "SELECT topic, partition, next_offset FROM %s WHERE topic <> $1", qname);
    schema_free(sch);
    res = NULL;
    if (rc == 0 && exists) {
        const char *vals[1] = {O.parsed_topic};
        res = PQexecParams(r->pg, q.data, 1, NULL, vals, NULL, NULL, 0);
    }
    buf_free(&q);
    if (res && PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(r->err, sizeof r->err, "reading %s: %s", O.offsets_table, PQerrorMessage(r->pg));
        PQclear(res);
        return ERR_RETRY;
    }
    int n = res ? PQntuples(res) : 0;
    r->cuts = calloc((size_t)n + 1, sizeof *r->cuts);
    for (int i = 0; r->cuts && i < n; i++) {
        snprintf(r->cuts[i].topic, sizeof r->cuts[i].topic, "%s", PQgetvalue(res, i, 0));
        r->cuts[i].partition = (int32_t)strtol(PQgetvalue(res, i, 1), NULL, 10);
        r->cuts[i].next = strtoll(PQgetvalue(res, i, 2), NULL, 10);
    }
    r->ncuts = r->cuts ? (size_t)n : 0;
    PQclear(res);
    return r->cuts ? 0 : ERR_NOMEM;
}

/* The ledger topic, created (compacted, one partition) unless it exists. */
static int ensure_ledger_topic(run *r, rd_kafka_t *rk)
{
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(O.ledger_topic, 1, -1, r->err, sizeof r->err);
    if (nt == NULL)
        return ERR_INVALID;
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = 0;
    if (ev == NULL) {
        snprintf(r->err, sizeof r->err, "creating %s: no answer in 30 s", O.ledger_topic);
        rc = ERR_RETRY;
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
        if (!e && n == 1)
            e = rd_kafka_topic_result_error(tr[0]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            snprintf(r->err, sizeof r->err, "creating %s: %s", O.ledger_topic, rd_kafka_err2str(e));
            rc = ERR_RETRY;
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* Read the whole ledger (committed records: after our init_transactions nothing of ours is open). */
static int load_ledger(run *r)
{
    kread *k = NULL;
    int32_t n = 0;
    int rc = kread_new(&k, O.ledger_topic, 30000, &n, r->err, sizeof r->err);
    if (rc != 0)
        return rc;
    int32_t *parts = calloc((size_t)n, sizeof *parts);
    int64_t *start = calloc((size_t)n, sizeof *start), *end = calloc((size_t)n, sizeof *end);
    rc = parts && start && end ? 0 : ERR_NOMEM;
    for (int32_t i = 0; i < n && rc == 0; i++) {
        int64_t lo;
        parts[i] = i;
        start[i] = -1;
        rc = kread_watermarks(k, i, &lo, &end[i], r->err, sizeof r->err);
    }
    rc = rc ? rc : kread_start(k, parts, start, end, (size_t)n, r->err, sizeof r->err);
    rd_kafka_message_t *m;
    int got;
    while (rc == 0 && (got = kread_next(k, &m, 1000, r->err, sizeof r->err)) != 0) {
        if (got == ERR_TIMEOUT)
            continue;
        if (got < 0) {
            rc = got;
            break;
        }
        int32_t p;
        int64_t off;
        dlq_outcome oc;
        char why[40];
        if (dlq_ledger_parse(m->key, m->key_len, m->payload, m->len, &p, &off, &oc, why, sizeof why) == 0) {
            lentry *e = ledger_find(&r->led, lkey(p, off), 1);
            if (e == NULL)
                rc = ERR_NOMEM;
            else {
                e->outcome = (uint8_t)oc;
                e->reason = (uint8_t)(oc == DLQ_FAILED ? reason_id(why) : 0);
            }
        }
        rd_kafka_message_destroy(m);
    }
    free(parts);
    free(start);
    free(end);
    kread_free(k);
    return rc;
}

/* Start reading the chosen range of the dead-letter topic. */
static int open_dlq(run *r)
{
    int rc = kread_new(&r->dlq, O.dlq_topic, 30000, &r->nparts, r->err, sizeof r->err);
    if (rc != 0)
        return rc;
    int32_t *parts = calloc((size_t)r->nparts, sizeof *parts);
    int64_t *start = calloc((size_t)r->nparts, sizeof *start), *end = calloc((size_t)r->nparts, sizeof *end);
    size_t n = 0;
    rc = parts && start && end ? 0 : ERR_NOMEM;
    for (int32_t i = 0; i < r->nparts && rc == 0; i++) {
        if (O.partition >= 0 && i != O.partition)
            continue;
        int64_t lo, hi;
        rc = kread_watermarks(r->dlq, i, &lo, &hi, r->err, sizeof r->err);
        parts[n] = i;
        start[n] = O.from_offset > lo ? O.from_offset : -1;
        end[n] = O.to_offset >= 0 && O.to_offset < hi ? O.to_offset : hi;
        n++;
    }
    rc = rc ? rc : kread_start(r->dlq, parts, start, end, n, r->err, sizeof r->err);
    free(parts);
    free(start);
    free(end);
    return rc;
}

/* ---- the re-drive's transactions ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        log_warn("delivery failed", "topic=%s error=%s", rd_kafka_topic_name(m->rkt),
                 rd_kafka_err2str(m->err));
}

static int producer_setup(run *r)
{
    char txn_id[300];
    snprintf(txn_id, sizeof txn_id, "rsvpctl-dlq-%s", O.dlq_topic);
    const char *defaults[] = {"client.id", "rsvpctl-dlq", "linger.ms", "5", NULL};
    rd_kafka_conf_t *conf = NULL;
    if (kafka_conf_new(&conf, "rsvpctl", defaults, r->err, sizeof r->err) != 0)
        return ERR_INVALID;
    if (rd_kafka_conf_set(conf, "transactional.id", txn_id, r->err, sizeof r->err) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return ERR_INVALID;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    r->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, r->err, sizeof r->err);
    if (r->producer == NULL) {
        rd_kafka_conf_destroy(conf);
        return ERR_INVALID;
    }
    int rc = ensure_ledger_topic(r, r->producer);
    if (rc != 0)
        return rc;
    /* fences an earlier run with the same id and aborts what it left open */
    backoff bo;
    backoff_init(&bo, 200, 5000, 0);
    rc = kafka_init_transactions(r->producer, &bo, r->err, sizeof r->err);
    if (rc != 0)
        return rc == ERR_CLOSED ? ERR_CLOSED : ERR_RETRY;
    r->parsed_rkt = rd_kafka_topic_new(r->producer, O.parsed_topic, NULL);
    r->ledger_rkt = rd_kafka_topic_new(r->producer, O.ledger_topic, NULL);
    return r->parsed_rkt && r->ledger_rkt ? 0 : ERR_NOMEM;
}

static int txn_commit(run *r)
{
    if (!r->txn_open)
        return 0;
    for (int attempt = 0;; attempt++) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(r->producer, TXN_TIMEOUT_MS);
        if (e == NULL)
            break;
        int retriable = rd_kafka_error_is_retriable(e) && attempt < 10;
        snprintf(r->err, sizeof r->err, "commit: %s", rd_kafka_error_string(e));
        int abortable = rd_kafka_error_txn_requires_abort(e);
        rd_kafka_error_destroy(e);
        if (retriable)
            continue;
        if (abortable) {
            rd_kafka_error_t *a = rd_kafka_abort_transaction(r->producer, TXN_TIMEOUT_MS);
            if (a)
                rd_kafka_error_destroy(a);
        }
        return ERR_RETRY; /* nothing of this transaction counts: a rerun redoes it */
    }
    r->txn_open = 0;
    r->in_txn = 0;
    return 0;
}

static rd_kafka_resp_err_t produce(run *r, rd_kafka_topic_t *rkt, const void *key, size_t klen,
                                   const void *val, size_t vlen)
{
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(r->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return e;
        rd_kafka_poll(r->producer, 10);
    }
}

/* Re-drive one dead letter: parse, produce the record (if it parses) and the outcome. */
static int redrive_one(run *r, const rd_kafka_message_t *m, int *ok, const char **why)
{
    Rsvp__V1__Rsvp *x = NULL;
    rsvp_json_reason rr = rsvp_json_parse(r->json, m->payload, m->len, &x);
    *ok = rr == RSVP_JSON_OK;
    *why = *ok ? "" : rsvp_json_reason_str(rr);
    if (O.dry_run)
        return 0;
    if (!r->txn_open) {
        rd_kafka_error_t *e = rd_kafka_begin_transaction(r->producer);
        if (e) {
            snprintf(r->err, sizeof r->err, "begin transaction: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            return ERR_FATAL;
        }
        r->txn_open = 1;
    }
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (*ok) {
        /* freshness of a re-driven RSVP is measured from its re-drive */
        x->has_ingest_time_ms = 1;
        x->ingest_time_ms = clock_wall_ms();
        buf_reset(&r->out);
        size_t n = rsvp__v1__rsvp__get_packed_size(x);
        if (buf_reserve(&r->out, n) != 0)
            return ERR_NOMEM;
        r->out.len = rsvp__v1__rsvp__pack(x, (uint8_t *)r->out.data);
        const char *key = x->event->event_id;
        e = produce(r, r->parsed_rkt, key, strlen(key), r->out.data, r->out.len);
    }
    char lk[32];
    dlq_ledger_key(m->partition, m->offset, lk, sizeof lk);
    buf_reset(&r->val);
    if (buf_printf(&r->val, "{\"outcome\":\"%s\"%s%s%s,\"at_ms\":%" PRId64 "}", *ok ? "redriven" : "failed",
                   *ok ? "" : ",\"reason\":\"", *why, *ok ? "" : "\"", clock_wall_ms()) != 0)
        return ERR_NOMEM;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        e = produce(r, r->ledger_rkt, lk, strlen(lk), r->val.data, r->val.len);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(r->err, sizeof r->err, "produce: %s", rd_kafka_err2str(e));
        return ERR_RETRY;
    }
    r->in_txn++;
    return 0;
}

/* ---- the two commands ---- */

static void print_tally(const run *r, int redrive, uint64_t done_ok, uint64_t done_failed, uint64_t skipped)
{
    const tally *t = &r->t;
    if (O.json) {
        printf("{\"dead_letters\":%" PRIu64 ",\"no_payload\":%" PRIu64, t->total, t->no_payload);
        if (redrive)
            printf(",\"redriven_now\":%" PRIu64 ",\"failed_again_now\":%" PRIu64 ",\"skipped\":%" PRIu64
                   ",\"dry_run\":%s",
                   done_ok, done_failed, skipped, O.dry_run ? "true" : "false");
        printf(",\"reasons\":{");
        for (int i = 0, first = 1; i < nreasons; i++) {
            if (!t->pending[i] && !t->redriven[i] && !t->failed[i] && !t->superseded[i])
                continue;
            printf("%s\"%s\":{\"pending\":%" PRIu64 ",\"redriven\":%" PRIu64 ",\"failed_again\":%" PRIu64
                   ",\"superseded\":%" PRIu64 "}",
                   first ? "" : ",", reasons[i], t->pending[i], t->redriven[i], t->failed[i],
                   t->superseded[i]);
            first = 0;
        }
        printf("}}\n");
        return;
    }
    printf("%-20s %10s %10s %13s %11s  %s\n", "REASON", "PENDING", "REDRIVEN", "FAILED_AGAIN", "SUPERSEDED",
           "PENDING OFFSETS");
    for (int i = 0; i < nreasons; i++) {
        if (!t->pending[i] && !t->redriven[i] && !t->failed[i] && !t->superseded[i])
            continue;
        char range[64] = "-";
        if (t->pending[i])
            snprintf(range, sizeof range, "%" PRId64 "..%" PRId64, t->lo[i], t->hi[i]);
        printf("%-20s %10" PRIu64 " %10" PRIu64 " %13" PRIu64 " %11" PRIu64 "  %s\n", reasons[i],
               t->pending[i], t->redriven[i], t->failed[i], t->superseded[i], range);
    }
    printf("%" PRIu64 " dead letters in %s%s", t->total, O.dlq_topic, t->no_payload ? "" : "\n");
    if (t->no_payload)
        printf(", %" PRIu64 " without payload (too large for the broker: cannot be re-driven)\n",
               t->no_payload);
    if (redrive)
        printf("%s: %" PRIu64 " re-driven into %s, %" PRIu64
               " failed again (kept, new reason above), %" PRIu64 " not chosen or already done\n",
               O.dry_run ? "dry run" : "re-drive", done_ok, O.parsed_topic, done_failed, skipped);
}

/* One pass over the chosen dead letters: tally each; with redrive, re-drive the chosen pending ones. */
static int pass(run *r, int redrive)
{
    rd_kafka_message_t *m;
    int got, rc = 0;
    uint64_t done_ok = 0, done_failed = 0, skipped = 0;
    pacer pace; /* from the first re-drive, not while the consumer starts; a stall earns at most 1 s */
    pacer_init(&pace, O.rate, 1000);
    while ((got = kread_next(r->dlq, &m, 1000, r->err, sizeof r->err)) != 0) {
        if (sig_stopping()) {
            if (got == 1)
                rd_kafka_message_destroy(m);
            rc = ERR_CLOSED;
            break;
        }
        if (got == ERR_TIMEOUT)
            continue;
        if (got < 0) {
            rc = got;
            break;
        }
        char hr[40];
        int orig = reason_id(header(m, "reason", hr, sizeof hr) ? hr : "unknown");
        const lentry *e = ledger_find(&r->led, lkey(m->partition, m->offset), 0);
        int cur = e && e->outcome == DLQ_FAILED ? e->reason : orig;
        r->t.total++;
        int chosen = 0;
        if (e && e->outcome == DLQ_REDRIVEN) {
            r->t.redriven[orig]++;
        } else if (superseded(r, m)) {
            r->t.superseded[cur]++;
        } else if (m->payload == NULL || m->len == 0) {
            r->t.no_payload++;
        } else {
            chosen = redrive && wanted_reason(reasons[cur]);
            if (!chosen) {
                if (e && e->outcome == DLQ_FAILED)
                    r->t.failed[cur]++;
                else
                    r->t.pending[cur]++;
                if (!(e && e->outcome == DLQ_FAILED)) {
                    if (r->t.pending[cur] == 1 || m->offset < r->t.lo[cur])
                        r->t.lo[cur] = m->offset;
                    if (m->offset > r->t.hi[cur])
                        r->t.hi[cur] = m->offset;
                }
            }
        }
        if (!chosen) {
            skipped += redrive;
            rd_kafka_message_destroy(m);
            continue;
        }
        int ok;
        const char *why;
        rc = redrive_one(r, m, &ok, &why);
        rd_kafka_message_destroy(m);
        if (rc != 0)
            break;
        if (ok) {
            done_ok++;
            r->t.redriven[orig]++;
        } else {
            done_failed++;
            r->t.failed[reason_id(why)]++;
        }
        if (r->in_txn >= O.txn_messages && (rc = txn_commit(r)) != 0)
            break;
        int64_t wait = pacer_next(&pace, clock_mono_ms());
        if (wait > 0) {
            if ((rc = txn_commit(r)) != 0) /* a paced run commits what it has before waiting */
                break;
            clock_sleep_ms(wait);
        }
    }
    if (rc == 0 || rc == ERR_CLOSED) {
        int crc = txn_commit(r); /* also on a stop signal: keep what was done */
        rc = rc ? rc : crc;
    }
    if (rc == 0 || rc == ERR_CLOSED)
        print_tally(r, redrive, done_ok, done_failed, skipped);
    return rc;
}

static void run_free(run *r)
{
    kread_free(r->dlq);
    if (r->parsed_rkt)
        rd_kafka_topic_destroy(r->parsed_rkt);
    if (r->ledger_rkt)
        rd_kafka_topic_destroy(r->ledger_rkt);
    kafka_producer_destroy(r->producer, r->txn_open, 5000);
    rsvp_json_free(r->json);
    free(r->led.slot);
    free(r->cuts);
    buf_free(&r->val);
    buf_free(&r->out);
    if (r->pg)
        PQfinish(r->pg);
}

int dlq_main(int argc, char **argv)
{
    static const char usage[] =
        "Usage: rsvpctl dlq list [options]       dead letters by reason: pending, re-driven, failed again\n"
        "       rsvpctl dlq redrive [options]    re-drive the chosen ones through the parser, exactly once\n"
        "Choose with --reason, --partition, --from-offset, --to-offset; see --help.\n";
    const char *cmd = argc > 1 ? argv[1] : "";
    int redrive = !strcmp(cmd, "redrive");
    if (!redrive && strcmp(cmd, "list") != 0) {
        fputs(usage, !strcmp(cmd, "--help") || !strcmp(cmd, "-h") ? stdout : stderr);
        return !strcmp(cmd, "--help") || !strcmp(cmd, "-h") ? 0 : 2;
    }
    int rc =
        cfg_parse(redrive ? "rsvpctl dlq redrive" : "rsvpctl dlq list",
                  redrive ? "re-drive dead letters through the parser into the parsed topic, exactly once"
                          : "dead letters by reason",
                  dlq_options, argc - 1, argv + 1);
    if (rc != 0) {
        cfg_free(dlq_options);
        return rc == 1 ? 0 : 2;
    }
    log_level level;
    if (log_level_parse(O.log_level, &level) != 0) {
        fprintf(stderr, "rsvpctl dlq: --log-level: %s: unknown level\n", O.log_level);
        cfg_free(dlq_options);
        return 2;
    }
    log_init("rsvpctl", "rsvpctl-dlq", level);
    sig_init();
    char ledger_name[300];
    if (O.ledger_topic == NULL || !*O.ledger_topic) {
        snprintf(ledger_name, sizeof ledger_name, "%s.redriven", O.dlq_topic);
        O.ledger_topic = ledger_name;
    }
    run r;
    memset(&r, 0, sizeof r);
    rsvp_json_limits lim = rsvp_json_limits_default();
    lim.max_message_bytes = (size_t)O.max_message_bytes;
    lim.max_string_bytes = (size_t)O.max_string_bytes;
    if (rsvp_json_mode_parse(O.validation, &lim.mode) != 0) {
        fprintf(stderr, "rsvpctl dlq: --validation: '%s' is neither reference nor strict\n", O.validation);
        cfg_free(dlq_options);
        return 2;
    }
    /* order: the exclusive lock and the cuts, then the producer (fencing an earlier run), then the
     * ledger as committed, then the dead letters */
    rc = rsvp_json_new(&r.json, &lim);
    if (rc == 0)
        rc = pg_setup(&r, redrive && !O.dry_run);
    if (rc == 0 && redrive && !O.dry_run)
        rc = producer_setup(&r);
    /* a ledger topic just created may take a moment to show in the metadata */
    for (int tries = 0; rc == 0 || (rc == ERR_NOTFOUND && redrive && !O.dry_run && tries < 20); tries++) {
        if (rc == ERR_NOTFOUND)
            clock_sleep_ms(500);
        if ((rc = load_ledger(&r)) != ERR_NOTFOUND)
            break;
    }
    if (rc == ERR_NOTFOUND && (!redrive || O.dry_run)) /* nothing was ever re-driven */
        rc = 0;
    if (rc == 0)
        rc = open_dlq(&r);
    if (rc == 0)
        rc = pass(&r, redrive);
    int code = rc == 0 ? 0 : rc == ERR_INVALID ? 2 : 1;
    if (rc != 0)
        fprintf(stderr, "rsvpctl dlq %s: %s\n", cmd, rc == ERR_CLOSED ? "stopped by a signal" : r.err);
    if (O.ledger_topic == ledger_name)
        O.ledger_topic = NULL;
    run_free(&r);
    cfg_free(dlq_options);
    return code;
}
