/* aggloop.c: the aggregator's loop over abstract consumer, writer and clock tables (aggloop.h):
 * draining, the writer pump, retry mode, back-pressure pauses, seeks, offset queries, rebalances,
 * metrics and readiness. aggregator.c decides; this file carries the decisions out. */
#include "services/aggregator/aggloop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"

#define MAX_POLL_MS      100  /* the loop notices signals and replies at least this often */
#define INFLIGHT_POLL_MS 5    /* ... and a reply this often when it does not wake the loop */
#define DRAIN_MAX        512  /* messages taken per wake-up before the loop's housekeeping runs */
#define EXPORT_MS        500  /* metrics and readiness */
#define PROBE_MS         2000 /* a standby asks the writer this often whether it answers */

typedef struct metrics_set {
    mcounter *consumed, *decode_errors, *duplicates, *rows, *retries, *discarded, *query_retries;
    mcounter *batches[AGG_NRES];
    mcounter *cut[AGG_NTRIG];
    mgauge *keys, *pending, *lag, *state_bytes, *rejected;
    mhist *batch_seconds;
    agg_stats last; /* what was already added to the counters */
} metrics_set;

/* A list of partitions (and offsets) for one consumer call. */
typedef struct plist {
    int32_t *ids;
    int64_t *offs;
    size_t n, cap;
} plist;

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
    int writer_ok;      /* the writer answered (a standby: its last probe did) */
    int probing;        /* a standby's probe query is outstanding on WLINK_QUERY */
    int64_t next_probe; /* when a standby probes the writer next */
    size_t nrejected;   /* partitions whose batches the writer rejects (last export) */
    int ready;          /* last readiness set, and why */
    char why[400];
    int assigned;       /* a rebalance assigned us (possibly zero partitions) */
    int64_t sent_at_ms; /* when the in-flight batch was sent */
    int64_t next_trigger, next_export;
    int failed;                /* ERR_NOMEM met while counting (inside a rebalance callback too) */
    plist pause, resume, seek; /* update_pauses' lists, kept between calls */
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
    m->rejected = metrics_gauge("rsvp_aggregator_rejected_partitions", NULL,
                                "partitions whose batches the writer rejects (ERROR): stuck at a record "
                                "until the writer accepts it; /readyz and the log name the offset");
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

static void ready_as(aggloop *l, int ready, const char *why)
{
    l->ready = ready;
    snprintf(l->why, sizeof l->why, "%s", why ? why : "");
    httpd_set_ready(l->http, ready, why);
}

/* Ready: joined the group (a rebalance happened, maybe with no partition: a standby that can take
 * over), the writer answers, and the writer rejects no partition's records. */
static void set_readiness(aggloop *l)
{
    char why[400];
    agg_part st, first = {0};
    size_t n = agg_npartitions(l->a), nrej = 0;
    for (size_t i = 0; i < n; i++)
        if (agg_part_at(l->a, i, &st) == 0 && st.rejected && nrej++ == 0)
            first = st;
    l->nrejected = nrej;
    if (l->has_metrics)
        mgauge_set(l->m.rejected, (double)nrej);
    if (!l->assigned) {
        ready_as(l, 0, "not in the consumer group yet (no rebalance)");
    } else if (!l->writer_ok) {
        ready_as(l, 0, n ? "writer has not answered" : "standby: the writer does not answer");
    } else if (nrej && first.bad_offset >= 0) {
        snprintf(why, sizeof why,
                 "partition %d stuck: the writer rejects the record at offset %lld (%zu partition(s) "
                 "rejected): %s",
                 first.partition, (long long)first.bad_offset, nrej, first.error);
        ready_as(l, 0, why);
    } else if (nrej) {
        snprintf(why, sizeof why,
                 "partition %d: the writer rejects batches before offset %lld, looking for the record "
                 "(%zu partition(s) rejected): %s",
                 first.partition, (long long)first.suspect_to, nrej, first.error);
        ready_as(l, 0, why);
    } else if (n == 0) {
        ready_as(l, 1, "standby: in the group with no partition, the writer answers");
    } else {
        ready_as(l, 1, NULL);
    }
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
    set_readiness(l);
}

static void count_retry(aggloop *l, mcounter *c)
{
    if (l->has_metrics)
        mcounter_add(c, 1);
}

/* ---- consumer side effects ---- */

static int plist_add(plist *pl, int32_t id, int64_t off)
{
    if (pl->n == pl->cap) {
        size_t nc = pl->cap ? pl->cap * 2 : 64;
        int32_t *ni = realloc(pl->ids, nc * sizeof *ni);
        if (ni)
            pl->ids = ni;
        int64_t *no = ni ? realloc(pl->offs, nc * sizeof *no) : NULL;
        if (!no)
            return ERR_NOMEM;
        pl->offs = no;
        pl->cap = nc;
    }
    pl->ids[pl->n] = id;
    pl->offs[pl->n++] = off;
    return 0;
}

/* Bring every partition's consumer state to what the counting state asks: pause the ones that
 * take no message now (all of them in retry mode or when pause_all); a partition that may take
 * messages again, or that refused some, is first put at its expected next offset, then resumed.
 * Seeking before every resume also covers older librdkafka releases, which let a pause() that
 * follows a seek() restore the pre-seek position (#3567): our own bookkeeping is the truth. */
static void update_pauses(aggloop *l, int pause_all)
{
    size_t n = agg_npartitions(l->a);
    for (size_t i = 0; i < n; i++) {
        agg_part st;
        if (agg_part_at(l->a, i, &st) != 0)
            continue;
        int want = pause_all || l->retry_mode || st.blocked;
        if (want && !st.paused) {
            if (plist_add(&l->pause, st.partition, 0) != 0)
                goto nomem;
        } else if (!want && (st.paused || st.reread)) {
            if (st.next >= 0 && plist_add(&l->seek, st.partition, st.next) != 0)
                goto nomem;
            if (st.paused && plist_add(&l->resume, st.partition, 0) != 0)
                goto nomem;
        }
    }
    if (l->seek.n)
        l->c.seek(l->c.ctx, l->seek.ids, l->seek.offs, l->seek.n);
    for (size_t i = 0; i < n; i++) {
        agg_part st;
        if (agg_part_at(l->a, i, &st) == 0 && st.reread && !st.blocked && !pause_all && !l->retry_mode)
            agg_rewound(l->a, st.partition); /* sought above (or nothing consumed yet: next < 0) */
    }
    if (l->resume.n) {
        l->c.pause(l->c.ctx, l->resume.ids, l->resume.n, 0);
        for (size_t i = 0; i < l->resume.n; i++)
            agg_set_paused(l->a, l->resume.ids[i], 0);
    }
    if (l->pause.n) {
        l->c.pause(l->c.ctx, l->pause.ids, l->pause.n, 1);
        for (size_t i = 0; i < l->pause.n; i++)
            agg_set_paused(l->a, l->pause.ids[i], 1);
    }
    if (l->pause.n || l->resume.n)
        log_debug("consumption paused/resumed", "paused=%zu resumed=%zu sought=%zu pending_batches=%zu",
                  l->pause.n, l->resume.n, l->seek.n, agg_pending_batches(l->a));
    l->pause.n = l->resume.n = l->seek.n = 0;
    return;
nomem:
    l->pause.n = l->resume.n = l->seek.n = 0;
    log_error("out of memory pausing partitions", NULL);
    l->failed = ERR_NOMEM;
}

/* Seek one partition to the start of its (new) range. */
static void seek_partition(aggloop *l, int32_t partition, int64_t offset)
{
    int64_t off = offset >= 0 ? offset : AGGLOOP_START_OFFSET;
    l->c.seek(l->c.ctx, &partition, &off, 1);
    agg_rewound(l->a, partition);
}

/* Release the holds whose time came (the partition is resumed by update_pauses). */
static void release_holds(aggloop *l, int64_t now)
{
    size_t n = agg_npartitions(l->a);
    for (size_t i = 0; i < n; i++) {
        agg_part st;
        if (agg_part_at(l->a, i, &st) == 0 && st.hold_until && now >= st.hold_until) {
            agg_hold(l->a, st.partition, 0);
            log_info("resending the record the writer rejected", "partition=%d offset=%lld attempt=%u",
                     st.partition, (long long)st.bad_offset, st.holds + 1);
        }
    }
}

/* ---- writer side ---- */

/* One request on the query channel, waited for in 100 ms steps; ERR_CLOSED as soon as stopping. */
static int writer_call(aggloop *l, const void *data, size_t len, Rsvp__V1__WriterReply **r)
{
    int rc;
    while (l->probing) { /* the channel carries one request at a time: finish the probe first */
        Rsvp__V1__WriterReply *pr = NULL;
        if ((rc = l->w.poll(l->w.ctx, WLINK_QUERY, MAX_POLL_MS, &pr)) == 1) {
            if (stopping(l))
                return ERR_CLOSED;
            continue;
        }
        l->probing = 0;
        if (rc == 0)
            rsvp__v1__writer_reply__free_unpacked(pr, NULL);
    }
    rc = l->w.start(l->w.ctx, WLINK_QUERY, data, len, l->o.request_timeout_ms);
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
    backoff_init(&bo, l->o.backoff_base_ms, l->o.backoff_max_ms, l->o.backoff_seed);
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

static int part_state(const aggloop *l, int32_t partition, agg_part *out)
{
    size_t n = agg_npartitions(l->a);
    for (size_t i = 0; i < n; i++)
        if (agg_part_at(l->a, i, out) == 0 && out->partition == partition)
            return 0;
    return ERR_NOTFOUND;
}

/* The writer answered ERROR: say what the partition's rejection search knows now. */
static void log_rejection(const aggloop *l, const agg_action *act, int64_t from)
{
    agg_part st;
    if (part_state(l, act->partition, &st) != 0)
        return;
    if (act->search == AGG_SEARCH_FOUND)
        log_error("writer rejects a record: partition stuck at it until the writer accepts it",
                  "partition=%d offset=%lld attempt=%u error=%s", act->partition, (long long)st.bad_offset,
                  st.holds + 1, st.error);
    else if (act->search == AGG_SEARCH_STARTED)
        log_error("writer rejects a batch: cutting smaller batches to find the record",
                  "partition=%d from=%lld to=%lld next_batch_messages=%zu error=%s", act->partition,
                  (long long)from, (long long)st.suspect_to, st.cap, st.error);
    else
        log_warn("writer rejects a smaller batch too",
                 "partition=%d from=%lld to=%lld next_batch_messages=%zu error=%s", act->partition,
                 (long long)from, (long long)st.suspect_to, st.cap, st.error);
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
        if (act.offset >= 0)
            l->c.commit(l->c.ctx, act.partition, act.offset);
        break;
    case AGG_ACT_REQUERY: {
        int64_t from, next, stored;
        int pending;
        if (agg_range(l->a, act.partition, &from, &next, &pending) != 0)
            break;
        log_rejection(l, &act, from);
        if (query_offsets(l, &act.partition, 1, &stored) != 0)
            stored = from; /* best known */
        else if (stored >= 0)
            l->c.commit(l->c.ctx, act.partition, stored);
        if (agg_assign(l->a, act.partition, stored) != 0)
            l->failed = ERR_NOMEM;
        seek_partition(l, act.partition, stored);
        agg_part st;
        if (part_state(l, act.partition, &st) == 0 && st.bad_offset >= 0) {
            /* the record alone is rejected: resend it after a backoff, never skip it */
            unsigned sh = st.holds < 20 ? st.holds : 20;
            int64_t d = l->o.backoff_base_ms << sh;
            if (d > l->o.backoff_max_ms || d <= 0)
                d = l->o.backoff_max_ms;
            agg_hold(l->a, act.partition, now_ms(l) + d);
        }
        break;
    }
    }
    if (act.search == AGG_SEARCH_ENDED)
        log_info("writer accepts the partition again", "partition=%d", act.partition);
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

/* A standby (in the group, no partition) learns whether it could take over: every PROBE_MS one
 * offset query, without blocking the loop; writer_ok follows its outcome. */
static void probe_writer(aggloop *l, int64_t now)
{
    if (l->probing) {
        Rsvp__V1__WriterReply *r = NULL;
        int rc = l->w.poll(l->w.ctx, WLINK_QUERY, 0, &r);
        if (rc == 1)
            return;
        l->probing = 0;
        if (l->writer_ok != (rc == 0))
            log_info(rc == 0 ? "standby: the writer answers" : "standby: the writer does not answer",
                     "err=%s", rc == 0 ? "none" : err_str(rc));
        l->writer_ok = rc == 0;
        if (rc == 0)
            rsvp__v1__writer_reply__free_unpacked(r, NULL);
        l->next_probe = now + PROBE_MS;
        return;
    }
    if (!l->assigned || agg_npartitions(l->a) > 0 || now < l->next_probe)
        return;
    int32_t zero = 0;
    void *req;
    size_t len;
    if (agg_pack_offset_query(l->topic, &zero, 1, &req, &len))
        return;
    if (l->w.start(l->w.ctx, WLINK_QUERY, req, len, l->o.request_timeout_ms) == 0)
        l->probing = 1;
    else
        l->next_probe = now + PROBE_MS;
    free(req);
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
        if (stored[i] >= 0) /* the group's committed offset shows what the writer applied */
            l->c.commit(l->c.ctx, parts[i], stored[i]);
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

int aggloop_ready(const aggloop *l, const char **reason)
{
    *reason = l->why;
    return l->ready;
}

const agg *aggloop_agg(const aggloop *l)
{
    return l->a;
}

/* ---- the loop ---- */

/* next_trigger_at: the monotonic time of the next trigger after now: the wall clock's next multiple
 * of trigger_ms, trigger_offset_ms later. The ingestors commit at the multiples of their
 * COMMIT_INTERVAL: the offset leaves the parsers time to pass that commit on, so a trigger counts
 * what the last commit brought instead of most of it waiting one more trigger interval. */
static int64_t next_trigger_at(const aggloop *l, int64_t now)
{
    int64_t wall = l->clk.wall_ms ? l->clk.wall_ms(l->clk.ctx) : now;
    int64_t w = clock_until_boundary(wall, l->o.trigger_ms, l->o.trigger_offset_ms);
    /* the two clocks tick apart: a trigger due by the monotonic one may find the wall clock a
     * millisecond short of the boundary it was set for, which must not fire it twice */
    return now + (w < l->o.trigger_ms / 4 ? w + l->o.trigger_ms : w);
}

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
    backoff_init(&l->bo, o->backoff_base_ms, o->backoff_max_ms, o->backoff_seed);
    if (o->metrics) {
        metrics_init(&l->m);
        l->has_metrics = 1;
    }
    l->next_trigger = next_trigger_at(l, now_ms(l));
    ready_as(l, 0, "not in the consumer group yet (no rebalance)");
    *out = l;
    return 0;
}

void aggloop_free(aggloop *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->npend; i++)
        l->c.release(l->c.ctx, &l->pend[i]);
    plist *pls[] = {&l->pause, &l->resume, &l->seek};
    for (size_t i = 0; i < 3; i++) {
        free(pls[i]->ids);
        free(pls[i]->offs);
    }
    agg_free(l->a);
    free(l->topic);
    free(l);
}

/* poll_wait: how long a turn may wait for messages: until the next trigger or resend is due, at
 * most MAX_POLL_MS; INFLIGHT_POLL_MS while a reply is awaited that would not end the wait. */
static int poll_wait(const aggloop *l)
{
    if (agg_inflight(l->a) && !l->o.replies_wake)
        return INFLIGHT_POLL_MS;
    int64_t now = now_ms(l), w = l->next_trigger - now;
    if (l->retry_mode && l->retry_at - now < w)
        w = l->retry_at - now;
    return w > MAX_POLL_MS ? MAX_POLL_MS : w < 0 ? 0 : (int)w;
}

int aggloop_step(aggloop *l)
{
    drain(l, poll_wait(l));
    if (l->failed)
        return l->failed;
    int64_t now = now_ms(l);
    int all = now >= l->next_trigger;
    if (all)
        l->next_trigger = next_trigger_at(l, now);
    if (agg_freeze(l->a, all) < 0) {
        log_error("out of memory freezing a batch", NULL);
        return l->failed = ERR_NOMEM;
    }
    pump_writer(l, 0);
    probe_writer(l, now);
    release_holds(l, now);
    update_pauses(l, 0);
    /* every EXPORT_MS, and at each trigger: what the metrics say is then never older than the last
     * batches cut (a check that waits for the batches in PostgreSQL and then for pending_batches 0
     * reads the consumed count of that trigger or later, whatever the phase of the two timers) */
    if (all || now >= l->next_export) {
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
    update_pauses(l, 1);
    if (agg_freeze_for(l->a, 1, AGG_TRIG_SHUTDOWN) < 0)
        return;
    l->retry_mode = 0;
    int64_t deadline = now_ms(l) + l->o.request_timeout_ms;
    while (now_ms(l) < deadline && !l->retry_mode && (agg_inflight(l->a) || agg_pending_batches(l->a) > 0))
        pump_writer(l, MAX_POLL_MS);
    log_info("flushed", "pending_batches=%zu", agg_pending_batches(l->a));
}
