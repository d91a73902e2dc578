/* partition.c: creates and drops the time partitions of meetup_table and rsvp_batches (see
 * partition.h). Locks are the whole design: a partition is created as a table of its own and then
 * attached (SHARE UPDATE EXCLUSIVE on the parent, which inserts do not conflict with) and dropped
 * after DETACH ... CONCURRENTLY (the same), every DDL statement under a short lock_timeout, so a
 * batch never queues behind partition maintenance; a maintenance step that cannot get its lock
 * simply runs again later, which is why partitions are made several intervals ahead. */
#include "services/writer/partition.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"

/* Process-wide counters (NULL until partition_metrics_init: then adding is a no-op). */
static mcounter *m_created, *m_dropped;

int partition_metrics_init(void)
{
    m_created = metrics_counter("rsvp_writer_partitions_created_total", NULL,
                                "Time partitions of meetup_table and rsvp_batches created by this writer");
    m_dropped =
        metrics_counter("rsvp_writer_partitions_dropped_total", NULL,
                        "Time partitions dropped by this writer because they were older than RETENTION");
    return m_created && m_dropped ? 0 : ERR_NOMEM;
}

/* Most partitions one ensure creates per table (ahead is capped below it). */
#define PLAN_MAX 64

/* A table's partitions as read from the catalog. */
typedef struct plist {
    partition_range *r;
    char (*name)[64];
    int *pending;
    size_t n;
} plist;

static void plist_free(plist *l)
{
    free(l->r);
    free(l->name);
    free(l->pending);
    memset(l, 0, sizeof *l);
}

/* msg = "what: PostgreSQL's message" on one line. */
static void set_msg(char *msg, size_t cap, const char *what, PGconn *c)
{
    if (cap == 0)
        return;
    snprintf(msg, cap, "%s: %s", what, c ? PQerrorMessage(c) : "out of memory");
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == ' ')
        msg[--n] = '\0';
}

/* Run sql (one or more statements); 0 or -1 with msg set. */
static int exec(PGconn *c, const char *sql, const char *what, char *msg, size_t cap)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        set_msg(msg, cap, what, c);
    PQclear(r);
    return ok ? 0 : -1;
}

/* The first column of a one-row result as an integer; 0 or -1 with msg set. */
static int query_i64(PGconn *c, const char *sql, const char *what, int64_t *out, char *msg, size_t cap)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0);
    if (ok) {
        const char *v = PQgetvalue(r, 0, 0);
        *out = v[0] == 't' ? 1 : v[0] == 'f' ? 0 : strtoll(v, NULL, 10);
    } else {
        set_msg(msg, cap, what, c);
    }
    PQclear(r);
    return ok ? 0 : -1;
}

static int server_now(PGconn *c, int64_t *now_ms, char *msg, size_t cap)
{
    return query_i64(c, "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint", "clock", now_ms, msg,
                     cap);
}

/* The table's partitions, with room for `spare` more ranges after them. */
static int load(PGconn *c, const schema *s, schema_table which, plist *l, size_t spare, char *msg, size_t cap)
{
    memset(l, 0, sizeof *l);
    PGresult *r = PQexec(c, schema_partitions_sql(s, which));
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        set_msg(msg, cap, "list partitions", c);
        PQclear(r);
        return -1;
    }
    size_t n = (size_t)PQntuples(r);
    l->r = calloc(n + spare + 1, sizeof *l->r);
    l->name = calloc(n + 1, sizeof *l->name);
    l->pending = calloc(n + 1, sizeof *l->pending);
    if (!l->r || !l->name || !l->pending) {
        PQclear(r);
        plist_free(l);
        set_msg(msg, cap, "list partitions", NULL);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int row = (int)i;
        snprintf(l->name[l->n], sizeof l->name[0], "%s", PQgetvalue(r, row, 0));
        if (PQgetisnull(r, row, 2))
            continue; /* not a range we understand (never ours): left alone */
        l->r[l->n].lo_ms = PQgetisnull(r, row, 1) ? INT64_MIN : strtoll(PQgetvalue(r, row, 1), NULL, 10);
        l->r[l->n].hi_ms = strtoll(PQgetvalue(r, row, 2), NULL, 10);
        l->pending[l->n] = PQgetvalue(r, row, 3)[0] == 't';
        l->n++;
    }
    PQclear(r);
    return 0;
}

static int covers(const partition_range *r, int64_t t)
{
    return r->lo_ms <= t && t < r->hi_ms;
}

static int64_t floor_to(int64_t t, int64_t step)
{
    int64_t q = t / step;
    if (t % step != 0 && t < 0)
        q--;
    return q * step;
}

size_t partition_plan(const partition_range *have, size_t n, int64_t now_ms, int64_t interval_ms, int ahead,
                      partition_range *out, size_t cap)
{
    size_t m = 0;
    if (interval_ms <= 0)
        return 0;
    /* Walk from now to the horizon: over each existing range, or fill the gap at t. */
    int64_t horizon = now_ms + (int64_t)ahead * interval_ms;
    for (int64_t t = now_ms; t <= horizon && m < cap;) {
        const partition_range *in = NULL;
        for (size_t i = 0; i < n + m && !in; i++) {
            const partition_range *e = i < n ? &have[i] : &out[i - n];
            if (covers(e, t))
                in = e;
        }
        if (in) {
            t = in->hi_ms;
            continue;
        }
        partition_range nr = {floor_to(t, interval_ms), floor_to(t, interval_ms) + interval_ms};
        for (size_t i = 0; i < n + m; i++) {
            const partition_range *e = i < n ? &have[i] : &out[i - n];
            if (e->hi_ms <= t && e->hi_ms > nr.lo_ms)
                nr.lo_ms = e->hi_ms;
            if (e->lo_ms > t && e->lo_ms < nr.hi_ms)
                nr.hi_ms = e->lo_ms;
        }
        out[m++] = nr;
        t = nr.hi_ms;
    }
    return m;
}

int64_t partition_reach(const partition_range *have, size_t n, int64_t now_ms)
{
    int64_t t = now_ms, reach = INT64_MIN;
    for (int progress = 1; progress;) {
        progress = 0;
        for (size_t i = 0; i < n; i++)
            if (covers(&have[i], t)) {
                reach = t = have[i].hi_ms;
                progress = 1;
            }
    }
    return reach;
}

/* Create the missing partitions of one table inside the caller's transaction. */
static int ensure_table(PGconn *c, const schema *s, schema_table which, const partition_opts *o, int64_t now,
                        partition_report *rep, char *msg, size_t cap)
{
    plist l;
    if (load(c, s, which, &l, PLAN_MAX, msg, cap) != 0)
        return -1;
    int ahead = o->ahead < 1 ? 1 : o->ahead >= PLAN_MAX ? PLAN_MAX - 1 : o->ahead;
    partition_range *plan = l.r + l.n; /* load() left PLAN_MAX free slots after the ranges */
    size_t m = partition_plan(l.r, l.n, now, o->interval_ms, ahead, plan, PLAN_MAX);
    buf sql = {0};
    int rc = 0;
    for (size_t i = 0; i < m && rc == 0; i++) {
        if (schema_partition_create(s, which, plan[i].lo_ms, plan[i].hi_ms, &sql) != 0) {
            set_msg(msg, cap, "create partition", NULL);
            rc = -1;
        } else if ((rc = exec(c, sql.data, "create partition", msg, cap)) == 0) {
            char name[80];
            schema_partition_name(s, which, plan[i].lo_ms, name, sizeof name);
            log_info("partition created", "table=%s partition=%s from_ms=%" PRId64 " to_ms=%" PRId64,
                     schema_table_quoted(s, which), name, plan[i].lo_ms, plan[i].hi_ms);
            rep->created++;
        }
    }
    if (rc == 0) {
        int64_t reach = partition_reach(l.r, l.n + m, now);
        int64_t ahead_ms = reach == INT64_MIN ? -1 : reach - now;
        if (ahead_ms < rep->ahead_ms)
            rep->ahead_ms = ahead_ms;
    }
    buf_free(&sql);
    plist_free(&l);
    return rc;
}

int partition_ensure(PGconn *c, const schema *s, const partition_opts *o, int wait, partition_report *r,
                     char *msg, size_t cap)
{
    memset(r, 0, sizeof *r);
    r->ahead_ms = INT64_MAX;
    char sql[128];
    int64_t got = 0, now = 0;
    if (exec(c, "BEGIN", "begin", msg, cap) != 0)
        return ERR_RETRY;
    snprintf(sql, sizeof sql, "SET LOCAL lock_timeout = %" PRId64, o->lock_timeout_ms);
    int rc = exec(c, sql, "lock_timeout", msg, cap);
    if (rc == 0) {
        snprintf(sql, sizeof sql,
                 wait ? "SELECT true FROM pg_advisory_xact_lock(%lld)"
                      : "SELECT pg_try_advisory_xact_lock(%lld)",
                 (long long)PARTITION_CREATE_LOCK_KEY);
        rc = query_i64(c, sql, "partition lock", &got, msg, cap);
    }
    if (rc == 0 && !got) {
        r->busy = 1;
        PQclear(PQexec(c, "ROLLBACK"));
        return 0;
    }
    rc = rc ? rc : server_now(c, &now, msg, cap);
    rc = rc ? rc : ensure_table(c, s, SCHEMA_T_MEETUP, o, now, r, msg, cap);
    rc = rc ? rc : ensure_table(c, s, SCHEMA_T_BATCHES, o, now, r, msg, cap);
    rc = rc ? rc : exec(c, "COMMIT", "commit", msg, cap);
    if (rc != 0) {
        PQclear(PQexec(c, "ROLLBACK"));
        r->created = 0;
        return ERR_RETRY;
    }
    mcounter_add(m_created, (uint64_t)r->created);
    return 0;
}

/* DETACH (or FINALIZE) and DROP one partition. */
static int drop_one(PGconn *c, const schema *s, schema_table which, const char *name, int finalize,
                    int attached, char *msg, size_t cap)
{
    buf sql = {0};
    int rc = 0;
    if (attached) {
        rc = schema_partition_detach(s, which, name, finalize, &sql) == 0 ? 0 : -1;
        if (rc != 0)
            snprintf(msg, cap, "partition name %s: not a plain identifier", name);
        rc = rc ? rc : exec(c, sql.data, finalize ? "detach finalize" : "detach", msg, cap);
    }
    if (rc == 0) {
        rc = schema_partition_drop(s, which, name, &sql) == 0 ? 0 : -1;
        if (rc != 0)
            snprintf(msg, cap, "partition name %s: not a plain identifier", name);
        rc = rc ? rc : exec(c, sql.data, "drop partition", msg, cap);
    }
    buf_free(&sql);
    if (rc == 0) {
        log_info("partition dropped", "table=%s partition=%s", schema_table_quoted(s, which), name);
        mcounter_add(m_dropped, 1);
    }
    return rc;
}

static int expire_table(PGconn *c, const schema *s, schema_table which, const partition_opts *o,
                        partition_report *rep, char *msg, size_t cap)
{
    plist l;
    int64_t now = 0;
    if (server_now(c, &now, msg, cap) != 0 || load(c, s, which, &l, 0, msg, cap) != 0)
        return -1;
    int rc = 0;
    /* one detach may be pending at a time: finish it first */
    for (size_t i = 0; i < l.n && rc == 0; i++)
        if (l.pending[i] && (rc = drop_one(c, s, which, l.name[i], 1, 1, msg, cap)) == 0)
            rep->dropped++;
    for (size_t i = 0; i < l.n && rc == 0; i++)
        if (!l.pending[i] && l.r[i].hi_ms <= now - o->retention_ms &&
            (rc = drop_one(c, s, which, l.name[i], 0, 1, msg, cap)) == 0)
            rep->dropped++;
    plist_free(&l);
    if (rc != 0)
        return rc;
    PGresult *r = PQexec(c, schema_orphans_sql(s, which));
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        set_msg(msg, cap, "list orphans", c);
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r) && rc == 0; i++)
        if ((rc = drop_one(c, s, which, PQgetvalue(r, i, 0), 0, 0, msg, cap)) == 0)
            rep->dropped++;
    PQclear(r);
    return rc;
}

int partition_expire(PGconn *c, const schema *s, const partition_opts *o, partition_report *r, char *msg,
                     size_t cap)
{
    memset(r, 0, sizeof *r);
    if (o->retention_ms <= 0)
        return 0;
    char sql[128], saved[64] = "0";
    int64_t got = 0;
    snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%lld)", (long long)PARTITION_DROP_LOCK_KEY);
    if (query_i64(c, sql, "drop lock", &got, msg, cap) != 0)
        return ERR_RETRY;
    if (!got) {
        r->busy = 1;
        return 0;
    }
    /* A detach waits for every transaction that may still read the partition (lock waits, harmless
     * to batches: the parent is only held SHARE UPDATE EXCLUSIVE), bounded by the detach timeout;
     * an interrupted one stays pending and is finished next time. */
    PGresult *res = PQexec(c, "SHOW statement_timeout");
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        snprintf(saved, sizeof saved, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    snprintf(sql, sizeof sql, "SET lock_timeout = %" PRId64 "; SET statement_timeout = %" PRId64,
             o->detach_timeout_ms, o->detach_timeout_ms);
    int rc = exec(c, sql, "timeouts", msg, cap);
    rc = rc ? rc : expire_table(c, s, SCHEMA_T_MEETUP, o, r, msg, cap);
    rc = rc ? rc : expire_table(c, s, SCHEMA_T_BATCHES, o, r, msg, cap);
    /* settings and the session lock go back whatever happened (a broken connection drops both) */
    const char *vals[1] = {saved};
    PQclear(
        PQexecParams(c, "SELECT set_config('statement_timeout', $1, false)", 1, NULL, vals, NULL, NULL, 0));
    PQclear(PQexec(c, "RESET lock_timeout"));
    snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(%lld)", (long long)PARTITION_DROP_LOCK_KEY);
    PQclear(PQexec(c, sql));
    return rc ? ERR_RETRY : 0;
}
