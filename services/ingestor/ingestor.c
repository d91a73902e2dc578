/* ingestor.c: the loop. Two resume states: `cur` (everything produced, including the open
 * transaction) decides dedup and the next since_mtime; `committed` (as of the last commit) is what
 * a failed transaction rolls back to. Lines are produced from inside the curl write callback; when
 * they cannot be (queue full, transaction full) the rest stay in the splitter and the transfer is
 * paused until the loop has made room. */
#include "services/ingestor/ingestor.h"

#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/sig.h"
#include "services/ingestor/linesplit.h"
#include "services/ingestor/rsvpscan.h"
#include "services/ingestor/source.h"

#define INGESTOR_TICK_MS         100 /* longest wait between looks at signals and Kafka */
#define INGESTOR_OVERSIZE_LOG_MS 10000

/* Why lines are waiting in the splitter instead of being produced. */
enum {
    HOLD_NONE = 0,
    HOLD_QUEUE,  /* librdkafka's queue is full: poll, then retry the same line */
    HOLD_COMMIT, /* the transaction reached commit_messages: commit first */
    HOLD_ABORT,  /* the transaction is abortable: roll back before anything else */
};

struct ingestor {
    ingestor_opts o;
    producer *prod;
    resume *committed; /* caller's; state as of the last commit */
    resume *cur;       /* ours; state including the open transaction */
    httpd *httpd;
    source *src;
    linesplit *ls;
    backoff bo;

    int hold;
    int fatal;
    int flowing;     /* a line arrived on this connection (backoff was reset) */
    int past_resume; /* a line newer than L arrived on this connection: the replay of the
                              resume point is over, an older mtime now is a new (out-of-order) line */
    int broker_ok;   /* last transaction call succeeded */
    int ready;       /* what we last told httpd */
    uint64_t connects;
    int64_t next_connect_ms;
    int64_t txn_start_ms; /* monotonic time the open transaction got its first message */
    int64_t oversize_log_ms;
    uint64_t oversize_unlogged;

    mcounter *m_lines, *m_bytes, *m_produced, *m_reconnects, *m_oversize, *m_invalid, *m_dups, *m_txns,
        *m_aborts, *m_pauses;
    mgauge *g_last_mtime, *g_lag;
};

static void note_oversize(ingestor *g, size_t len)
{
    mcounter_add(g->m_oversize, 1);
    g->oversize_unlogged++;
    int64_t now = clock_mono_ms();
    if (now - g->oversize_log_ms >= INGESTOR_OVERSIZE_LOG_MS) {
        log_warn("oversize line skipped", "bytes_seen=%zu max_line_bytes=%lld skipped_since_last_log=%llu",
                 len, (long long)g->o.max_line_bytes, (unsigned long long)g->oversize_unlogged);
        g->oversize_log_ms = now;
        g->oversize_unlogged = 0;
    }
}

/* drain: produce buffered complete lines until none is left or something makes us hold. */
static void drain(ingestor *g)
{
    int64_t ts = clock_wall_ms();     /* ingest time: one per batch of bytes received together */
    uint64_t lines = 0, produced = 0; /* added to the metrics once per call, not per line */
    while (g->hold == HOLD_NONE) {
        if (producer_txn_messages(g->prod) >= (uint64_t)g->o.commit_messages) {
            g->hold = HOLD_COMMIT;
            break;
        }
        const char *line;
        size_t len;
        int k = linesplit_next(g->ls, &line, &len);
        if (k == LINESPLIT_NONE)
            break;
        if (k == LINESPLIT_OVERSIZE) {
            lines++;
            note_oversize(g, len);
            continue;
        }
        int64_t id = 0, mtime = 0;
        int valid = rsvpscan_line(line, len, &id, &mtime) == 0;
        if (valid && !g->flowing) {
            g->flowing = 1;
            backoff_reset(&g->bo); /* data flows again */
        }
        if (valid) {
            int verdict = resume_check(g->cur, id, mtime);
            if (verdict == RESUME_OLDER && g->past_resume)
                verdict = RESUME_NEW; /* a live stream is not sorted by mtime */
            else if (verdict == RESUME_NEW && mtime > resume_mtime(g->cur))
                g->past_resume = 1;
            if (verdict != RESUME_NEW) {
                if (verdict == RESUME_BOUNDARY)
                    resume_skip(g->cur, id, mtime);
                lines++;
                mcounter_add(g->m_dups, 1);
                continue;
            }
        }
        if (producer_refused(g->prod, line, len)) { /* the broker said too large: skip */
            lines++;
            note_oversize(g, len);
            continue;
        }
        char key[24];
        size_t keylen = valid ? rsvpscan_format_id(id, key) : 0;
        int rc = producer_send(g->prod, line, len, valid ? key : NULL, keylen, ts);
        if (rc == ERR_RETRY) {
            linesplit_unget(g->ls);
            g->hold = HOLD_QUEUE;
            mcounter_add(g->m_pauses, 1);
            break;
        }
        lines++;
        if (rc == ERR_RANGE) {
            note_oversize(g, len);
            continue;
        }
        if (rc == ERR_FATAL) {
            g->fatal = 1;
            g->hold = HOLD_ABORT;
            break;
        }
        if (rc != 0) {
            g->hold = HOLD_ABORT;
            break;
        }
        if (producer_txn_messages(g->prod) == 1)
            g->txn_start_ms = clock_mono_ms(); /* the commit interval runs from the first message */
        produced++;
        if (!valid) {
            mcounter_add(g->m_invalid, 1);
        } else if (resume_note(g->cur, id, mtime) != 0) {
            /* Produced but not remembered: a reconnect could duplicate it. Roll back instead. */
            log_error("resume state: out of memory", NULL);
            g->hold = HOLD_ABORT;
            break;
        }
    }
    mcounter_add(g->m_lines, lines);
    mcounter_add(g->m_produced, produced);
}

/* on_data: the source's body callback (runs inside source_poll/source_resume). */
static int on_data(void *ud, const char *p, size_t n)
{
    ingestor *g = ud;
    if (g->hold != HOLD_NONE)
        return SOURCE_HOLD;
    if (linesplit_feed(g->ls, p, n) != 0) {
        log_error("line buffer: out of memory", "bytes=%zu", n);
        return SOURCE_ABORT;
    }
    mcounter_add(g->m_bytes, n);
    drain(g);
    return SOURCE_TAKEN;
}

static void schedule_reconnect(ingestor *g, int64_t at_least_ms)
{
    int64_t delay = backoff_next(&g->bo);
    if (at_least_ms > delay)
        delay = at_least_ms;
    g->next_connect_ms = clock_mono_ms() + delay;
}

/* rollback: the open transaction is gone (aborted); forget everything since the last commit and
 * fetch it again from since_mtime = committed L. */
static int rollback(ingestor *g, const char *why, int need_abort)
{
    char err[256] = "";
    if (need_abort && producer_abort(g->prod, err, sizeof err) != 0) {
        log_error("abort transaction failed", "error=%s", err);
        return ERR_FATAL;
    }
    mcounter_add(g->m_aborts, 1);
    if (resume_copy(g->cur, g->committed) != 0)
        return ERR_NOMEM;
    source_stop(g->src);
    linesplit_reset(g->ls);
    g->hold = HOLD_NONE;
    g->broker_ok = 0;
    schedule_reconnect(g, 0);
    log_warn("transaction aborted, rolled back", "reason=%s resume_mtime=%lld boundary_lines=%zu", why,
             (long long)resume_mtime(g->cur), resume_boundary_count(g->cur));
    return 0;
}

static int commit(ingestor *g)
{
    char err[256] = "";
    int rc = producer_commit(g->prod, err, sizeof err);
    if (rc == 0) {
        mcounter_add(g->m_txns, 1);
        g->broker_ok = 1;
        return resume_copy(g->committed, g->cur);
    }
    if (rc == ERR_FATAL) {
        log_error("commit transaction: fatal", "error=%s", err);
        return ERR_FATAL;
    }
    return rollback(g, err, 0); /* producer_commit already aborted */
}

static void connect_source(ingestor *g)
{
    linesplit_reset(g->ls);   /* a partial line of the previous connection is incomplete data */
    resume_reconnect(g->cur); /* the new connection replays mtime == L from its start */
    g->flowing = 0;
    g->past_resume = 0;
    if (g->connects++ > 0)
        mcounter_add(g->m_reconnects, 1);
    int64_t since = resume_mtime(g->cur) >= 0 ? resume_mtime(g->cur) : g->o.initial_since_ms;
    int rc = source_start(g->src, since);
    if (rc != 0) {
        log_error("source start failed", "url=%s error=%s", source_url(g->src), err_str(rc));
        schedule_reconnect(g, 0);
        return;
    }
    log_info("source connecting", "url=%s resume_mtime=%lld boundary_lines=%zu attempt=%llu",
             source_url(g->src), (long long)resume_mtime(g->cur), resume_boundary_count(g->cur),
             (unsigned long long)g->connects);
}

static void source_ended(ingestor *g, const source_end *e)
{
    schedule_reconnect(g, e->retry_after_ms);
    log_warn("source disconnected", "reason=%s http_status=%ld body_bytes=%lld retry_in_ms=%lld", e->reason,
             e->http_status, (long long)e->body_bytes, (long long)(g->next_connect_ms - clock_mono_ms()));
}

static void update_status(ingestor *g)
{
    int64_t l = resume_mtime(g->cur);
    if (l >= 0) {
        mgauge_set(g->g_last_mtime, (double)l / 1000.0);
        mgauge_set(g->g_lag, (double)(clock_wall_ms() - l) / 1000.0);
    }
    int ready = source_streaming(g->src) && g->broker_ok;
    if (ready != g->ready) {
        g->ready = ready;
        httpd_set_ready(g->httpd, ready,
                        !g->broker_ok ? "kafka transaction failing" : "source not connected");
    }
}

/* wait_ms: how long the loop may block in curl: until the next tick, commit or reconnect. */
static int wait_ms(const ingestor *g, int64_t now)
{
    if (g->hold != HOLD_NONE)
        return 0;
    int64_t w = INGESTOR_TICK_MS;
    if (producer_txn_open(g->prod) && g->txn_start_ms + g->o.commit_interval_ms - now < w)
        w = g->txn_start_ms + g->o.commit_interval_ms - now;
    if (!source_active(g->src) && g->next_connect_ms - now < w)
        w = g->next_connect_ms - now;
    return w < 0 ? 0 : (int)w;
}

int ingestor_run(ingestor *g)
{
    int rc = 0;
    source_end end;
    while (!sig_stopping()) {
        if (g->fatal || producer_fatal(g->prod)) {
            rc = ERR_FATAL;
            break;
        }
        /* 1. Kafka: delivery reports; while we hold for queue space, wait here a little. */
        producer_poll(g->prod, g->hold == HOLD_QUEUE ? 10 : 0);
        int64_t now = clock_mono_ms();
        /* 2. A failed produce rolls back before anything else happens. */
        if (g->hold == HOLD_ABORT) {
            if ((rc = rollback(g, "produce failed", 1)) != 0)
                break;
        }
        /* 3. Commit when the transaction is full or old enough. */
        if (producer_txn_open(g->prod) &&
            (g->hold == HOLD_COMMIT || now - g->txn_start_ms >= g->o.commit_interval_ms)) {
            if ((rc = commit(g)) != 0)
                break;
        }
        /* 4. Lines held in the splitter, then the paused transfer. */
        if (g->hold == HOLD_QUEUE || (g->hold == HOLD_COMMIT && !producer_txn_open(g->prod))) {
            g->hold = HOLD_NONE;
            drain(g);
        }
        if (g->hold == HOLD_NONE && source_paused(g->src))
            source_resume(g->src); /* may call on_data */
        /* 5. Connect when due and nothing from the last connection is waiting. */
        if (!source_active(g->src) && g->hold == HOLD_NONE && now >= g->next_connect_ms)
            connect_source(g);
        /* 6. Drive the transfer; this is where the loop sleeps. */
        if (source_poll(g->src, wait_ms(g, clock_mono_ms()), &end))
            source_ended(g, &end);
        update_status(g);
    }
    /* Shutdown: stop reading, commit what was produced (commit flushes). */
    source_stop(g->src);
    httpd_set_ready(g->httpd, 0, "stopping");
    if (rc == 0 && g->hold == HOLD_ABORT)
        rc = rollback(g, "produce failed", 1) == 0 ? ERR_STALE : ERR_FATAL;
    if (rc == 0 && producer_txn_open(g->prod)) {
        char err[256] = "";
        int crc = producer_commit(g->prod, err, sizeof err);
        if (crc == 0) {
            mcounter_add(g->m_txns, 1);
            resume_copy(g->committed, g->cur);
        } else {
            log_error("final commit failed", "error=%s", err);
            rc = crc == ERR_FATAL ? ERR_FATAL : ERR_STALE;
        }
    }
    update_status(g);
    return rc;
}

int ingestor_new(ingestor **out, const ingestor_opts *o, producer *prod, resume *committed, httpd *h)
{
    ingestor *g = calloc(1, sizeof(*g));
    if (!g)
        return ERR_NOMEM;
    g->o = *o;
    g->prod = prod;
    g->committed = committed;
    g->httpd = h;
    g->broker_ok = 1; /* producer_init succeeded */
    g->ready = -1;
    g->oversize_log_ms = -INGESTOR_OVERSIZE_LOG_MS;
    backoff_init(&g->bo, o->backoff_base_ms, o->backoff_max_ms, 0);
    int rc = resume_new(&g->cur);
    if (rc == 0)
        rc = resume_copy(g->cur, committed);
    if (rc == 0)
        rc = linesplit_new(&g->ls, (size_t)o->max_line_bytes);
    if (rc == 0)
        rc = source_new(&g->src, o->source_url, o->stall_ms, on_data, g);
    if (rc == 0)
        rc = source_set_encoding(g->src, o->accept_encoding);
    if (rc != 0) {
        ingestor_free(g);
        return rc;
    }
    g->m_lines = metrics_counter("rsvp_ingestor_lines_total", NULL,
                                 "non-empty lines received (including dropped ones)");
    g->m_bytes =
        metrics_counter("rsvp_ingestor_bytes_total", NULL, "decoded body bytes received from the source");
    g->m_produced = metrics_counter("rsvp_ingestor_produced_total", NULL,
                                    "lines produced to the raw topic (committed or not)");
    g->m_reconnects =
        metrics_counter("rsvp_ingestor_reconnects_total", NULL, "source connections after the first");
    g->m_oversize =
        metrics_counter("rsvp_ingestor_oversize_lines_total", NULL, "lines over MAX_LINE_BYTES, skipped");
    g->m_invalid = metrics_counter("rsvp_ingestor_invalid_lines_total", NULL,
                                   "lines without a valid rsvp_id and mtime (produced anyway)");
    g->m_dups = metrics_counter("rsvp_ingestor_duplicates_dropped_total", NULL,
                                "lines at or behind the resume point, dropped after a reconnect");
    g->m_txns = metrics_counter("rsvp_ingestor_transactions_total", NULL, "Kafka transactions committed");
    g->m_aborts = metrics_counter("rsvp_ingestor_transaction_aborts_total", NULL,
                                  "Kafka transactions aborted and rolled back");
    g->m_pauses = metrics_counter("rsvp_ingestor_backpressure_pauses_total", NULL,
                                  "times the source was paused because Kafka's queue was full");
    g->g_last_mtime =
        metrics_gauge("rsvp_ingestor_last_mtime_seconds", NULL, "highest RSVP mtime produced (Unix time)");
    g->g_lag =
        metrics_gauge("rsvp_ingestor_mtime_lag_seconds", NULL, "now minus the highest RSVP mtime produced");
    *out = g;
    return 0;
}

void ingestor_free(ingestor *g)
{
    if (!g)
        return;
    source_free(g->src);
    linesplit_free(g->ls);
    resume_free(g->cur);
    free(g);
}
