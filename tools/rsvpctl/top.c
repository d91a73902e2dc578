/* top.c: `rsvpctl top` (see top.h). Each interval: ask the supervisor for its processes (or use
 * --metrics-urls), scrape every /metrics, query PostgreSQL, render. Rates are computed per replica
 * against the oldest scrape inside --rate-window (the writer's counters move once per aggregator
 * trigger, so a 1 s rate would flicker between 0 and a burst); the first frame comes after one
 * interval. */
#include "tools/rsvpctl/top.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/sig.h"
#include "tools/rsvpctl/cli.h"
#include "tools/rsvpctl/control.h"
#include "tools/rsvpctl/prom.h"

#define MAX_TARGETS 128
#define MAX_FRAMES  64 /* scrapes kept for the rate window */

/* One scrape of every target, kept for the rate window. */
typedef struct frame {
    top_sample *s;
    size_t n;
    int64_t ms; /* monotonic time of the scrape */
} frame;

static const struct {
    const char *name, *match;
    int gauge;
} metrics[TM_COUNT] = {
    [TM_ING_PRODUCED] = {"rsvp_ingestor_produced_total", NULL, 0},
    [TM_PAR_CONSUMED] = {"rsvp_parser_consumed_total", NULL, 0},
    [TM_PAR_PARSED] = {"rsvp_parser_parsed_total", NULL, 0},
    [TM_PAR_DLQ] = {"rsvp_parser_dead_lettered_total", NULL, 0},
    [TM_PAR_LAG] = {"rsvp_parser_consumer_lag", NULL, 1},
    [TM_AGG_CONSUMED] = {"rsvp_aggregator_consumed_total", NULL, 0},
    [TM_AGG_LAG] = {"rsvp_aggregator_consumer_lag", NULL, 1},
    [TM_WR_MSGS] = {"rsvp_writer_messages_total", NULL, 0},
    [TM_WR_ROWS] = {"rsvp_writer_rows_total", NULL, 0},
    [TM_WR_BATCHES] = {"rsvp_writer_batches_total", NULL, 0},
};

const char *top_metric_name(int m)
{
    return m >= 0 && m < TM_COUNT ? metrics[m].name : "?";
}

void top_sample_parse(top_sample *s, const char *text, size_t len)
{
    s->have = 0;
    for (int m = 0; m < TM_COUNT; m++) {
        s->v[m] = 0;
        /* a negative lag means "not known yet" (kafka_consumer_lag): leave it out of the sum */
        if (prom_sum(text, len, metrics[m].name, metrics[m].match, &s->v[m]) == 0 &&
            !(metrics[m].gauge && s->v[m] < 0))
            s->have |= 1u << m;
    }
}

void top_compute(const top_sample *prev, size_t nprev, const top_sample *cur, size_t ncur, double dt_s,
                 top_stats *out)
{
    memset(out, 0, sizeof *out);
    out->targets = (int)ncur;
    for (size_t i = 0; i < ncur; i++) {
        const top_sample *c = &cur[i], *p = NULL;
        if (!c->ok)
            continue;
        out->targets_up++;
        for (size_t j = 0; prev && j < nprev; j++)
            if (prev[j].ok && strcmp(prev[j].url, c->url) == 0)
                p = &prev[j];
        for (int m = 0; m < TM_COUNT; m++) {
            if (!(c->have & (1u << m)))
                continue;
            out->have |= 1u << m;
            out->total[m] += c->v[m];
            if (!metrics[m].gauge && p && (p->have & (1u << m)))
                out->rate[m] += prom_rate(p->v[m], c->v[m], dt_s);
        }
    }
}

/* cell: a number or "-" when the metric was not seen. */
static void cell(char *dst, size_t cap, const top_stats *st, int m, int rate)
{
    if (!(st->have & (1u << m)))
        snprintf(dst, cap, "-");
    else if (rate)
        snprintf(dst, cap, "%.1f", st->rate[m]);
    else
        snprintf(dst, cap, "%.0f", st->total[m]);
}

int top_render(buf *out, const char *header, const top_stats *st, const top_pg *pg, int ansi)
{
    /* each line ends with "erase to end of line" when redrawing in place */
    const char *eol = ansi ? "\033[K\n" : "\n";
    char r[32], t[32], l[32], x[32], y[32];
    int rc = 0;

    if (ansi)
        rc |= buf_puts(out, "\033[H");
    rc |= buf_printf(out, "%s  replicas up %d/%d%s", header, st->targets_up, st->targets, eol);
    rc |= buf_printf(out, "%-10s %10s %12s %10s  %s%s", "STAGE", "RSVPS/S", "TOTAL", "LAG", "NOTES", eol);
    cell(r, sizeof r, st, TM_ING_PRODUCED, 1);
    cell(t, sizeof t, st, TM_ING_PRODUCED, 0);
    rc |= buf_printf(out, "%-10s %10s %12s %10s  %s%s", "ingest", r, t, "-", "produced to raw", eol);
    cell(r, sizeof r, st, TM_PAR_PARSED, 1);
    cell(t, sizeof t, st, TM_PAR_PARSED, 0);
    cell(l, sizeof l, st, TM_PAR_LAG, 0);
    cell(x, sizeof x, st, TM_PAR_DLQ, 0);
    cell(y, sizeof y, st, TM_PAR_CONSUMED, 1);
    rc |= buf_printf(out, "%-10s %10s %12s %10s  consumed/s %s, dead-lettered %s%s", "parse", r, t, l, y, x,
                     eol);
    cell(r, sizeof r, st, TM_AGG_CONSUMED, 1);
    cell(t, sizeof t, st, TM_AGG_CONSUMED, 0);
    cell(l, sizeof l, st, TM_AGG_LAG, 0);
    rc |= buf_printf(out, "%-10s %10s %12s %10s  %s%s", "aggregate", r, t, l, "consumed", eol);
    cell(r, sizeof r, st, TM_WR_MSGS, 1);
    cell(t, sizeof t, st, TM_WR_MSGS, 0);
    cell(x, sizeof x, st, TM_WR_ROWS, 1);
    cell(y, sizeof y, st, TM_WR_BATCHES, 1);
    rc |= buf_printf(out, "%-10s %10s %12s %10s  rows/s %s, batches/s %s%s", "write", r, t, "-", x, y, eol);
    rc |= buf_puts(out, eol);
    if (!pg->ok) {
        rc |= buf_printf(out, "postgres: %s%s", pg->err[0] ? pg->err : "not queried", eol);
    } else {
        if (pg->no > 0)
            rc |= buf_printf(out, "yes/no ratio %.2f (yes %lld, no %lld)%s", (double)pg->yes / (double)pg->no,
                             pg->yes, pg->no, eol);
        else
            rc |= buf_printf(out, "yes/no ratio - (yes %lld, no %lld)%s", pg->yes, pg->no, eol);
        rc |= buf_printf(out, "%-50s %10s%s", "TOP EVENTS", "RSVPS", eol);
        for (int i = 0; i < pg->nevents; i++)
            rc |= buf_printf(out, "  %-48.48s %10lld%s", pg->events[i].name, pg->events[i].count, eol);
        rc |= buf_printf(out, "%-50s %10s%s", "TOP CITIES", "RSVPS", eol);
        for (int i = 0; i < pg->ncities; i++)
            rc |= buf_printf(out, "  %-48.48s %10lld%s", pg->cities[i].name, pg->cities[i].count, eol);
    }
    if (ansi)
        rc |= buf_puts(out, "\033[J");
    return rc ? ERR_NOMEM : 0;
}

/* ---- I/O: targets, scrapes, PostgreSQL ---- */

/* targets: the /metrics URLs to scrape, from --metrics-urls or the supervisor's process list. */
static size_t targets(const char *control_url, const char *urls, top_sample *out, char *note, size_t notelen)
{
    size_t n = 0;
    note[0] = '\0';
    if (urls && *urls) {
        const char *p = urls;
        while (*p && n < MAX_TARGETS) {
            size_t len = strcspn(p, ", ");
            if (len) {
                memset(&out[n], 0, sizeof out[n]);
                snprintf(out[n].url, sizeof out[n].url, "%.*s", (int)len, p);
                n++;
            }
            p += len;
            p += strspn(p, ", ");
        }
        return n;
    }
    buf reply = {0};
    control_proc *procs = NULL;
    size_t np = 0;
    char err[256];
    if (control_request(control_url, "status", 2000, &reply, err, sizeof err) < 0 ||
        control_parse_status(reply.data, reply.len, &procs, &np, err, sizeof err) < 0) {
        snprintf(note, notelen, "%s", err);
        buf_free(&reply);
        return 0;
    }
    for (size_t i = 0; i < np && n < MAX_TARGETS; i++) {
        if (!procs[i].pid || !procs[i].metrics_addr[0])
            continue;
        memset(&out[n], 0, sizeof out[n]);
        snprintf(out[n].url, sizeof out[n].url, "http://%s/metrics", procs[i].metrics_addr);
        n++;
    }
    free(procs);
    buf_free(&reply);
    return n;
}

static void scrape(top_sample *s, size_t n)
{
    buf body = {0};
    for (size_t i = 0; i < n; i++) {
        buf_reset(&body);
        s[i].ok = cli_http_get(s[i].url, 800, &body) == 200;
        if (s[i].ok)
            top_sample_parse(&s[i], body.data ? body.data : "", body.len);
    }
    buf_free(&body);
}

static int pg_rows(PGconn *c, const char *sql, top_row *rows, int max, top_pg *pg)
{
    PGresult *r = PQexec(c, sql);
    int n = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(pg->err, sizeof pg->err, "%s", PQerrorMessage(c));
        pg->err[strcspn(pg->err, "\n")] = '\0';
        PQclear(r);
        return -1;
    }
    for (; n < PQntuples(r) && n < max; n++) {
        snprintf(rows[n].name, sizeof rows[n].name, "%s", PQgetvalue(r, n, 0));
        rows[n].count = strtoll(PQgetvalue(r, n, 1), NULL, 10);
    }
    PQclear(r);
    return n;
}

/* query_pg: fill pg from the counts table, (re)connecting as needed; *conn persists. */
static void query_pg(PGconn **conn, const char *url, const char *table, top_pg *pg)
{
    char sql[512], *ident;
    memset(pg, 0, sizeof *pg);
    if (*conn && PQstatus(*conn) != CONNECTION_OK) {
        PQfinish(*conn);
        *conn = NULL;
    }
    if (!*conn) {
        char full[1024];
        snprintf(full, sizeof full, "%s%sconnect_timeout=2", url, strchr(url, '?') ? "&" : "?");
        *conn = PQconnectdb(full);
        if (PQstatus(*conn) != CONNECTION_OK) {
            snprintf(pg->err, sizeof pg->err, "%s", PQerrorMessage(*conn));
            pg->err[strcspn(pg->err, "\n")] = '\0';
            PQfinish(*conn);
            *conn = NULL;
            return;
        }
    }
    ident = PQescapeIdentifier(*conn, table, strlen(table));
    if (!ident) {
        snprintf(pg->err, sizeof pg->err, "bad table name");
        return;
    }
    snprintf(sql, sizeof sql,
             "select coalesce(event_name, '(none)'), sum(response_count)::bigint from %s "
             "group by 1 order by 2 desc, 1 limit 5",
             ident);
    pg->nevents = pg_rows(*conn, sql, pg->events, 5, pg);
    snprintf(sql, sizeof sql,
             "select coalesce(group_city, '(none)'), sum(response_count)::bigint from %s "
             "group by 1 order by 2 desc, 1 limit 5",
             ident);
    pg->ncities = pg->nevents < 0 ? -1 : pg_rows(*conn, sql, pg->cities, 5, pg);
    snprintf(sql, sizeof sql,
             "select 'x', coalesce(sum(response_count) filter (where response = 'yes'), 0)::bigint "
             "from %s union all "
             "select 'x', coalesce(sum(response_count) filter (where response = 'no'), 0)::bigint "
             "from %s",
             ident, ident);
    top_row yn[2];
    int nyn = pg->ncities < 0 ? -1 : pg_rows(*conn, sql, yn, 2, pg);
    PQfreemem(ident);
    if (nyn != 2) {
        pg->nevents = pg->ncities = 0;
        return;
    }
    pg->yes = yn[0].count;
    pg->no = yn[1].count;
    pg->ok = 1;
}

/* on_signal: Ctrl-C, SIGTERM and a closed terminal end the view at the next tick. Unlike
 * sig_init()'s handler a repeated signal does not _exit: `make run` sends SIGINT to the whole
 * group and then SIGTERM to top while it is already leaving. */
static void on_signal(int signo)
{
    (void)signo;
    sig_request_stop();
}

int top_main(int argc, char **argv)
{
    char *control_url = NULL, *urls = NULL, *pg_url = NULL, *table = NULL;
    int64_t interval_ms = 0, window_ms = 0;
    int once = 0;
    /* clang-format off */
    const cfg_option opts[] = {
        {"control-url", "CONTROL_URL", CFG_STRING, CLI_DEFAULT_CONTROL_URL,
         "supervisor whose processes are scraped", 0, 0, 0, &control_url},
        {"metrics-urls", "METRICS_URLS", CFG_STRING, NULL,
         "comma-separated /metrics URLs to scrape instead of asking the supervisor", 0, 0, 0,
         &urls},
        {"pg-url", "PG_URL", CFG_STRING, "postgresql://postgres@127.0.0.1:15432/postgres",
         "PostgreSQL with the writer's tables", 0, 0, 1, &pg_url},
        {"counts-table", "COUNTS_TABLE", CFG_STRING, "rsvp_counts", "current total per key", 0,
         0, 0, &table},
        {"interval", "TOP_INTERVAL", CFG_DURATION, "1s", "refresh period", 100, 3600000, 0,
         &interval_ms},
        {"rate-window", "TOP_RATE_WINDOW", CFG_DURATION, "10s",
         "rates are averaged over this long (at least one interval)", 0, 3600000, 0, &window_ms},
        {"once", NULL, CFG_BOOL, "false", "print one snapshot (after one interval) and exit", 0,
         0, 0, &once},
        {NULL, NULL, CFG_STRING, NULL, NULL, 0, 0, 0, NULL},
    };
    /* clang-format on */
    int rc = cfg_parse("rsvpctl top", "live view: rates, lag, dead letters, top events and cities", opts,
                       argc, argv);
    if (rc != 0) {
        cfg_free(opts);
        return rc == 1 ? 0 : 2;
    }

    /* init: signals (Ctrl-C ends the loop), curl; PostgreSQL connects lazily */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int ansi = isatty(STDOUT_FILENO) && !once;
    /* frames[] is a ring: the newest scrape at (head + nframes - 1) % cap */
    int cap = (int)(window_ms / interval_ms) + 2;
    if (cap > MAX_FRAMES)
        cap = MAX_FRAMES;
    frame frames[MAX_FRAMES] = {{0}};
    int head = 0, nframes = 0;
    PGconn *conn = NULL;
    buf out = {0};
    char note[256];
    rc = 0;
    for (int i = 0; i < cap; i++)
        if (!(frames[i].s = calloc(MAX_TARGETS, sizeof *frames[i].s)))
            rc = 1;
    if (rc)
        goto out;
    if (ansi)
        fputs("\033[2J", stdout);

    /* loop: one frame per interval; the first scrape only primes the rates */
    while (!sig_stopping()) {
        if (nframes == cap) { /* drop the oldest */
            head = (head + 1) % cap;
            nframes--;
        }
        frame *cur = &frames[(head + nframes) % cap];
        cur->n = targets(control_url, urls, cur->s, note, sizeof note);
        scrape(cur->s, cur->n);
        cur->ms = clock_mono_ms();
        nframes++;
        /* drop frames older than the window, keeping at least the previous one */
        while (nframes > 2 && cur->ms - frames[(head + 1) % cap].ms >= window_ms) {
            head = (head + 1) % cap;
            nframes--;
        }
        if (nframes > 1) {
            const frame *old = &frames[head];
            top_stats st;
            top_pg pg;
            char header[400], ts[32];
            time_t wall = time(NULL);
            struct tm tm;
            gmtime_r(&wall, &tm);
            strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
            top_compute(old->s, old->n, cur->s, cur->n, (double)(cur->ms - old->ms) / 1000.0, &st);
            query_pg(&conn, pg_url, table, &pg);
            snprintf(header, sizeof header, "rsvp-pipeline %s  rates over %.1fs%s%s", ts,
                     (double)(cur->ms - old->ms) / 1000.0, note[0] ? "  " : "", note);
            buf_reset(&out);
            if (top_render(&out, header, &st, &pg, ansi) == 0) {
                fwrite(out.data, 1, out.len, stdout);
                if (!ansi)
                    fputs("\n", stdout);
                if (fflush(stdout) != 0) /* reader gone (e.g. piped to head) */
                    break;
            }
            if (once)
                break;
        }
        clock_sleep_ms(interval_ms);
    }

    /* teardown */
out:
    buf_free(&out);
    PQfinish(conn);
    for (int i = 0; i < cap; i++)
        free(frames[i].s);
    curl_global_cleanup();
    cfg_free(opts);
    return rc;
}
