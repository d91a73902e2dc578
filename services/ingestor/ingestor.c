/* ingestor.c: the loop. The resume state (resume.h) decides which lines are duplicates and the
 * next since_mtime; it commits and rolls back with the Kafka transaction. Lines are produced from
 * inside the curl write callback; when they cannot be (queue full, transaction full) the rest stay
 * in the splitter and the transfer is paused until the loop has made room. */
#include "services/ingestor/ingestor.h"

#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/ktxn.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/sig.h"
#include "services/ingestor/linesplit.h"
#include "services/ingestor/rsvpscan.h"
#include "services/ingestor/source.h"

#define INGESTOR_TICK_MS 100   /* longest wait between looks at signals and Kafka */
#define INGESTOR_LOG_MS  10000 /* at most one log line per kind of refused line this often */
/* The line above the resume point is logged as an outlier once this many later lines stayed below. */
#define INGESTOR_OUTLIER_N 1000

/* Why lines are waiting in the splitter instead of being produced. */
enum {
    HOLD_NONE = 0,
    HOLD_QUEUE,  /* librdkafka's queue is full: poll, then retry the same line */
    HOLD_COMMIT, /* the transaction reached commit_messages: commit first */
    HOLD_ABORT,  /* the transaction is abortable: roll back before anything else */
};

/* A rate-limited log line: the first event logs at once, then at most one per INGESTOR_LOG_MS,
 * saying how many were not logged in between. */
typedef struct ratelog {
    int64_t last_ms;
    uint64_t unlogged;
} ratelog;

struct ingestor {
    ingestor_opts o;
    producer *prod;
    ktxn *txn; /* prod's transactions */
    resume *r; /* the caller's */
    httpd *httpd;
    source *src;
    linesplit *ls;
    backoff bo;

    int hold;
    int fatal;
    int flowing;     /* a line arrived on this connection (backoff was reset) */
    int broker_ok;   /* last transaction call succeeded */
    int ready;       /* what we last told httpd */
    const char *why; /* ... and why not (a static string) */
    uint64_t connects;
    int64_t next_connect_ms;
    int64_t txn_start_ms;  /* monotonic time the open transaction got its first message */
    int64_t txn_due_ms;    /* ... and when it is to be committed (a wall-clock boundary) */
    int64_t outlier_mtime; /* the last top line logged as an outlier */
    ratelog rl_oversize, rl_future, rl_overflow;

    mcounter *m_lines, *m_bytes, *m_produced, *m_reconnects, *m_oversize, *m_invalid, *m_dups, *m_txns,
        *m_aborts, *m_pauses, *m_future, *m_outliers, *m_overflow, *m_counted;
    mgauge *g_last_mtime, *g_lag, *g_resume_lines, *g_held_lines;
    mhist *h_commit, *h_txn;
};

/* ratelog_due: one event; 1 if it is to be logged now (*skipped: events not logged before it). */
static int ratelog_due(ratelog *rl, uint64_t *skipped)
{
    int64_t now = clock_mono_ms();
    if (rl->last_ms && now - rl->last_ms < INGESTOR_LOG_MS) {
        rl->unlogged++;
        return 0;
    }
    *skipped = rl->unlogged;
    rl->last_ms = now;
    rl->unlogged = 0;
    return 1;
}

static void note_oversize(ingestor *g, size_t len)
{
    mcounter_add(g->m_oversize, 1);
    uint64_t skipped;
    if (ratelog_due(&g->rl_oversize, &skipped))
        log_warn("oversize line skipped", "bytes_seen=%zu max_line_bytes=%lld skipped_since_last_log=%llu",
                 len, (long long)g->o.max_line_bytes, (unsigned long long)skipped);
}

/* noted: what the resume state made of a line just produced (resume_note* outcome): count and log
 * what it refused to let move the resume point, or could not remember one by one. */
static void noted(ingestor *g, int outcome, int valid, int64_t id, int64_t mtime, int64_t now_ms)
{
    uint64_t skipped;
    int future = valid && resume_beyond_clock(g->r, mtime, now_ms);
    if (future) {
        mcounter_add(g->m_future, 1);
        if (ratelog_due(&g->rl_future, &skipped))
            log_warn("line beyond the clock: produced, but it does not move the resume point",
                     "rsvp_id=%lld mtime=%lld ahead_ms=%lld resume_mtime=%lld not_logged_before=%llu",
                     (long long)id, (long long)mtime, (long long)(mtime - now_ms),
                     (long long)resume_mtime(g->r), (unsigned long long)skipped);
    }
    if (outcome == RESUME_OVERFLOW) {
        resume_info in;
        resume_get_info(g->r, &in);
        mcounter_add(g->m_overflow, 1);
        if (ratelog_due(&g->rl_overflow, &skipped))
            log_warn("resume state full: lines remembered by number only",
                     "kind=%s rsvp_id=%lld mtime=%lld resume_mtime=%lld lines=%zu held=%zu counted=%llu "
                     "not_logged_before=%llu",
                     !valid   ? "unreadable"
                     : future ? "beyond the clock"
                              : "window",
                     (long long)id, (long long)mtime, (long long)resume_mtime(g->r), in.lines, in.held,
                     (unsigned long long)in.overflow, (unsigned long long)skipped);
    }
}

/* outlier: the line above the resume point stayed above INGESTOR_OUTLIER_N later lines. */
static void outlier(ingestor *g)
{
    resume_info in;
    resume_get_info(g->r, &in);
    if (in.top_mtime == g->outlier_mtime)
        return;
    g->outlier_mtime = in.top_mtime;
    mcounter_add(g->m_outliers, 1);
    log_warn("line far above the stream: it moves the resume point only once another line reaches it",
             "rsvp_id=%lld mtime=%lld lines_below_it=%llu resume_mtime=%lld", (long long)in.top_id,
             (long long)in.top_mtime, (unsigned long long)in.below_top, (long long)resume_mtime(g->r));
}

/* drain: produce buffered complete lines until none is left or something makes us hold. */
static void drain(ingestor *g)
{
    int64_t ts = clock_wall_ms();     /* ingest time: one per batch of bytes received together */
    uint64_t lines = 0, produced = 0; /* added to the metrics once per call, not per line */
    while (g->hold == HOLD_NONE) {
        if (ktxn_messages(g->txn) >= (uint64_t)g->o.commit_messages) {
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
        int64_t id = -1, mtime = -1;
        uint64_t hash = 0;
        int valid = rsvpscan_line(line, len, &id, &mtime) == 0;
        if (valid && !g->flowing) {
            g->flowing = 1;
            backoff_reset(&g->bo); /* data flows again */
        }
        int verdict;
        if (valid) {
            verdict = resume_classify(g->r, id, mtime);
        } else {
            hash = resume_line_hash(line, len);
            verdict = resume_classify_unreadable(g->r, hash);
        }
        if (verdict != RESUME_NEW) { /* sent again after a reconnect: produced already */
            lines++;
            mcounter_add(g->m_dups, 1);
            if (verdict == RESUME_COUNTED)
                mcounter_add(g->m_counted, 1);
            continue;
        }
        if (ktxn_refused(g->txn, line, len)) { /* the broker said too large: skip */
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
        if (ktxn_messages(g->txn) == 1) {
            /* committed at the next multiple of the interval on the wall clock, where the
             * aggregators' triggers also fall (TRIGGER_OFFSET later): see commit-interval */
            g->txn_start_ms = clock_mono_ms();
            g->txn_due_ms =
                g->txn_start_ms + clock_until_boundary(clock_wall_ms(), g->o.commit_interval_ms, 0);
        }
        produced++;
        if (!valid)
            mcounter_add(g->m_invalid, 1);
        int outcome = valid ? resume_note(g->r, id, mtime, ts) : resume_note_unreadable(g->r, hash);
        if (outcome < 0) {
            /* Produced but not remembered: a reconnect could duplicate it. Roll back instead. */
            log_error("resume state: out of memory", NULL);
            g->hold = HOLD_ABORT;
            break;
        }
        if (outcome != RESUME_REMEMBERED)
            noted(g, outcome, valid, id, mtime, ts);
        if (valid && resume_lines_below_top(g->r) == INGESTOR_OUTLIER_N)
            outlier(g);
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
    if (need_abort && ktxn_abort(g->txn, err, sizeof err) != 0) {
        log_error("abort transaction failed", "error=%s", err);
        return ERR_FATAL;
    }
    mcounter_add(g->m_aborts, 1);
    if (resume_rollback(g->r) != 0)
        return ERR_NOMEM;
    source_stop(g->src);
    linesplit_reset(g->ls);
    g->hold = HOLD_NONE;
    g->broker_ok = 0;
    schedule_reconnect(g, 0);
    log_warn("transaction aborted, rolled back", "reason=%s resume_mtime=%lld since_mtime=%lld", why,
             (long long)resume_mtime(g->r), (long long)resume_since(g->r));
    return 0;
}

static int commit(ingestor *g)
{
    char err[256] = "";
    int64_t t0 = clock_mono_ns();
    int rc = ktxn_commit(g->txn, NULL, NULL, err, sizeof err);
    if (rc == 0) {
        int64_t t1 = clock_mono_ns();
        mhist_observe(g->h_commit, (double)(t1 - t0) / 1e9);
        mhist_observe(g->h_txn, (double)(t1 / 1000000 - g->txn_start_ms) / 1e3);
        mcounter_add(g->m_txns, 1);
        g->broker_ok = 1;
        if (resume_commit(g->r) != 0) {
            log_error("resume state: out of memory at commit", NULL);
            return ERR_NOMEM;
        }
        return 0;
    }
    if (rc == ERR_FATAL) {
        log_error("commit transaction: fatal", "error=%s", err);
        return ERR_FATAL;
    }
    return rollback(g, err, 0); /* ktxn_commit already aborted */
}

static void connect_source(ingestor *g)
{
    linesplit_reset(g->ls);            /* a partial line of the previous connection is incomplete data */
    if (resume_reconnect(g->r) != 0) { /* the new connection sends every line from since_mtime again */
        log_error("resume state: out of memory indexing the remembered lines", NULL);
        schedule_reconnect(g, 0);
        return;
    }
    g->flowing = 0;
    if (g->connects++ > 0)
        mcounter_add(g->m_reconnects, 1);
    int64_t since = resume_since(g->r) >= 0 ? resume_since(g->r) : g->o.initial_since_ms;
    int rc = source_start(g->src, since);
    if (rc != 0) {
        log_error("source start failed", "url=%s error=%s", source_url(g->src), err_str(rc));
        schedule_reconnect(g, 0);
        return;
    }
    resume_info in;
    resume_get_info(g->r, &in);
    log_info("source connecting", "url=%s resume_mtime=%lld remembered_lines=%zu held_lines=%zu attempt=%llu",
             source_url(g->src), (long long)resume_mtime(g->r), in.lines, in.held,
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
    int64_t l = resume_mtime(g->r);
    if (l >= 0) {
        mgauge_set(g->g_last_mtime, (double)l / 1000.0);
        mgauge_set(g->g_lag, (double)(clock_wall_ms() - l) / 1000.0);
    }
    resume_info in;
    resume_get_info(g->r, &in);
    mgauge_set(g->g_resume_lines, (double)in.lines);
    mgauge_set(g->g_held_lines, (double)(in.held + in.held_over));
    /* Lines beyond the clock over RESUME_MAX_HELD come again after every reconnect and are known
     * only by number: ingestion goes on, but the source's clock or ours needs a look. */
    static const char stuck[] = "resume point stuck: more lines with an mtime beyond the clock "
                                "(MAX_FUTURE_MTIME) than RESUME_MAX_HELD";
    const char *why = !g->broker_ok               ? "kafka transaction failing"
                      : !source_streaming(g->src) ? "source not connected"
                      : in.held_over              ? stuck
                                                  : NULL;
    if ((why == NULL) != g->ready || why != g->why) {
        g->ready = why == NULL;
        g->why = why;
        httpd_set_ready(g->httpd, g->ready, why);
        if (why == stuck)
            log_error("not ready", "reason=%s resume_mtime=%lld held_lines=%llu", why, (long long)l,
                      (unsigned long long)(in.held + in.held_over));
    }
}

/* wait_ms: how long the loop may block in curl: until the next tick, commit or reconnect. */
static int wait_ms(const ingestor *g, int64_t now)
{
    if (g->hold != HOLD_NONE)
        return 0;
    int64_t w = INGESTOR_TICK_MS;
    if (ktxn_open(g->txn) && g->txn_due_ms - now < w)
        w = g->txn_due_ms - now;
    if (!source_active(g->src) && g->next_connect_ms - now < w)
        w = g->next_connect_ms - now;
    return w < 0 ? 0 : (int)w;
}

int ingestor_run(ingestor *g)
{
    int rc = 0;
    source_end end;
    while (!sig_stopping()) {
        if (g->fatal || ktxn_fatal(g->txn)) {
            rc = ERR_FATAL;
            break;
        }
        /* 1. Kafka: delivery reports; while we hold for queue space, send and wait here a little. */
        if (g->hold == HOLD_QUEUE)
            ktxn_wait_room(g->txn, 10);
        else
            ktxn_poll(g->txn, 0);
        int64_t now = clock_mono_ms();
        /* 2. A failed produce rolls back before anything else happens. */
        if (g->hold == HOLD_ABORT) {
            if ((rc = rollback(g, "produce failed", 1)) != 0)
                break;
        }
        /* 3. Commit when the transaction is full or due. An interval commit first takes
         *    what waits in the socket: the loop naps between reads (source.c), and a line that
         *    arrived before the commit must not wait for the next one because of that nap. */
        if (ktxn_open(g->txn) && (g->hold == HOLD_COMMIT || now >= g->txn_due_ms)) {
            if (g->hold == HOLD_NONE && source_active(g->src) && !source_paused(g->src) &&
                source_poll(g->src, 0, &end))
                source_ended(g, &end);
            if ((rc = commit(g)) != 0)
                break;
        }
        /* 4. Lines held in the splitter, then the paused transfer. */
        if (g->hold == HOLD_QUEUE || (g->hold == HOLD_COMMIT && !ktxn_open(g->txn))) {
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
        rc = rollback(g, "produce failed", 1) == 0 ? ERR_ABORTED : ERR_FATAL;
    if (rc == 0 && ktxn_open(g->txn)) {
        char err[256] = "";
        int crc = ktxn_commit(g->txn, NULL, NULL, err, sizeof err);
        if (crc == 0) {
            mcounter_add(g->m_txns, 1);
            if (resume_commit(g->r) != 0)
                rc = ERR_NOMEM;
        } else {
            log_error("final commit failed", "error=%s", err);
            rc = crc == ERR_FATAL ? ERR_FATAL : ERR_ABORTED;
        }
    }
    update_status(g);
    return rc;
}

int ingestor_new(ingestor **out, const ingestor_opts *o, producer *prod, resume *r, httpd *h)
{
    ingestor *g = calloc(1, sizeof(*g));
    if (!g)
        return ERR_NOMEM;
    g->o = *o;
    g->prod = prod;
    g->txn = producer_txn(prod);
    g->r = r;
    g->httpd = h;
    g->broker_ok = 1; /* producer_init succeeded */
    g->ready = -1;
    g->outlier_mtime = -1;
    backoff_init(&g->bo, o->backoff_base_ms, o->backoff_max_ms, 0);
    int rc = linesplit_new(&g->ls, (size_t)o->max_line_bytes);
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
                                "lines sent again after a reconnect (produced already), dropped");
    g->m_counted =
        metrics_counter("rsvp_ingestor_resume_counted_duplicates_total", NULL,
                        "of the dropped duplicates: recognised by number only (resume state full)");
    g->m_future = metrics_counter("rsvp_ingestor_future_mtime_lines_total", NULL,
                                  "lines with an mtime beyond the clock (MAX_FUTURE_MTIME): produced, "
                                  "never the resume point");
    g->m_outliers = metrics_counter("rsvp_ingestor_mtime_outliers_total", NULL,
                                    "lines far above the stream's mtimes: the resume point stays below them");
    g->m_overflow = metrics_counter("rsvp_ingestor_resume_overflow_lines_total", NULL,
                                    "lines produced while the resume state was full (RESUME_MAX_LINES, "
                                    "RESUME_MAX_HELD)");
    g->m_txns = metrics_counter("rsvp_ingestor_transactions_total", NULL, "Kafka transactions committed");
    g->m_aborts = metrics_counter("rsvp_ingestor_transaction_aborts_total", NULL,
                                  "Kafka transactions aborted and rolled back");
    g->m_pauses = metrics_counter("rsvp_ingestor_backpressure_pauses_total", NULL,
                                  "times the source was paused because Kafka's queue was full");
    g->g_last_mtime = metrics_gauge("rsvp_ingestor_last_mtime_seconds", NULL,
                                    "the resume point: second-highest mtime produced (Unix time)");
    g->g_lag = metrics_gauge("rsvp_ingestor_mtime_lag_seconds", NULL, "now minus the resume point");
    g->g_resume_lines =
        metrics_gauge("rsvp_ingestor_resume_lines", NULL,
                      "lines the resume state remembers one by one (at most RESUME_MAX_LINES)");
    g->g_held_lines = metrics_gauge("rsvp_ingestor_resume_held_lines", NULL,
                                    "lines beyond the clock the resume state holds");
    /* The ingestor's part of freshness: a line waits in its transaction until the commit ends. */
    static const double secs[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10};
    const int nsecs = (int)(sizeof secs / sizeof secs[0]);
    g->h_commit =
        metrics_histogram("rsvp_ingestor_commit_seconds", NULL,
                          "duration of a transaction's commit (delivery of its lines included)", secs, nsecs);
    g->h_txn = metrics_histogram("rsvp_ingestor_transaction_seconds", NULL,
                                 "first line produced to commit done: the longest any line of a "
                                 "transaction waited to become visible",
                                 secs, nsecs);
    *out = g;
    return 0;
}

void ingestor_free(ingestor *g)
{
    if (!g)
        return;
    source_free(g->src);
    linesplit_free(g->ls);
    free(g);
}
