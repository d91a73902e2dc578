/* main.c: rsvp-aggregator wiring. Consumes rsvp.v1.Rsvp from the parsed topic (read_committed),
 * counts per key per partition (aggregator.c), and every trigger sends one Batch per changed
 * partition to the writer over nng REQ (wlink.c). The writer's stored offsets, not Kafka's
 * committed ones, decide where each partition resumes: exactly-once end to end. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/http.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/sig.h"
#include "common/version.h"
#include "services/aggregator/aggregator.h"
#include "services/aggregator/wlink.h"

#define MAX_POLL_MS 100 /* the loop notices signals and replies at least this often */
#define DRAIN_MAX   512 /* messages taken per wake-up before the loop's housekeeping runs */

typedef struct config {
    cfg_common common;
    char *topic, *group_id, *writer_url, *start_offset;
    char *tls_ca, *tls_cert, *tls_key, *tls_server_name; /* client side of tls+tcp:// */
    int64_t trigger_ms, max_keys, max_bytes, request_timeout_ms, session_timeout_ms;
    int64_t backoff_base_ms, backoff_max_ms, queue_kbytes;
    int static_membership;
} config;

typedef struct metrics_set {
    mcounter *consumed, *decode_errors, *duplicates, *rows, *retries, *discarded, *query_retries;
    mcounter *batches[AGG_NRES];
    mcounter *cut[AGG_NTRIG];
    mgauge *keys, *pending, *lag, *state_bytes;
    mhist *batch_seconds;
    agg_stats last; /* what was already added to the counters */
} metrics_set;

typedef struct app {
    const config *cfg;
    const char *instance;
    rd_kafka_t *rk;
    agg *a;
    wlink *w;
    httpd *http;
    backoff bo;
    int retry_mode;     /* a batch failed transiently: all partitions paused until it succeeds */
    int64_t retry_at;   /* monotonic ms of the next resend */
    int paused;         /* our current pause state of the whole assignment */
    int writer_ok;      /* the writer answered at least once */
    int assigned;       /* a rebalance assigned us (possibly zero partitions) */
    int failed;         /* unrecoverable error: exit 1 */
    int64_t sent_at_ms; /* when the in-flight batch was sent */
    int64_t start_logical;
    metrics_set m;
    rd_kafka_message_t *pend[DRAIN_MAX]; /* polled, not yet counted (drain, flush_pending) */
    agg_msg pend_msg[DRAIN_MAX];
    int npend;
} app;

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

/* ---- metrics ---- */

static void metrics_init(metrics_set *m)
{
    m->consumed =
        metrics_counter("rsvp_aggregator_consumed_total", NULL, "messages consumed from the parsed topic");
    m->decode_errors = metrics_counter("rsvp_aggregator_decode_errors_total", NULL,
                                       "messages that did not decode as rsvp.v1.Rsvp (skipped)");
    m->duplicates = metrics_counter("rsvp_aggregator_duplicates_total", NULL,
                                    "messages below the expected offset (skipped)");
    m->rows = metrics_counter("rsvp_aggregator_rows_total", NULL, "rows in frozen batches");
    m->retries = metrics_counter("rsvp_aggregator_writer_retries_total", NULL,
                                 "batch resends after RETRY, timeout or transport error");
    m->query_retries = metrics_counter("rsvp_aggregator_offset_query_retries_total", NULL,
                                       "offset queries to the writer retried after a failure "
                                       "(writer down, TLS handshake refused, timeout)");
    m->discarded = metrics_counter("rsvp_aggregator_discarded_messages_total", NULL,
                                   "messages whose deltas were dropped (revoke, STALE, ERROR)");
    for (int i = 0; i < AGG_NRES; i++) {
        char lbl[64];
        snprintf(lbl, sizeof lbl, "result=\"%s\"", agg_result_name((agg_result)i));
        m->batches[i] =
            metrics_counter("rsvp_aggregator_batches_total", lbl, "batches sent to the writer, by outcome");
    }
    for (int i = 0; i < AGG_NTRIG; i++) {
        char lbl[64];
        snprintf(lbl, sizeof lbl, "trigger=\"%s\"", agg_trigger_name((agg_trigger)i));
        m->cut[i] = metrics_counter("rsvp_aggregator_batches_sent_total", lbl,
                                    "batches cut for the writer, by why they were cut");
    }
    m->keys = metrics_gauge("rsvp_aggregator_keys", NULL, "live keys in the open ranges");
    m->pending = metrics_gauge("rsvp_aggregator_pending_batches", NULL,
                               "frozen batches not yet acknowledged by the writer");
    m->lag = metrics_gauge("rsvp_aggregator_consumer_lag", NULL,
                           "messages behind the high watermark, all assigned partitions");
    m->state_bytes = metrics_gauge("rsvp_aggregator_state_bytes", NULL,
                                   "memory held by tables, frozen batches and scratch");
    static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    m->batch_seconds = metrics_histogram("rsvp_aggregator_batch_seconds", NULL,
                                         "time from sending a batch to the writer's reply", bounds,
                                         (int)(sizeof bounds / sizeof bounds[0]));
}

static void add_delta(mcounter *c, uint64_t now, uint64_t *last)
{
    if (now > *last)
        mcounter_add(c, now - *last);
    *last = now;
}

static void metrics_export(app *ap)
{
    metrics_set *m = &ap->m;
    const agg_stats *s = agg_get_stats(ap->a);
    add_delta(m->consumed, s->consumed, &m->last.consumed);
    add_delta(m->decode_errors, s->decode_errors, &m->last.decode_errors);
    add_delta(m->duplicates, s->duplicates, &m->last.duplicates);
    add_delta(m->rows, s->rows, &m->last.rows);
    add_delta(m->discarded, s->discarded_msgs, &m->last.discarded_msgs);
    for (int i = 0; i < AGG_NRES; i++)
        add_delta(m->batches[i], s->batches[i], &m->last.batches[i]);
    for (int i = 0; i < AGG_NTRIG; i++)
        add_delta(m->cut[i], s->cut[i], &m->last.cut[i]);
    mgauge_set(m->keys, (double)agg_live_keys(ap->a));
    mgauge_set(m->pending, (double)agg_pending_batches(ap->a));
    mgauge_set(m->state_bytes, (double)agg_state_bytes(ap->a));
    mgauge_set(m->lag, (double)kafka_consumer_lag(ap->rk));
    httpd_set_ready(ap->http, ap->assigned && ap->writer_ok,
                    !ap->assigned ? "no partition assignment yet" : "writer has not answered");
}

/* ---- Kafka side effects ---- */

/* Before a resume, put every partition whose next offset we know exactly there: older librdkafka
 * releases let a pause() that follows a seek() restore the pre-seek position (#3567), and our own
 * bookkeeping is the truth anyway. */
static void seek_to_expected(app *ap)
{
    int32_t ids[1024];
    size_t n = agg_partitions(ap->a, ids, 1024);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)(n ? n : 1));
    for (size_t i = 0; i < n && i < 1024; i++) {
        int64_t from, next;
        int pending;
        if (agg_range(ap->a, ids[i], &from, &next, &pending) == 0 && next >= 0)
            rd_kafka_topic_partition_list_add(l, ap->cfg->topic, ids[i])->offset = next;
    }
    if (l->cnt) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(ap->rk, l, 0);
        if (e) {
            log_warn("seek before resume failed", "err=%s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Pause or resume every assigned partition (retry mode, back-pressure). */
static void set_paused(app *ap, int pause)
{
    if (ap->paused == pause)
        return;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(ap->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (!pause)
        seek_to_expected(ap);
    rd_kafka_resp_err_t err =
        pause ? rd_kafka_pause_partitions(ap->rk, parts) : rd_kafka_resume_partitions(ap->rk, parts);
    if (err)
        log_warn("pause/resume failed", "pause=%d err=%s", pause, rd_kafka_err2str(err));
    log_debug(pause ? "consumption paused" : "consumption resumed", "partitions=%d pending_batches=%zu",
              parts->cnt, agg_pending_batches(ap->a));
    rd_kafka_topic_partition_list_destroy(parts);
    ap->paused = pause;
}

static void seek_partition(app *ap, int32_t partition, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, ap->cfg->topic, partition)->offset =
        offset >= 0 ? offset : ap->start_logical;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(ap->rk, l, 0); /* async */
    if (e) {
        log_error("seek failed", "partition=%d offset=%lld err=%s", partition, (long long)offset,
                  rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Kafka's committed offsets only show lag to operators; the writer's offsets are the truth. */
static void commit_async(app *ap, int32_t partition, int64_t offset)
{
    if (offset < 0)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, ap->cfg->topic, partition)->offset = offset;
    rd_kafka_commit(ap->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

/* ---- writer side ---- */

/* Ask the writer for the stored next offsets of parts[0..n) into stored[]. One attempt.
 * 0, ERR_RETRY (writer said no), ERR_TIMEOUT/ERR_IO/ERR_INVALID, ERR_CLOSED (stopping). */
static int query_offsets(app *ap, const int32_t *parts, size_t n, int64_t *stored)
{
    void *req;
    size_t len;
    if (agg_pack_offset_query(ap->cfg->topic, parts, n, &req, &len))
        return ERR_NOMEM;
    Rsvp__V1__WriterReply *r = NULL;
    int rc = wlink_call(ap->w, WLINK_QUERY, req, len, ap->cfg->request_timeout_ms, &r);
    free(req);
    if (rc)
        return rc;
    ap->writer_ok = 1; /* it answered, whatever it said */
    if (r->status != RSVP__V1__WRITER_REPLY__STATUS__OK)
        rc = ERR_RETRY;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        stored[i] = -2;
        for (size_t j = 0; j < r->n_offsets; j++)
            if (r->offsets[j]->partition == parts[i])
                stored[i] = r->offsets[j]->next_offset;
        if (stored[i] == -2)
            rc = ERR_INVALID; /* the writer must answer every partition */
    }
    if (rc)
        log_warn("offset query failed", "status=%d message=%s", (int)r->status, r->message ? r->message : "");
    rsvp__v1__writer_reply__free_unpacked(r, NULL);
    return rc;
}

/* query_offsets until it succeeds or a stop signal arrives (then ERR_CLOSED). */
static int query_offsets_retry(app *ap, const int32_t *parts, size_t n, int64_t *stored)
{
    backoff bo;
    backoff_init(&bo, ap->cfg->backoff_base_ms, ap->cfg->backoff_max_ms, 0);
    for (;;) {
        int rc = query_offsets(ap, parts, n, stored);
        if (rc == 0 || rc == ERR_NOMEM)
            return rc;
        if (sig_stopping())
            return ERR_CLOSED;
        mcounter_add(ap->m.query_retries, 1); /* directly: we block the loop that exports */
        int64_t d = backoff_next(&bo);
        log_warn("writer offset query failed, retrying", "err=%s retry_in_ms=%lld", err_str(rc),
                 (long long)d);
        clock_sleep_ms(d);
        if (sig_stopping())
            return ERR_CLOSED;
    }
}

static void handle_reply(app *ap, int err, Rsvp__V1__WriterReply *r)
{
    mhist_observe(ap->m.batch_seconds, (double)(clock_mono_ms() - ap->sent_at_ms) / 1000.0);
    agg_action act;
    agg_on_reply(ap->a, err, r, &act);
    if (r)
        ap->writer_ok = 1;
    switch (act.act) {
    case AGG_ACT_NONE: break;
    case AGG_ACT_COMMIT:
        commit_async(ap, act.partition, act.offset);
        if (ap->retry_mode) {
            ap->retry_mode = 0;
            backoff_reset(&ap->bo);
            log_info("writer accepts batches again", "partition=%d", act.partition);
        }
        break;
    case AGG_ACT_RETRY: {
        int64_t d = backoff_next(&ap->bo);
        mcounter_add(ap->m.retries, 1);
        if (!ap->retry_mode)
            log_warn("batch not applied, pausing and retrying", "partition=%d result=%s err=%s",
                     act.partition, agg_result_name(act.result), r && r->message ? r->message : "");
        ap->retry_mode = 1;
        ap->retry_at = clock_mono_ms() + d;
        break;
    }
    case AGG_ACT_SEEK:
        log_warn("batch stale, partition state dropped", "partition=%d stored_offset=%lld", act.partition,
                 (long long)act.offset);
        seek_partition(ap, act.partition, act.offset);
        break;
    case AGG_ACT_REQUERY: {
        int64_t from, next, stored;
        int pending;
        log_error("writer rejected batch, partition state dropped", "partition=%d result=%s message=%s",
                  act.partition, agg_result_name(act.result), r && r->message ? r->message : "");
        if (agg_range(ap->a, act.partition, &from, &next, &pending) != 0)
            break;
        if (query_offsets(ap, &act.partition, 1, &stored) != 0)
            stored = from; /* best known */
        if (agg_assign(ap->a, act.partition, stored) != 0)
            ap->failed = 1;
        seek_partition(ap, act.partition, stored);
        break;
    }
    }
    if (r)
        rsvp__v1__writer_reply__free_unpacked(r, NULL);
}

/* Collect a finished batch request (waiting at most wait_ms) and send the next one. */
static void pump_writer(app *ap, int64_t wait_ms)
{
    if (agg_inflight(ap->a)) {
        Rsvp__V1__WriterReply *r = NULL;
        int rc = wlink_poll(ap->w, WLINK_BATCH, wait_ms, &r);
        if (rc == 1)
            return;
        handle_reply(ap, rc == ERR_NOTFOUND ? ERR_IO : rc, rc == 0 ? r : NULL);
    }
    if (ap->retry_mode && !agg_pending_batches(ap->a)) {
        /* the failed batch is gone (revoked, or dropped by STALE/ERROR): nothing left to retry */
        ap->retry_mode = 0;
        backoff_reset(&ap->bo);
    }
    if (ap->retry_mode && clock_mono_ms() < ap->retry_at)
        return;
    int32_t p;
    const void *data;
    size_t len;
    if (agg_next_request(ap->a, &p, &data, &len)) {
        ap->sent_at_ms = clock_mono_ms();
        if (wlink_start(ap->w, WLINK_BATCH, data, len, ap->cfg->request_timeout_ms) != 0)
            handle_reply(ap, ERR_IO, NULL); /* counted as transport failure, retried */
    }
}

/* ---- counting ---- */

/* Count the polled messages in poll order, then free them. Runs after each drain and at the start
 * of every rebalance callback: a revoke or an assignment must not overtake messages polled before
 * it (a partition re-assigned at its stored offset would count them first and then drop the re-read
 * messages below them as duplicates). */
static void flush_pending(app *ap)
{
    size_t n = 0;
    for (int i = 0; i < ap->npend; i++) {
        const rd_kafka_message_t *m = ap->pend[i];
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_warn("consumer error", "err=%s msg=%s", rd_kafka_err2name(m->err),
                         rd_kafka_message_errstr(m));
            continue;
        }
        ap->pend_msg[n++] = (agg_msg){m->partition, m->offset, m->payload, m->len, 0};
    }
    agg_consume_many(ap->a, ap->pend_msg, n);
    for (size_t i = 0; i < n; i++) {
        if (ap->pend_msg[i].rc != ERR_NOMEM)
            continue;
        log_error("out of memory counting a message", "partition=%d", ap->pend_msg[i].partition);
        ap->failed = 1;
        sig_request_stop();
        break;
    }
    for (int i = 0; i < ap->npend; i++)
        rd_kafka_message_destroy(ap->pend[i]);
    ap->npend = 0;
}

/* One wake-up: wait for a message, take what is already queued without waiting (poll with
 * timeout 0 reads no clock), at most DRAIN_MAX, and count them together (agg_consume_many overlaps
 * their table lookups), so that the trigger, writer and pause checks run once per burst instead of
 * once per message. rd_kafka_consume_batch_queue() would save a little more, but librdkafka
 * 2.0.2's batch consume can skip offsets around pause/resume (fixed in 2.1.0), and this loop
 * pauses for back-pressure and retries. */
static void drain(app *ap, int wait_ms)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(ap->rk, wait_ms);
    while (m) {
        ap->pend[ap->npend++] = m; /* a rebalance inside the next poll flushes these first */
        if (ap->npend == DRAIN_MAX)
            break;
        m = rd_kafka_consumer_poll(ap->rk, 0);
    }
    flush_pending(ap);
}

/* ---- rebalance ---- */

static void on_assign(app *ap, rd_kafka_topic_partition_list_t *parts, int coop)
{
    /* Let our in-flight batch finish first, so the offsets we read include it. */
    int64_t deadline = clock_mono_ms() + ap->cfg->request_timeout_ms;
    while (agg_inflight(ap->a) && !sig_stopping() && clock_mono_ms() < deadline)
        pump_writer(ap, MAX_POLL_MS);
    size_t n = (size_t)parts->cnt;
    int32_t *ids = calloc(n ? n : 1, sizeof *ids);
    int64_t *stored = calloc(n ? n : 1, sizeof *stored);
    int rc = ids && stored ? 0 : ERR_NOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        ids[i] = parts->elems[i].partition;
    if (rc == 0 && n)
        rc = query_offsets_retry(ap, ids, n, stored);
    if (rc == 0 && !n) { /* a standby: only learn that the writer answers (for /readyz) */
        int32_t zero = 0;
        int64_t ignored;
        query_offsets(ap, &zero, 1, &ignored);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if ((rc = agg_assign(ap->a, ids[i], stored[i])) != 0)
            break;
        parts->elems[i].offset = stored[i] >= 0 ? stored[i] : ap->start_logical;
        log_info("partition assigned", "partition=%d stored_offset=%lld", ids[i], (long long)stored[i]);
    }
    if (rc && rc != ERR_CLOSED) {
        log_error("cannot assign partitions", "err=%s", err_str(rc));
        ap->failed = 1;
        sig_request_stop();
    }
    /* Assign even when stopping: messages of untracked partitions are ignored, and
     * rd_kafka_consumer_close() expects a consistent assignment. */
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (coop)
        e = rd_kafka_incremental_assign(ap->rk, parts);
    else
        err = rd_kafka_assign(ap->rk, parts);
    if (e || err) {
        log_error("assign failed", "err=%s", e ? rd_kafka_error_string(e) : rd_kafka_err2str(err));
        if (e)
            rd_kafka_error_destroy(e);
    }
    if (ap->paused)
        rd_kafka_pause_partitions(ap->rk, parts);
    ap->assigned = 1;
    free(ids);
    free(stored);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    app *ap = opaque;
    flush_pending(ap); /* messages polled before this rebalance are counted before it */
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(ap, parts, coop);
        return;
    }
    /* Revoked (or lost): their unwritten deltas are somebody else's job now. */
    for (int i = 0; i < parts->cnt; i++) {
        agg_revoke(ap->a, parts->elems[i].partition);
        log_info("partition revoked", "partition=%d reason=%s", parts->elems[i].partition,
                 rd_kafka_err2name(err));
    }
    if (coop) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e) {
            log_error("incremental unassign failed", "err=%s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

/* ---- the loop ---- */

static void run(app *ap)
{
    int64_t next_trigger = clock_mono_ms() + ap->cfg->trigger_ms, next_metrics = 0;
    while (!sig_stopping() && !kafka_fatal() && !ap->failed) {
        drain(ap, agg_inflight(ap->a) ? 5 : MAX_POLL_MS);
        int64_t now = clock_mono_ms();
        int all = now >= next_trigger;
        if (all)
            next_trigger = now + ap->cfg->trigger_ms;
        if (agg_freeze(ap->a, all) < 0) {
            log_error("out of memory freezing a batch", NULL);
            ap->failed = 1;
            break;
        }
        pump_writer(ap, 0);
        set_paused(ap, ap->retry_mode || agg_backlogged(ap->a));
        if (now >= next_metrics) {
            metrics_export(ap);
            next_metrics = now + 500;
        }
    }
}

/* SIGTERM: send what we have once, within one request timeout; unsent deltas are not lost (the
 * next owner re-reads them from the writer's stored offsets). */
static void flush_on_stop(app *ap)
{
    set_paused(ap, 1);
    if (agg_freeze_for(ap->a, 1, AGG_TRIG_SHUTDOWN) < 0)
        return;
    ap->retry_mode = 0;
    int64_t deadline = clock_mono_ms() + ap->cfg->request_timeout_ms;
    while (clock_mono_ms() < deadline && !ap->retry_mode &&
           (agg_inflight(ap->a) || agg_pending_batches(ap->a) > 0))
        pump_writer(ap, MAX_POLL_MS);
    log_info("flushed", "pending_batches=%zu", agg_pending_batches(ap->a));
}

/* The group consumer, subscribed. 0, ERR_INVALID (bad Kafka setting) or ERR_IO. */
static int consumer_new(app *ap, rd_kafka_t **out)
{
    const config *c = ap->cfg;
    char session[32], qkb[32], client_id[256];
    snprintf(session, sizeof session, "%lld", (long long)c->session_timeout_ms);
    snprintf(qkb, sizeof qkb, "%lld", (long long)c->queue_kbytes);
    snprintf(client_id, sizeof client_id, "rsvp-aggregator-%s", ap->instance);
    const char *defaults[] = {"group.id",
                              c->group_id,
                              "client.id",
                              client_id,
                              "enable.auto.commit",
                              "false",
                              "enable.auto.offset.store",
                              "false",
                              "isolation.level",
                              "read_committed",
                              "auto.offset.reset",
                              c->start_offset,
                              "session.timeout.ms",
                              session,
                              "queued.max.messages.kbytes",
                              qkb,
                              c->static_membership ? "group.instance.id" : NULL,
                              ap->instance,
                              NULL};
    char errstr[512];
    rd_kafka_conf_t *conf = NULL;
    if (kafka_conf_new(&conf, "aggregator", defaults, errstr, sizeof errstr)) {
        log_error("kafka config", "err=%s", errstr);
        return ERR_INVALID;
    }
    rd_kafka_conf_set_opaque(conf, ap);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        log_error("rd_kafka_new failed", "err=%s", errstr);
        return ERR_INVALID;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, c->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        log_error("subscribe failed", "topic=%s err=%s", c->topic, rd_kafka_err2str(err));
        rd_kafka_destroy(rk);
        return ERR_IO;
    }
    *out = rk;
    return 0;
}

int main(int argc, char **argv)
{
    config c = {0};
    /* clang-format off */
    cfg_option opts[] = {
        {"parsed-topic", "PARSED_TOPIC", CFG_STRING, "rsvps.parsed", "topic of rsvp.v1.Rsvp to count", 0, 0, 0, &c.topic},
        {"group-id", "GROUP_ID", CFG_STRING, "rsvp-aggregator", "Kafka consumer group", 0, 0, 0, &c.group_id},
        {"writer-url", "WRITER_URL", CFG_STRING, "tcp://127.0.0.1:7400", "writer nng REP URL(s), comma-separated (requests load-balance)", 0, 0, 0, &c.writer_url},
        {"trigger-interval", "TRIGGER_INTERVAL", CFG_DURATION, "30s", "send the changed aggregates this often", 100, 86400000, 0, &c.trigger_ms},
        {"max-batch-keys", "MAX_BATCH_KEYS", CFG_INT, "100000", "send a partition early when its table has this many keys", 1, 100000000, 0, &c.max_keys},
        {"max-batch-bytes", "MAX_BATCH_BYTES", CFG_SIZE, "16M", "... or when its keys take this many bytes (keep well under the writer's MAX_REQUEST_BYTES)", 4096, 1073741824, 0, &c.max_bytes},
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
    app ap = {.cfg = &c, .instance = cfg_instance_id(c.common.instance_id)};
    ap.start_logical =
        strcmp(c.start_offset, "latest") == 0 ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
    backoff_init(&ap.bo, c.backoff_base_ms, c.backoff_max_ms, 0);

    /* Order matters: logs and signals first; the writer link and the state exist before the
     * consumer, whose rebalance callback uses them; HTTP last so /readyz sees a whole process. */
    log_init("aggregator", ap.instance, lvl);
    sig_init();
    metrics_init(&ap.m);
    int exit_code = 1;
    wlink_tls tls = {c.tls_ca, c.tls_cert, c.tls_key, c.tls_server_name};
    if (wlink_open_tls(&ap.w, c.writer_url, &tls) != 0) {
        exit_code = 2;
        goto out;
    }
    if (!(ap.a = agg_new(c.topic, ap.instance, (size_t)c.max_keys, (size_t)c.max_bytes)))
        goto out;
    if ((rc = consumer_new(&ap, &ap.rk)) != 0) {
        exit_code = rc == ERR_INVALID ? 2 : 1;
        goto out;
    }
    if (c.common.metrics_addr && c.common.metrics_addr[0] &&
        httpd_start(&ap.http, c.common.metrics_addr) != 0) {
        log_error("cannot serve metrics", "addr=%s", c.common.metrics_addr);
        goto out;
    }
    httpd_set_ready(ap.http, 0, "no partition assignment yet");
    cfg_log_effective(opts);
    log_info("up", "version=%s librdkafka=%s topic=%s group=%s writer=%s trigger_ms=%lld", RSVP_VERSION,
             rd_kafka_version_str(), c.topic, c.group_id, c.writer_url, (long long)c.trigger_ms);

    run(&ap);

    flush_on_stop(&ap);
    metrics_export(&ap);
    exit_code = ap.failed || kafka_fatal() ? 1 : 0;
out:
    if (ap.rk) {
        rd_kafka_consumer_close(ap.rk); /* revokes through on_rebalance: needs ap.a */
        rd_kafka_destroy(ap.rk);
    }
    httpd_free(ap.http);
    wlink_free(ap.w);
    agg_free(ap.a);
    log_info("down", "exit_code=%d", exit_code);
    cfg_free(opts);
    metrics_free_all();
    return exit_code;
}
