/* parser.c: the consume-transform-produce loop of rsvp-parser (see parser.h). One thread: the
 * consumer's poll serves the rebalance callback (common/kgroup.h), whose hooks here commit the open
 * transaction before partitions leave. The transactional producer is common/ktxn.h. Metrics count
 * only committed work, so consumed = parsed + dead-lettered. */
#include "services/parser/parser.h"

#include <assert.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/kafka.h"
#include "common/kgroup.h"
#include "common/ktxn.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/sig.h"
#include "services/parser/rsvpenc.h"

#define SEEK_TIMEOUT_MS   30000 /* committed-offsets query and seek of a rewind */
#define POLL_MS           100   /* the loop notices a stop signal within this */
#define PARSE_SAMPLE_MASK 63    /* time one parse in 64 */
/* While messages flow without waiting, the loop reads the clock and serves the producer's delivery
 * reports once per this many messages instead of per message (a vDSO call and a lock each); a poll
 * that waited, a full producer queue or a commit refresh the clock at once. */
#define CLOCK_EVERY         32
#define PRODUCER_POLL_EVERY 64

/* Per partition of the raw topic: offsets of the open transaction. */
typedef struct part_state {
    int64_t first; /* first offset consumed in the open transaction, -1 if none */
    int64_t next;  /* last consumed + 1 */
} part_state;

struct parser {
    parser_opts o;
    char *txn_id;
    httpd *h;
    rd_kafka_t *consumer;
    kgroup group; /* the consumer's rebalance handling */
    ktxn *txn;    /* the producer; payloads live in its blocks */
    rd_kafka_topic_t *parsed_rkt, *dlq_rkt;
    rsvp_json *json;
    /* the open transaction */
    int txn_open;
    int64_t txn_deadline_ms;
    part_state *parts; /* indexed by partition id */
    int nparts;        /* capacity of parts */
    int32_t *touched;  /* partitions with first >= 0, in order of first use */
    int ntouched;
    uint64_t batch_consumed, batch_parsed, batch_dlq[RSVP_JSON_REASON_COUNT];
    uint64_t batch_nullkey, batch_slow; /* dead letters also counted under a NULL key; slow-path reads */
    /* state */
    int fatal;
    int producer_ready, joined;
    uint64_t nparsed_total; /* for parse sampling */
    int waited;             /* produce() waited for queue space: the loop's clock is stale */
    backoff abort_backoff;
    int revoke_aborted; /* the revoke hook aborted the open transaction: rewind after unassign */
    /* metrics */
    mcounter *m_consumed, *m_parsed, *m_dlq[RSVP_JSON_REASON_COUNT], *m_commit, *m_abort, *m_nullkey, *m_slow;
    mhist *m_parse_s;
    mgauge *m_lag;
};

/* ---- small helpers ---- */

static void set_fatal(parser *p, const char *what, const char *why)
{
    if (!p->fatal)
        log_error("fatal kafka error: stopping", "during=%s error=%s", what, why);
    p->fatal = 1;
    httpd_set_ready(p->h, 0, "fatal kafka error");
}

static void update_ready(parser *p)
{
    if (p->fatal)
        return;
    if (p->producer_ready && p->joined)
        httpd_set_ready(p->h, 1, NULL);
    else
        httpd_set_ready(p->h, 0, p->producer_ready ? "joining consumer group" : "initialising producer");
}

/* part_get: the state slot for partition id, growing the table if needed. NULL on ERR_NOMEM. */
static part_state *part_get(parser *p, int32_t id)
{
    if (id < 0)
        return NULL;
    if (id >= p->nparts) {
        int n = p->nparts ? p->nparts : 16;
        while (n <= id)
            n *= 2;
        part_state *ps = realloc(p->parts, sizeof *ps * (size_t)n);
        int32_t *tp = realloc(p->touched, sizeof *tp * (size_t)n);
        if (ps)
            p->parts = ps;
        if (tp)
            p->touched = tp;
        if (!ps || !tp)
            return NULL;
        for (int i = p->nparts; i < n; i++)
            p->parts[i] = (part_state){-1, -1};
        p->nparts = n;
    }
    return &p->parts[id];
}

/* batch_reset: forget the transaction's offsets and counts (after commit or abort). */
static void batch_reset(parser *p)
{
    for (int i = 0; i < p->ntouched; i++)
        p->parts[p->touched[i]] = (part_state){-1, -1};
    p->ntouched = 0;
    p->batch_consumed = p->batch_parsed = p->batch_nullkey = p->batch_slow = 0;
    memset(p->batch_dlq, 0, sizeof p->batch_dlq);
    p->txn_open = 0;
}

/* txn_offsets: the partitions of the open transaction with offset `next` (or `first` when
 * use_first), as a new list the caller destroys. */
static rd_kafka_topic_partition_list_t *txn_offsets(parser *p, int use_first)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(p->ntouched ? p->ntouched : 1);
    for (int i = 0; i < p->ntouched; i++) {
        const part_state *ps = &p->parts[p->touched[i]];
        rd_kafka_topic_partition_list_add(l, p->o.raw_topic, p->touched[i])->offset =
            use_first ? ps->first : ps->next;
    }
    return l;
}

/* ---- transactions ---- */

/* rewind: after an abort, put the consumer back where the committed offsets say, for the
 * partitions of the aborted transaction it still owns; where nothing is committed yet, at the
 * first offset the aborted transaction consumed. Otherwise the aborted input would be skipped. */
static void rewind_consumer(parser *p)
{
    if (p->ntouched == 0)
        return;
    rd_kafka_topic_partition_list_t *firsts = txn_offsets(p, 1);
    rd_kafka_topic_partition_list_t *owned = NULL;
    if (rd_kafka_assignment(p->consumer, &owned) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(firsts);
        return;
    }
    rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_new(firsts->cnt);
    for (int i = 0; i < firsts->cnt; i++)
        if (rd_kafka_topic_partition_list_find(owned, firsts->elems[i].topic, firsts->elems[i].partition))
            rd_kafka_topic_partition_list_add(seek, firsts->elems[i].topic, firsts->elems[i].partition)
                ->offset = RD_KAFKA_OFFSET_INVALID;
    if (seek->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_committed(p->consumer, seek, SEEK_TIMEOUT_MS);
        if (err)
            log_warn("rewind: committed offsets unknown, using the transaction's first offsets", "error=%s",
                     rd_kafka_err2str(err));
        for (int i = 0; i < seek->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &seek->elems[i];
            if (err || tp->err || tp->offset < 0)
                tp->offset = rd_kafka_topic_partition_list_find(firsts, tp->topic, tp->partition)->offset;
            tp->err = RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        rd_kafka_error_t *e = rd_kafka_seek_partitions(p->consumer, seek, SEEK_TIMEOUT_MS);
        if (e) {
            log_error("rewind: seek failed", "error=%s", rd_kafka_error_string(e));
            if (rd_kafka_error_is_fatal(e))
                set_fatal(p, "seek", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        for (int i = 0; i < seek->cnt; i++)
            if (seek->elems[i].err)
                log_error("rewind: seek failed", "partition=%d error=%s", (int)seek->elems[i].partition,
                          rd_kafka_err2str(seek->elems[i].err));
        log_info("rewound after abort", "partitions=%d", seek->cnt);
    }
    rd_kafka_topic_partition_list_destroy(seek);
    rd_kafka_topic_partition_list_destroy(owned);
    rd_kafka_topic_partition_list_destroy(firsts);
}

/* note_aborted: ktxn aborted the open transaction (why); count it. Its offsets stay known (for
 * rewind_consumer) until batch_reset. */
static void note_aborted(parser *p, const char *why)
{
    mcounter_add(p->m_abort, 1);
    log_warn("transaction aborted", "messages=%" PRIu64 " error=%s", p->batch_consumed, why);
}

/* after_abort: drop the aborted transaction's counts, rewinding the consumer first if asked (not
 * when its partitions are leaving anyway). */
static void after_abort(parser *p, int rewind)
{
    if (rewind)
        rewind_consumer(p);
    batch_reset(p);
}

/* txn_commit: commit the open transaction with the consumed offsets (ktxn_commit); on success the
 * batch's counts go to the metrics. Returns 0 (committed or nothing open), ERR_ABORTED (it was
 * aborted: the caller calls after_abort) or ERR_FATAL. */
static int txn_commit(parser *p)
{
    if (!p->txn_open)
        return 0;
    rd_kafka_topic_partition_list_t *offs = NULL;
    rd_kafka_consumer_group_metadata_t *gmd = NULL;
    if (p->ntouched > 0) {
        offs = txn_offsets(p, 0);
        gmd = rd_kafka_consumer_group_metadata(p->consumer);
    }
    char why[512] = "";
    int rc = ktxn_commit(p->txn, offs, gmd, why, sizeof why);
    if (gmd)
        rd_kafka_consumer_group_metadata_destroy(gmd);
    if (offs)
        rd_kafka_topic_partition_list_destroy(offs);
    if (rc == ERR_FATAL) {
        set_fatal(p, "commit", why);
        return rc;
    }
    if (rc == ERR_ABORTED) {
        note_aborted(p, why);
        return rc;
    }
    uint64_t dlq = 0;
    for (int r = 0; r < RSVP_JSON_REASON_COUNT; r++) {
        mcounter_add(p->m_dlq[r], p->batch_dlq[r]);
        dlq += p->batch_dlq[r];
    }
    assert(p->batch_consumed == p->batch_parsed + dlq); /* nothing silently dropped */
    mcounter_add(p->m_parsed, p->batch_parsed);
    mcounter_add(p->m_nullkey, p->batch_nullkey);
    mcounter_add(p->m_slow, p->batch_slow);
    mcounter_add(p->m_consumed, p->batch_consumed);
    mcounter_add(p->m_commit, 1);
    log_debug("transaction committed", "messages=%" PRIu64 " parsed=%" PRIu64 " partitions=%d",
              p->batch_consumed, p->batch_parsed, p->ntouched);
    batch_reset(p);
    backoff_reset(&p->abort_backoff);
    return 0;
}

/* finish_txn: commit; if it was aborted instead, rewind when asked and back off. 0 or ERR_FATAL. */
static int finish_txn(parser *p, int rewind)
{
    int rc = txn_commit(p);
    if (rc != ERR_ABORTED)
        return rc;
    after_abort(p, rewind);
    clock_sleep_ms(backoff_next(&p->abort_backoff));
    return 0;
}

static int txn_begin(parser *p)
{
    char why[512];
    if (ktxn_begin(p->txn, why, sizeof why) != 0) {
        set_fatal(p, "begin_transaction", why);
        return ERR_FATAL;
    }
    p->txn_open = 1;
    p->txn_deadline_ms = clock_mono_ms() + p->o.txn_interval_ms;
    return 0;
}

/* ---- rebalance hooks (common/kgroup.h) ---- */

/* on_assigned: the group gave us partitions (maybe none): ready from now on. */
static void on_assigned(void *ctx, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int rc)
{
    (void)rk;
    (void)parts;
    parser *p = ctx;
    if (rc == ERR_FATAL)
        set_fatal(p, "assign", "the consumer had a fatal error");
    p->joined = 1;
    update_ready(p);
}

/* on_revoke: before partitions go, the open transaction is committed with their offsets (or
 * aborted if they are already lost), so the next owner starts exactly where this one stopped. */
static void on_revoke(void *ctx, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int lost)
{
    (void)rk;
    (void)parts;
    parser *p = ctx;
    p->revoke_aborted = 0;
    if (!p->txn_open || p->fatal)
        return;
    if (!lost) {
        p->revoke_aborted = txn_commit(p) == ERR_ABORTED;
        return;
    }
    char why[512] = "";
    if (ktxn_abort(p->txn, why, sizeof why) != 0) {
        set_fatal(p, "abort_transaction", why);
        return;
    }
    note_aborted(p, "partitions lost");
    p->revoke_aborted = 1;
}

/* on_revoked: after an abort, the partitions of it that stay (cooperative) must be re-read. */
static void on_revoked(void *ctx, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int lost, int rc)
{
    (void)rk;
    (void)parts;
    (void)lost;
    (void)rc;
    parser *p = ctx;
    if (p->revoke_aborted)
        after_abort(p, 1);
    p->revoke_aborted = 0;
    update_ready(p);
}

static const kgroup_hooks REBALANCE_HOOKS = {
    .assigned = on_assigned,
    .revoke = on_revoke,
    .revoked = on_revoked,
};

/* ---- per message ---- */

/* produce: one message into the open transaction (ktxn_send), waiting for queue space. val: the
 * last ktxn_reserve (produced in place) or bytes to copy, or NULL. hdrs: owned by librdkafka on
 * success, by the caller otherwise. 0, ERR_RANGE (too large: nothing sent), ERR_ABORTED or
 * ERR_FATAL. */
static int produce(parser *p, rd_kafka_topic_t *rkt, const void *key, size_t klen, const void *val,
                   size_t vlen, rd_kafka_headers_t *hdrs)
{
    for (;;) {
        int rc = ktxn_send(p->txn, rkt, key, klen, val, vlen, hdrs, 0);
        if (rc != ERR_RETRY)
            return rc;
        if (kafka_fatal())
            return ERR_FATAL;
        ktxn_wait_room(p->txn, 10); /* sends what is queued, frees queue space */
        p->waited = 1;
    }
}

/* dead_letter: the raw message unchanged (key, value, headers) plus reason and source headers.
 * If the broker refused that as too large before (ktxn_refused), or the client does now, the
 * payload is left out and header payload_dropped carries its length: a message that can never be
 * written must not block. 0, ERR_ABORTED or ERR_FATAL. */
static int dead_letter(parser *p, const rd_kafka_message_t *m, rsvp_json_reason r)
{
    rd_kafka_headers_t *orig = NULL, *hdrs;
    if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
        hdrs = rd_kafka_headers_copy(orig);
    else
        hdrs = rd_kafka_headers_new(4);
    char part[16], off[24];
    snprintf(part, sizeof part, "%" PRId32, m->partition);
    snprintf(off, sizeof off, "%" PRId64, m->offset);
    rd_kafka_header_add(hdrs, "reason", -1, rsvp_json_reason_str(r), -1);
    rd_kafka_header_add(hdrs, "source_topic", -1, rd_kafka_topic_name(m->rkt), -1);
    rd_kafka_header_add(hdrs, "source_partition", -1, part, -1);
    rd_kafka_header_add(hdrs, "source_offset", -1, off, -1);
    size_t len = m->payload ? m->len : 0;
    int rc = ERR_RANGE;
    if (!ktxn_refused(p->txn, m->payload, len)) /* the payload is copied into a block */
        rc = produce(p, p->dlq_rkt, m->key, m->key_len, m->payload, len, hdrs);
    if (rc == ERR_RANGE) {
        char n[24];
        snprintf(n, sizeof n, "%zu", m->len);
        rd_kafka_header_add(hdrs, "payload_dropped", -1, n, -1);
        rc = produce(p, p->dlq_rkt, m->key, m->key_len, NULL, 0, hdrs);
    }
    if (rc)
        rd_kafka_headers_destroy(hdrs);
    return rc;
}

/* emit_parsed: pack x straight into a payload block (rsvpenc.h: protobuf-c's bytes in one pass),
 * produce it keyed by event_id. The packed size is measured (a walk over every field) only when the
 * parser's bound exceeds a block. 0, ERR_NOMEM, ERR_RANGE, ERR_ABORTED or ERR_FATAL. */
static int emit_parsed(parser *p, const Rsvp__V1__Rsvp *x)
{
    size_t n = rsvp_json_packed_bound(p->json);
    if (n > KTXN_BLOCK_BYTES)
        n = rsvp__v1__rsvp__get_packed_size(x);
    unsigned char *out = (unsigned char *)ktxn_reserve(p->txn, n);
    if (!out)
        return ERR_NOMEM;
    size_t w = rsvpenc_pack(x, out);
    assert(w <= n);
    const char *key = x->event ? x->event->event_id : NULL; /* strict mode requires it */
    return produce(p, p->parsed_rkt, key, key ? strlen(key) : 0, out, w, NULL);
}

/* handle: one raw message into the open transaction (begun here if needed). 0, ERR_ABORTED (the
 * transaction was aborted: the caller calls after_abort) or ERR_FATAL. */
static int handle(parser *p, const rd_kafka_message_t *m)
{
    if (!p->txn_open && txn_begin(p) != 0)
        return ERR_FATAL;
    part_state *ps = part_get(p, m->partition);
    if (!ps) {
        /* without its offset the message could not be rewound after an abort: stop instead */
        set_fatal(p, "partition table", err_str(ERR_NOMEM));
        return ERR_FATAL;
    }
    if (ps->first < 0) {
        ps->first = m->offset;
        p->touched[p->ntouched++] = m->partition;
    }
    ps->next = m->offset + 1;

    int timed = (p->nparsed_total++ & PARSE_SAMPLE_MASK) == 0;
    int64_t t0 = timed ? clock_mono_ns() : 0;
    Rsvp__V1__Rsvp *x = NULL;
    rsvp_json_reason r = rsvp_json_parse(p->json, m->payload, m->payload ? m->len : 0, &x);
    if (timed)
        mhist_observe(p->m_parse_s, (double)(clock_mono_ns() - t0) / 1e9);

    /* a message to count (in reference mode also for input dead-lettered as unreadable), then the
     * dead letter */
    int rc = 0;
    if (x) {
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        x->has_ingest_time_ms = tt != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts >= 0;
        x->ingest_time_ms = x->has_ingest_time_ms ? ts : 0;
        rc = emit_parsed(p, x);
    }
    if (!rc && r != RSVP_JSON_OK)
        rc = dead_letter(p, m, r);
    if (rc) {
        log_warn("produce failed", "error=%s", err_str(rc));
        if (rc == ERR_FATAL || kafka_fatal()) {
            set_fatal(p, "produce", err_str(rc));
            return ERR_FATAL;
        }
        /* ERR_NOMEM, or a parsed message over message.max.bytes: the transaction cannot hold
         * this message, so it must not commit without it */
        char why[512] = "";
        if (rc != ERR_ABORTED && ktxn_abort(p->txn, why, sizeof why) != 0) {
            set_fatal(p, "abort_transaction", why);
            return ERR_FATAL;
        }
        note_aborted(p, err_str(rc));
        return ERR_ABORTED;
    }
    p->batch_consumed++;
    p->batch_slow += (uint64_t)rsvp_json_slow_path(p->json);
    if (r == RSVP_JSON_OK)
        p->batch_parsed++;
    else
        p->batch_dlq[r]++;
    if (r != RSVP_JSON_OK && x)
        p->batch_nullkey++;
    return 0;
}

/* ---- life cycle ---- */

static void register_metrics(parser *p)
{
    p->m_consumed = metrics_counter("rsvp_parser_consumed_total", NULL,
                                    "Raw messages consumed and committed (= parsed + dead-lettered).");
    p->m_parsed = metrics_counter("rsvp_parser_parsed_total", NULL, "RSVPs committed to the parsed topic.");
    for (int r = 1; r < RSVP_JSON_REASON_COUNT; r++) {
        char labels[64];
        snprintf(labels, sizeof labels, "reason=\"%s\"", rsvp_json_reason_str((rsvp_json_reason)r));
        p->m_dlq[r] = metrics_counter("rsvp_parser_dead_lettered_total", labels,
                                      "Invalid messages committed to the dead-letter topic, by reason.");
    }
    p->m_dlq[0] = NULL;
    p->m_nullkey = metrics_counter("rsvp_parser_null_keys_total", NULL,
                                   "Dead-lettered messages also sent to the parsed topic with a key of NULLs "
                                   "(reference mode: the reference counts unreadable input so).");
    p->m_slow = metrics_counter("rsvp_parser_slow_path_total", NULL,
                                "Messages not plain RFC 8259 JSON, read by the parser's general path.");
    p->m_commit = metrics_counter("rsvp_parser_transactions_total", "result=\"commit\"",
                                  "Kafka transactions, by result.");
    p->m_abort = metrics_counter("rsvp_parser_transactions_total", "result=\"abort\"",
                                 "Kafka transactions, by result.");
    static const double bounds[] = {1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 1e-3, 1e-2};
    p->m_parse_s =
        metrics_histogram("rsvp_parser_parse_seconds", NULL, "Time to parse one message (one in 64 sampled).",
                          bounds, (int)(sizeof bounds / sizeof bounds[0]));
    p->m_lag = metrics_gauge("rsvp_parser_consumer_lag", NULL,
                             "Messages behind the high watermark on the assigned partitions "
                             "(-1 unknown).");
}

/* new_consumer: the group consumer, from kafka_conf_new(defaults) plus forced settings, its
 * rebalance events handled by common/kgroup.h with this file's hooks. NULL: errstr says why. */
static rd_kafka_t *new_consumer(parser *p, const char *const *defaults, const char *const *forced,
                                char *errstr, size_t errlen)
{
    rd_kafka_conf_t *conf = NULL;
    if (kafka_conf_new(&conf, "parser", defaults, errstr, errlen) != 0)
        return NULL;
    for (const char *const *f = forced; f && f[0]; f += 2)
        if (rd_kafka_conf_set(conf, f[0], f[1], errstr, errlen) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    kgroup_attach(&p->group, conf, &REBALANCE_HOOKS, p);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errlen);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

int parser_new(parser **out, const parser_opts *o, httpd *h, char *errstr, size_t errlen)
{
    parser *p = calloc(1, sizeof *p);
    if (!p)
        return ERR_NOMEM;
    p->o = *o;
    p->h = h;
    backoff_init(&p->abort_backoff, 100, 5000, 0);
    size_t idlen = strlen(o->instance_id) + 16;
    p->txn_id = malloc(idlen);
    int rc = ERR_NOMEM;
    if (!p->txn_id || (rc = rsvp_json_new(&p->json, &o->limits)) != 0)
        goto fail;
    snprintf(p->txn_id, idlen, "rsvp-parser-%s", o->instance_id);
    register_metrics(p);

    /* batch.size: a backlog's transaction (TXN_MESSAGES) goes out while it fills instead of all at
     * its commit; a steady stream's bursts (~170 KB a partition at 10k RSVPs/s over 4 partitions)
     * still go at commit, in one request each */
    const char *pdefaults[] = {"linger.ms", KTXN_LINGER_MS /* sent at commit */, "batch.size", "524288",
                               "compression.type", "lz4", "client.id", p->txn_id,
                               /* a dead-lettered raw message must never be refused client-side */
                               "message.max.bytes", "4194304", NULL};
    const ktxn_opts to = {.service = "parser", .txn_id = p->txn_id, .defaults = pdefaults};
    if ((rc = ktxn_new(&p->txn, &to, errstr, errlen)) != 0)
        goto fail;
    rc = ERR_INVALID;
    char session[32];
    snprintf(session, sizeof session, "%lld", (long long)o->session_timeout_ms);
    const char *cdefaults[] = {"group.id", o->group_id, "client.id", p->txn_id, "auto.offset.reset",
                               "earliest", "session.timeout.ms", session,
                               /* librdkafka 2.0.2 stalls ~1 s when its prefetch queue fills */
                               "queued.max.messages.kbytes", "262144",
                               /* static membership: last, so NULL here ends the list */
                               o->static_membership ? "group.instance.id" : NULL, o->instance_id, NULL};
    /* exactly-once needs these whatever the environment says */
    const char *cforced[] = {"isolation.level",
                             "read_committed",
                             "enable.auto.commit",
                             "false",
                             "enable.partition.eof",
                             "false",
                             NULL};
    if (!(p->consumer = new_consumer(p, cdefaults, cforced, errstr, errlen)))
        goto fail;
    rd_kafka_poll_set_consumer(p->consumer);
    p->parsed_rkt = rd_kafka_topic_new(ktxn_handle(p->txn), o->parsed_topic, NULL);
    p->dlq_rkt = rd_kafka_topic_new(ktxn_handle(p->txn), o->dlq_topic, NULL);
    if (!p->parsed_rkt || !p->dlq_rkt) {
        snprintf(errstr, errlen, "topic handle: %s", rd_kafka_err2str(rd_kafka_last_error()));
        goto fail;
    }
    *out = p;
    return 0;
fail:
    parser_free(p);
    return rc;
}

int parser_start(parser *p)
{
    update_ready(p);
    backoff bo;
    backoff_init(&bo, 200, 10000, 0);
    char why[512];
    int rc = ktxn_init(p->txn, &bo, why, sizeof why);
    if (rc == ERR_CLOSED)
        return rc;
    if (rc != 0) {
        set_fatal(p, "init_transactions", why);
        return ERR_FATAL;
    }
    p->producer_ready = 1;
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, p->o.raw_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(p->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        set_fatal(p, "subscribe", rd_kafka_err2str(err));
        return ERR_FATAL;
    }
    update_ready(p);
    return 0;
}

int parser_run(parser *p)
{
    int64_t next_tick = 0, now = clock_mono_ms();
    unsigned since_clock = 0, since_poll = 0;
    while (!sig_stopping() && !p->fatal && !kafka_fatal()) {
        /* a message already fetched is taken without a clock read; only an empty queue waits */
        rd_kafka_message_t *m = kgroup_poll(&p->group, p->consumer, 0);
        int waited = !m, idle = 0;
        if (!m) {
            now = clock_mono_ms();
            int timeout = POLL_MS;
            if (p->txn_open) {
                int64_t left = p->txn_deadline_ms - now;
                int by_idle = p->o.txn_idle_ms > 0 && p->o.txn_idle_ms < left;
                if (by_idle)
                    left = p->o.txn_idle_ms;
                timeout = left < 0 ? 0 : left < POLL_MS ? (int)left : POLL_MS;
                idle = by_idle && timeout == left; /* nothing within it: the burst is done */
            }
            m = kgroup_poll(&p->group, p->consumer, timeout);
            idle = idle && !m;
        }
        int rc = 0;
        if (m) {
            if (!m->err) {
                rc = handle(p, m);
            } else if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                set_fatal(p, "consume", rd_kafka_message_errstr(m));
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                log_warn("consumer error", "error=%s", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
        }
        if (waited || p->waited || ++since_clock >= CLOCK_EVERY) {
            now = clock_mono_ms();
            since_clock = 0;
            p->waited = 0;
        }
        if (rc == ERR_ABORTED) {
            after_abort(p, 1);
            clock_sleep_ms(backoff_next(&p->abort_backoff));
            now = clock_mono_ms();
        } else if (rc == 0 && p->txn_open &&
                   ((int64_t)p->batch_consumed >= p->o.txn_messages || now >= p->txn_deadline_ms || idle)) {
            finish_txn(p, 1);
            now = clock_mono_ms();
        }
        if (waited || ++since_poll >= PRODUCER_POLL_EVERY) {
            ktxn_poll(p->txn, 0);
            since_poll = 0;
        }
        if (now >= next_tick) {
            kgroup_sweep(&p->group, p->consumer, now); /* revoked partitions' late fetches */
            mgauge_set(p->m_lag, (double)kafka_consumer_lag(p->consumer));
            httpd_set_live(p->h, 1);
            next_tick = now + 1000;
        }
    }
    if (kafka_fatal() && !p->fatal)
        set_fatal(p, "librdkafka", "fatal error reported by the error callback");
    if (p->fatal)
        return ERR_FATAL;
    /* stop signal: commit what is open; if it has to be aborted the next owner redoes it */
    if (finish_txn(p, 0) != 0)
        return ERR_FATAL;
    return 0;
}

void parser_free(parser *p)
{
    if (!p)
        return;
    if (p->consumer) {
        /* leaves the group; the rebalance callback commits or aborts an open transaction */
        rd_kafka_resp_err_t err = rd_kafka_consumer_close(p->consumer);
        if (err)
            log_warn("consumer close", "error=%s", rd_kafka_err2str(err));
    }
    kgroup_free(&p->group); /* a message it kept must go before the handle */
    if (p->consumer)
        rd_kafka_destroy(p->consumer);
    if (p->parsed_rkt)
        rd_kafka_topic_destroy(p->parsed_rkt);
    if (p->dlq_rkt)
        rd_kafka_topic_destroy(p->dlq_rkt);
    ktxn_free(p->txn); /* purges an open transaction's messages, and all after a fatal error */
    rsvp_json_free(p->json);
    free(p->parts);
    free(p->touched);
    free(p->txn_id);
    free(p);
}
