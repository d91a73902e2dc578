/* aggloop.c: the aggregator's loop over abstract consumer, writer and clock tables (aggloop.h):
 * draining, the writer pump, retry mode, back-pressure pauses, seeks, offset queries, rebalances,
 * metrics and readiness. aggregator.c decides; this file carries the decisions out. */
#include "services/aggregator/aggloop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"

#define MAX_POLL_MS 100 /* the loop notices signals and replies at least this often */
#define DRAIN_MAX   512 /* messages taken per wake-up before the loop's housekeeping runs */
#define EXPORT_MS   500 /* metrics and readiness */

typedef struct metrics_set {
    mcounter *consumed, *decode_errors, *duplicates, *rows, *retries, *discarded, *query_retries;
    mcounter *batches[AGG_NRES];
    mcounter *cut[AGG_NTRIG];
    mgauge *keys, *pending, *lag, *state_bytes;
    mhist *batch_seconds;
    agg_stats last; /* what was already added to the counters */
} metrics_set;

struct aggloop {
    aggloop_opts o;
    char *topic;
    aggloop_consumer c;
    aggloop_writer w;
    aggloop_clock clk;
    httpd *http;
    agg *a;
    backoff bo;
    int retry_mode;     /* a batch failed transiently: all partitions paused until it succeeds */
    int64_t retry_at;   /* monotonic ms of the next resend */
    int paused;         /* our current pause state of the whole assignment */
    int writer_ok;      /* the writer answered at least once */
    int assigned;       /* a rebalance assigned us (possibly zero partitions) */
    int64_t sent_at_ms; /* when the in-flight batch was sent */
    int64_t next_trigger, next_export;
    int failed; /* ERR_NOMEM met while counting (inside a rebalance callback too) */
    int has_metrics;
    metrics_set m;
    aggloop_msg pend[DRAIN_MAX]; /* polled, not yet counted (drain, flush_pending) */
    agg_msg pend_msg[DRAIN_MAX];
    int npend;
};

static int64_t now_ms(const aggloop *l)
{
    return l->clk.now_ms(l->clk.ctx);
}

static int stopping(const aggloop *l)
{
    return l->clk.stopping(l->clk.ctx);
}

/* ---- metrics and readiness ---- */

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

static void export(aggloop *l)
{
    if (l->has_metrics) {
        metrics_set *m = &l->m;
        const agg_stats *s = agg_get_stats(l->a);
        add_delta(m->consumed, s->consumed, &m->last.consumed);
        add_delta(m->decode_errors, s->decode_errors, &m->last.decode_errors);
        add_delta(m->duplicates, s->duplicates, &m->last.duplicates);
        add_delta(m->rows, s->rows, &m->last.rows);
        add_delta(m->discarded, s->discarded_msgs, &m->last.discarded_msgs);
        for (int i = 0; i < AGG_NRES; i++)
            add_delta(m->batches[i], s->batches[i], &m->last.batches[i]);
        for (int i = 0; i < AGG_NTRIG; i++)
            add_delta(m->cut[i], s->cut[i], &m->last.cut[i]);
        mgauge_set(m->keys, (double)agg_live_keys(l->a));
        mgauge_set(m->pending, (double)agg_pending_batches(l->a));
        mgauge_set(m->state_bytes, (double)agg_state_bytes(l->a));
        mgauge_set(m->lag, (double)l->c.lag(l->c.ctx));
    }
    httpd_set_ready(l->http, l->assigned && l->writer_ok,
                    !l->assigned ? "no partition assignment yet" : "writer has not answered");
}

static void count_retry(aggloop *l, mcounter *c)
{
    if (l->has_metrics)
        mcounter_add(c, 1);
}

/* ---- consumer side effects ---- */

/* Before a resume, put every partition whose next offset we know exactly there: older librdkafka
 * releases let a pause() that follows a seek() restore the pre-seek position (#3567), and our own
 * bookkeeping is the truth anyway. */
static void seek_to_expected(aggloop *l)
{
    int32_t ids[1024];
    int64_t offs[1024];
    size_t n = agg_partitions(l->a, ids, 1024), k = 0;
    for (size_t i = 0; i < n && i < 1024; i++) {
        int64_t from, next;
        int pending;
        if (agg_range(l->a, ids[i], &from, &next, &pending) == 0 && next >= 0) {
            ids[k] = ids[i];
            offs[k++] = next;
        }
    }
    if (k)
        l->c.seek(l->c.ctx, ids, offs, k);
}

/* Pause or resume every assigned partition (retry mode, back-pressure). */
static void set_paused(aggloop *l, int pause)
{
    if (l->paused == pause)
        return;
    if (!pause)
        seek_to_expected(l);
    l->c.pause(l->c.ctx, pause);
    log_debug(pause ? "consumption paused" : "consumption resumed", "pending_batches=%zu",
              agg_pending_batches(l->a));
    l->paused = pause;
}

static void seek_partition(aggloop *l, int32_t partition, int64_t offset)
{
    int64_t off = offset >= 0 ? offset : AGGLOOP_START_OFFSET;
    l->c.seek(l->c.ctx, &partition, &off, 1);
}

/* ---- writer side ---- */

/* One request on the query channel, waited for in 100 ms steps; ERR_CLOSED as soon as stopping. */
static int writer_call(aggloop *l, const void *data, size_t len, Rsvp__V1__WriterReply **r)
{
    int rc = l->w.start(l->w.ctx, WLINK_QUERY, data, len, l->o.request_timeout_ms);
    if (rc)
        return rc;
    while ((rc = l->w.poll(l->w.ctx, WLINK_QUERY, MAX_POLL_MS, r)) == 1)
        if (stopping(l))
            return ERR_CLOSED; /* the request times out on its own later */
    return rc;
}

/* Ask the writer for the stored next offsets of parts[0..n) into stored[]. One attempt.
 * 0, ERR_RETRY (writer said no), ERR_TIMEOUT/ERR_IO/ERR_INVALID, ERR_CLOSED (stopping). */
static int query_offsets(aggloop *l, const int32_t *parts, size_t n, int64_t *stored)
{
    void *req;
    size_t len;
    if (agg_pack_offset_query(l->topic, parts, n, &req, &len))
        return ERR_NOMEM;
    Rsvp__V1__WriterReply *r = NULL;
    int rc = writer_call(l, req, len, &r);
    free(req);
    if (rc)
        return rc;
    l->writer_ok = 1; /* it answered, whatever it said */
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

/* query_offsets until it succeeds or a stop is requested (then ERR_CLOSED). */
static int query_offsets_retry(aggloop *l, const int32_t *parts, size_t n, int64_t *stored)
{
    backoff bo;
    backoff_init(&bo, l->o.backoff_base_ms, l->o.backoff_max_ms, 0);
    for (;;) {
        int rc = query_offsets(l, parts, n, stored);
        if (rc == 0 || rc == ERR_NOMEM)
            return rc;
        if (stopping(l))
            return ERR_CLOSED;
        count_retry(l, l->m.query_retries); /* directly: we block the loop that exports */
        int64_t d = backoff_next(&bo);
        log_warn("writer offset query failed, retrying", "err=%s retry_in_ms=%lld", err_str(rc),
                 (long long)d);
        l->clk.sleep_ms(l->clk.ctx, d);
        if (stopping(l))
            return ERR_CLOSED;
    }
}

static void handle_reply(aggloop *l, int err, Rsvp__V1__WriterReply *r)
{
    if (l->has_metrics)
        mhist_observe(l->m.batch_seconds, (double)(now_ms(l) - l->sent_at_ms) / 1000.0);
    agg_action act;
    agg_on_reply(l->a, err, r, &act);
    if (r)
        l->writer_ok = 1;
    switch (act.act) {
    case AGG_ACT_NONE: break;
    case AGG_ACT_COMMIT:
        if (act.offset >= 0)
            l->c.commit(l->c.ctx, act.partition, act.offset);
        if (l->retry_mode) {
            l->retry_mode = 0;
            backoff_reset(&l->bo);
            log_info("writer accepts batches again", "partition=%d", act.partition);
        }
        break;
    case AGG_ACT_RETRY: {
        int64_t d = backoff_next(&l->bo);
        count_retry(l, l->m.retries);
        if (!l->retry_mode)
            log_warn("batch not applied, pausing and retrying", "partition=%d result=%s err=%s",
                     act.partition, agg_result_name(act.result), r && r->message ? r->message : "");
        l->retry_mode = 1;
        l->retry_at = now_ms(l) + d;
        break;
    }
    case AGG_ACT_SEEK:
        log_warn("batch stale, partition state dropped", "partition=%d stored_offset=%lld", act.partition,
                 (long long)act.offset);
        seek_partition(l, act.partition, act.offset);
        break;
    case AGG_ACT_REQUERY: {
        int64_t from, next, stored;
        int pending;
        log_error("writer rejected batch, partition state dropped", "partition=%d result=%s message=%s",
                  act.partition, agg_result_name(act.result), r && r->message ? r->message : "");
        if (agg_range(l->a, act.partition, &from, &next, &pending) != 0)
            break;
        if (query_offsets(l, &act.partition, 1, &stored) != 0)
            stored = from; /* best known */
        if (agg_assign(l->a, act.partition, stored) != 0)
            l->failed = ERR_NOMEM;
        seek_partition(l, act.partition, stored);
        break;
    }
    }
    if (r)
        rsvp__v1__writer_reply__free_unpacked(r, NULL);
}

/* Collect a finished batch request (waiting at most wait_ms) and send the next one. */
static void pump_writer(aggloop *l, int64_t wait_ms)
{
    if (agg_inflight(l->a)) {
        Rsvp__V1__WriterReply *r = NULL;
        int rc = l->w.poll(l->w.ctx, WLINK_BATCH, wait_ms, &r);
        if (rc == 1)
            return;
        handle_reply(l, rc == ERR_NOTFOUND ? ERR_IO : rc, rc == 0 ? r : NULL);
    }
    if (l->retry_mode && !agg_pending_batches(l->a)) {
        /* the failed batch is gone (revoked, or dropped by STALE/ERROR): nothing left to retry */
        l->retry_mode = 0;
        backoff_reset(&l->bo);
    }
    if (l->retry_mode && now_ms(l) < l->retry_at)
        return;
    int32_t p;
    const void *data;
    size_t len;
    if (agg_next_request(l->a, &p, &data, &len)) {
        l->sent_at_ms = now_ms(l);
        if (l->w.start(l->w.ctx, WLINK_BATCH, data, len, l->o.request_timeout_ms) != 0)
            handle_reply(l, ERR_IO, NULL); /* counted as transport failure, retried */
    }
}

/* ---- counting ---- */

/* Count the polled messages in poll order, then release them. Runs after each drain and at the
 * start of every rebalance: a revoke or an assignment must not overtake messages polled before it
 * (a partition re-assigned at its stored offset would count them first and then drop the re-read
 * messages below them as duplicates). */
static void flush_pending(aggloop *l)
{
    for (int i = 0; i < l->npend; i++) {
        const aggloop_msg *m = &l->pend[i];
        l->pend_msg[i] = (agg_msg){m->partition, m->offset, m->payload, m->len, 0};
    }
    agg_consume_many(l->a, l->pend_msg, (size_t)l->npend);
    for (int i = 0; i < l->npend; i++) {
        if (l->pend_msg[i].rc != ERR_NOMEM)
            continue;
        log_error("out of memory counting a message", "partition=%d", l->pend_msg[i].partition);
        l->failed = ERR_NOMEM;
        break;
    }
    for (int i = 0; i < l->npend; i++)
        l->c.release(l->c.ctx, &l->pend[i]);
    l->npend = 0;
}

/* One wake-up: wait for a message, take what is already queued without waiting, at most DRAIN_MAX,
 * and count them together (agg_consume_many overlaps their table lookups), so that the trigger,
 * writer and pause checks run once per burst instead of once per message. */
static void drain(aggloop *l, int wait_ms)
{
    aggloop_msg m;
    int got = l->c.poll(l->c.ctx, wait_ms, &m);
    while (got) {
        l->pend[l->npend++] = m; /* a rebalance inside the next poll flushes these first */
        if (l->npend == DRAIN_MAX)
            break;
        got = l->c.poll(l->c.ctx, 0, &m);
    }
    flush_pending(l);
}

/* ---- rebalance ---- */

int aggloop_assign(aggloop *l, const int32_t *parts, size_t n, int64_t *offs)
{
    flush_pending(l); /* messages polled before this rebalance are counted before it */
    for (size_t i = 0; i < n; i++)
        offs[i] = AGGLOOP_START_OFFSET;
    /* Let our in-flight batch finish first, so the offsets we read include it. */
    int64_t deadline = now_ms(l) + l->o.request_timeout_ms;
    while (agg_inflight(l->a) && !stopping(l) && now_ms(l) < deadline)
        pump_writer(l, MAX_POLL_MS);
    int64_t *stored = calloc(n ? n : 1, sizeof *stored);
    int rc = stored ? 0 : ERR_NOMEM;
    if (rc == 0 && n)
        rc = query_offsets_retry(l, parts, n, stored);
    if (rc == 0 && !n) { /* a standby: only learn that the writer answers (for /readyz) */
        int32_t zero = 0;
        int64_t ignored;
        query_offsets(l, &zero, 1, &ignored);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if ((rc = agg_assign(l->a, parts[i], stored[i])) != 0)
            break;
        offs[i] = stored[i] >= 0 ? stored[i] : AGGLOOP_START_OFFSET;
        log_info("partition assigned", "partition=%d stored_offset=%lld", parts[i], (long long)stored[i]);
    }
    free(stored);
    if (rc && rc != ERR_CLOSED) {
        log_error("cannot assign partitions", "err=%s", err_str(rc));
        l->failed = rc;
    }
    l->assigned = 1;
    return rc;
}

void aggloop_revoke(aggloop *l, const int32_t *parts, size_t n)
{
    flush_pending(l);
    /* Revoked (or lost): their unwritten deltas are somebody else's job now. */
    for (size_t i = 0; i < n; i++)
        agg_revoke(l->a, parts[i]);
}

int aggloop_paused(const aggloop *l)
{
    return l->paused;
}

const agg *aggloop_agg(const aggloop *l)
{
    return l->a;
}

/* ---- the loop ---- */

int aggloop_new(aggloop **out, const aggloop_opts *o, const aggloop_consumer *c, const aggloop_writer *w,
                const aggloop_clock *clk, httpd *http)
{
    aggloop *l = calloc(1, sizeof *l);
    if (!l)
        return ERR_NOMEM;
    l->o = *o;
    l->c = *c;
    l->w = *w;
    l->clk = *clk;
    l->http = http;
    l->topic = strdup(o->topic);
    l->a = agg_new(o->topic, o->sender, o->max_batch_keys, o->max_batch_bytes);
    if (!l->topic || !l->a) {
        aggloop_free(l);
        return ERR_NOMEM;
    }
    l->o.topic = l->topic;
    l->o.sender = NULL; /* agg_new copied it */
    backoff_init(&l->bo, o->backoff_base_ms, o->backoff_max_ms, 0);
    if (o->metrics) {
        metrics_init(&l->m);
        l->has_metrics = 1;
    }
    l->next_trigger = now_ms(l) + o->trigger_ms;
    httpd_set_ready(http, 0, "no partition assignment yet");
    *out = l;
    return 0;
}

void aggloop_free(aggloop *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->npend; i++)
        l->c.release(l->c.ctx, &l->pend[i]);
    agg_free(l->a);
    free(l->topic);
    free(l);
}

int aggloop_step(aggloop *l)
{
    drain(l, agg_inflight(l->a) ? 5 : MAX_POLL_MS);
    if (l->failed)
        return l->failed;
    int64_t now = now_ms(l);
    int all = now >= l->next_trigger;
    if (all)
        l->next_trigger = now + l->o.trigger_ms;
    if (agg_freeze(l->a, all) < 0) {
        log_error("out of memory freezing a batch", NULL);
        return l->failed = ERR_NOMEM;
    }
    pump_writer(l, 0);
    set_paused(l, l->retry_mode || agg_backlogged(l->a));
    if (now >= l->next_export) {
        export(l);
        l->next_export = now + EXPORT_MS;
    }
    return l->failed;
}

int aggloop_run(aggloop *l)
{
    int rc = 0;
    while (!stopping(l) && (rc = aggloop_step(l)) == 0)
        ;
    aggloop_flush(l);
    export(l);
    return rc;
}

void aggloop_flush(aggloop *l)
{
    set_paused(l, 1);
    if (agg_freeze_for(l->a, 1, AGG_TRIG_SHUTDOWN) < 0)
        return;
    l->retry_mode = 0;
    int64_t deadline = now_ms(l) + l->o.request_timeout_ms;
    while (now_ms(l) < deadline && !l->retry_mode && (agg_inflight(l->a) || agg_pending_batches(l->a) > 0))
        pump_writer(l, MAX_POLL_MS);
    log_info("flushed", "pending_batches=%zu", agg_pending_batches(l->a));
}
