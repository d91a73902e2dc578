/* store.c: the writer's PostgreSQL side (libpq). One store = one connection = one worker thread.
 * The batch transaction is the exactly-once point of the pipeline: the offset check, the data and
 * the offset advance commit together or not at all. */
#include "services/writer/store.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "services/writer/copy.h"
#include "services/writer/partition.h"

/* COPY data is sent in chunks of about this size (one libpq call each). */
#define COPY_CHUNK (256 * 1024)

struct store {
    store_opts o;
    PGconn *conn;
    int ready;
    backoff bo;
    int64_t next_try_ms; /* monotonic; connect attempts wait for it */
    int down_logged;     /* one "unavailable" log per outage */
    buf copy;            /* reusable COPY buffer */
};

/* How a failed statement should be handled. */
typedef enum fault {
    F_RETRY_TX,  /* serialization failure / deadlock: run the transaction again */
    F_TRANSIENT, /* retry later, connection still fine (timeouts, resources) */
    F_DOWN,      /* connection is gone or unusable: reconnect with backoff */
    F_RESET,     /* schema/prepared statement problem: reconnect now (re-runs DDL) */
    F_UNIQUE,    /* unique violation */
    F_NOPART,    /* no time partition for the row: create it, run the transaction again */
    F_BAD,       /* the data was rejected */
} fault;

static void msg_set(char *dst, size_t cap, const char *what, const char *pgmsg)
{
    if (cap == 0)
        return;
    snprintf(dst, cap, "%s%s%s", what, pgmsg && *pgmsg ? ": " : "", pgmsg ? pgmsg : "");
    /* libpq messages end in newlines and may span lines: keep one line. */
    for (char *p = dst; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    size_t n = strlen(dst);
    while (n > 0 && dst[n - 1] == ' ')
        dst[--n] = '\0';
}

static void noop_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void drop_conn(store *s, int now_ok)
{
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    s->ready = 0;
    s->next_try_ms = now_ok ? 0 : clock_mono_ms() + backoff_next(&s->bo);
}

static fault classify(store *s, const PGresult *r)
{
    if (s->conn == NULL || PQstatus(s->conn) == CONNECTION_BAD)
        return F_DOWN;
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (st == NULL || strlen(st) != 5)
        return F_DOWN; /* no server error: communication failed */
    if (!strcmp(st, "40001") || !strcmp(st, "40P01"))
        return F_RETRY_TX;
    if (!strcmp(st, "23505"))
        return F_UNIQUE;
    if (!strcmp(st, "23514") && r && strstr(PQresultErrorMessage(r), "no partition of relation"))
        return F_NOPART;
    if (!strncmp(st, "08", 2) || !strcmp(st, "57P01") || !strcmp(st, "57P02") || !strcmp(st, "57P03") ||
        !strncmp(st, "58", 2) || !strncmp(st, "XX", 2))
        return F_DOWN;
    if (!strncmp(st, "42", 2) || !strncmp(st, "26", 2) || !strncmp(st, "3F", 2) || !strncmp(st, "0A", 2))
        return F_RESET;
    if (!strncmp(st, "57", 2) || !strncmp(st, "53", 2) || !strncmp(st, "55", 2) || !strncmp(st, "40", 2) ||
        !strncmp(st, "25", 2))
        return F_TRANSIENT;
    return F_BAD;
}

/* Run sql; on failure msg = "label: PostgreSQL's message". 0 or -1. */
static int exec_ok(store *s, const char *sql, const char *label, char *msg, size_t cap)
{
    PGresult *r = PQexec(s->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        msg_set(msg, cap, label, PQerrorMessage(s->conn));
    PQclear(r);
    return ok ? 0 : -1;
}

/* How many of the history tables exist unpartitioned (a database of the previous version). */
static int unpartitioned_tables(store *s)
{
    static const schema_table parted[] = {SCHEMA_T_MEETUP, SCHEMA_T_BATCHES};
    int n = 0;
    for (size_t i = 0; i < sizeof parted / sizeof parted[0]; i++) {
        const char *vals[1] = {schema_table_quoted(s->o.sch, parted[i])};
        PGresult *r = PQexecParams(s->conn, "SELECT relkind FROM pg_class WHERE oid = to_regclass($1)", 1,
                                   NULL, vals, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 'r')
            n++;
        PQclear(r);
    }
    return n;
}

/* Connect, DDL under the advisory lock, load table, prepared statements. */
static int connect_once(store *s, char *msg, size_t cap)
{
    char ctimeout[24];
    snprintf(ctimeout, sizeof ctimeout, "%" PRId64, s->o.connect_timeout_s);
    /* Defaults first, the URL last: what the URL says wins. */
    const char *const keys[] = {"connect_timeout", "application_name", "client_encoding",
                                "keepalives_idle", "dbname",           NULL};
    const char *const vals[] = {ctimeout, "rsvp-writer", "UTF8", "30", s->o.pg_url, NULL};
    s->conn = PQconnectdbParams(keys, vals, 1);
    if (s->conn == NULL)
        return msg_set(msg, cap, "connect", "out of memory"), -1;
    if (PQstatus(s->conn) != CONNECTION_OK) {
        msg_set(msg, cap, "connect", PQerrorMessage(s->conn));
        return -1;
    }
    PQsetNoticeProcessor(s->conn, noop_notice, NULL);
    char sql[160];
    snprintf(sql, sizeof sql, "SET statement_timeout = %" PRId64, s->o.statement_timeout_ms);
    if (exec_ok(s, sql, "statement_timeout", msg, cap) != 0)
        return -1;
    /* The DDL may convert a database of the previous version (a scan of each history table): no
     * statement timeout for it, and writers starting meanwhile wait for it on the lock. */
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", (long long)SCHEMA_LOCK_KEY);
    if (exec_ok(s, "BEGIN", "begin", msg, cap) != 0 ||
        exec_ok(s, "SET LOCAL statement_timeout = 0", "ddl timeout", msg, cap) != 0 ||
        exec_ok(s, sql, "ddl lock", msg, cap) != 0)
        return -1;
    int legacy = unpartitioned_tables(s);
    if (legacy > 0)
        log_warn("converting the history tables to time partitions", "tables=%d note=%s", legacy,
                 "one scan of each; other writers wait for it");
    if (exec_ok(s, schema_ddl(s->o.sch), "ddl", msg, cap) != 0 ||
        exec_ok(s, "COMMIT", "ddl commit", msg, cap) != 0)
        return -1;
    if (legacy > 0)
        log_warn("history tables converted", "tables=%d", legacy);
    /* Partitions for now and ahead (another writer may be doing it: then it is done). A failure
     * here is not fatal: the keeper thread and the batch transaction itself retry it. */
    partition_report rep;
    char pmsg[256];
    if (partition_ensure(s->conn, s->o.sch, &s->o.part, 0, &rep, pmsg, sizeof pmsg) != 0) {
        if (PQstatus(s->conn) != CONNECTION_OK)
            return msg_set(msg, cap, pmsg, NULL), -1;
        log_warn("cannot create partitions yet", "error=%s", pmsg);
    }
    if (exec_ok(s, schema_tmp_ddl(s->o.sch), "load table", msg, cap) != 0)
        return -1;
    for (int i = 0; i < SCHEMA_STMT_COUNT; i++) {
        PGresult *r = PQprepare(s->conn, schema_stmt_name(i), schema_sql(s->o.sch, i), 0, NULL);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            msg_set(msg, cap, schema_stmt_name(i), PQerrorMessage(s->conn));
        PQclear(r);
        if (!ok)
            return -1;
    }
    return 0;
}

int store_new(store **out, const store_opts *opts)
{
    store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ERR_NOMEM;
    s->o = *opts;
    if (s->o.connect_timeout_s < 2)
        s->o.connect_timeout_s = 2; /* libpq's own minimum */
    backoff_init(&s->bo, opts->backoff_base_ms, opts->backoff_max_ms, 0);
    *out = s;
    return 0;
}

int store_ensure(store *s)
{
    if (s->ready)
        return 0;
    int64_t now = clock_mono_ms();
    if (now < s->next_try_ms)
        return ERR_RETRY;
    char msg[256] = "";
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    if (connect_once(s, msg, sizeof msg) != 0) {
        drop_conn(s, 0);
        if (!s->down_logged)
            log_warn("database unavailable", "error=%s", msg);
        else
            log_debug("database unavailable", "error=%s", msg);
        s->down_logged = 1;
        return ERR_RETRY;
    }
    backoff_reset(&s->bo);
    s->ready = 1;
    s->down_logged = 0;
    log_info("database connected", "server_version=%d backend_pid=%d", PQserverVersion(s->conn),
             PQbackendPID(s->conn));
    return 0;
}

int store_ready(const store *s)
{
    return s->ready;
}

int store_ping(store *s)
{
    if (!s->ready)
        return ERR_RETRY;
    PGresult *r = PQexec(s->conn, "SELECT 1");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) {
        char msg[256];
        msg_set(msg, sizeof msg, "ping", PQerrorMessage(s->conn));
        log_warn("database connection lost", "error=%s", msg);
        drop_conn(s, 1); /* try at once: maybe only this connection was cut */
    }
    PQclear(r);
    return ok ? 0 : ERR_RETRY;
}

static PGresult *run(store *s, schema_stmt st, int n, const char *const *vals)
{
    return PQexecPrepared(s->conn, schema_stmt_name(st), n, vals, NULL, NULL, 0);
}

/* After a failed statement: roll back if the connection lives, sort the fault. */
static fault fail(store *s, PGresult *r, const char *what, store_result *res)
{
    msg_set(res->message, sizeof res->message, what,
            r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(s->conn));
    fault f = classify(s, r);
    PQclear(r);
    if (f == F_DOWN) {
        log_warn("database connection lost", "error=%s", res->message);
        drop_conn(s, 1);
        return f;
    }
    /* Drain anything left (e.g. after a failed COPY) before ROLLBACK. */
    while ((r = PQgetResult(s->conn)) != NULL)
        PQclear(r);
    r = PQexec(s->conn, "ROLLBACK");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        PQclear(r);
        drop_conn(s, 1);
        return f == F_BAD ? f : F_DOWN;
    }
    PQclear(r);
    if (f == F_RESET) {
        log_warn("database schema or statement problem, reconnecting", "error=%s", res->message);
        drop_conn(s, 1);
    } else if (f == F_NOPART) {
        /* The keeper fell behind (or the clock jumped): make the partition now, then re-run. */
        partition_report rep;
        char pmsg[256];
        if (partition_ensure(s->conn, s->o.sch, &s->o.part, 1, &rep, pmsg, sizeof pmsg) != 0) {
            log_warn("cannot create partition for a batch", "error=%s", pmsg);
            if (PQstatus(s->conn) != CONNECTION_OK)
                drop_conn(s, 1);
        }
    }
    return f;
}

static int fault_rc(fault f)
{
    switch (f) {
    case F_BAD: return ERR_INVALID;
    case F_RETRY_TX:
    case F_NOPART:
    case F_RESET: return ERR_TIMEOUT; /* internal: run the transaction again */
    default: return ERR_RETRY;
    }
}

/* Send the rows through binary COPY: header, one tuple per row, trailer, in chunks. 0 or a fault
 * (rolled back). */
static int copy_rows(store *s, const Rsvp__V1__Batch *b, store_result *res)
{
    PGresult *r = PQexec(s->conn, schema_copy(s->o.sch));
    if (PQresultStatus(r) != PGRES_COPY_IN)
        return fault_rc(fail(s, r, "copy", res));
    PQclear(r);
    buf_reset(&s->copy);
    const char *abort_why = NULL;
    int bad_row = 0;
    if (copy_append_header(&s->copy) != 0)
        abort_why = "out of memory";
    for (size_t i = 0; i < b->n_rows && abort_why == NULL; i++) {
        int rc = copy_append_row(&s->copy, b->rows[i]);
        if (rc == 0 && i + 1 == b->n_rows)
            rc = copy_append_trailer(&s->copy);
        if (rc != 0) {
            bad_row = rc == ERR_RANGE;
            abort_why = bad_row ? "field longer than 2 GB" : "out of memory";
        } else if (s->copy.len >= COPY_CHUNK || i + 1 == b->n_rows) {
            if (PQputCopyData(s->conn, s->copy.data, (int)s->copy.len) != 1)
                abort_why = "send failed";
            buf_reset(&s->copy);
        }
    }
    if (PQputCopyEnd(s->conn, abort_why) != 1)
        return fault_rc(fail(s, NULL, "copy end", res));
    r = PQgetResult(s->conn);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        int rc = fault_rc(fail(s, r, "copy", res));
        if (bad_row)
            return ERR_INVALID;
        return abort_why && rc == ERR_INVALID ? ERR_RETRY : rc;
    }
    PQclear(r);
    while ((r = PQgetResult(s->conn)) != NULL)
        PQclear(r);
    /* A huge batch may leave a big buffer: keep at most a few chunks between batches. */
    if (s->copy.cap > 4 * COPY_CHUNK)
        buf_free(&s->copy);
    return 0;
}

/* Read the stored offset outside a transaction (after losing the insert race). */
static int reread_offset(store *s, const char *const *vals, int64_t *out)
{
    PGresult *r = run(s, SCHEMA_LOCK_OFFSET, 2, vals);
    int rc = ERR_RETRY;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        *out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        rc = 0;
    }
    PQclear(r);
    return rc;
}

static void fmt_i64(char *dst, int has, int64_t v, const char **slot)
{
    if (!has) {
        *slot = NULL; /* SQL NULL */
        return;
    }
    snprintf(dst, 24, "%" PRId64, v);
    *slot = dst;
}

/* One attempt. 0, ERR_STALE, ERR_INVALID, ERR_RETRY or ERR_TIMEOUT (= try again now). */
static int apply_once(store *s, const Rsvp__V1__Batch *b, store_result *res)
{
    char part[24], from[24], to[24], rows[24], msgs[24], newest[24], oldest[24];
    const char *vals[8];
    vals[0] = b->topic;
    fmt_i64(part, 1, b->partition, &vals[1]);
    fmt_i64(from, 1, b->from_offset, &vals[2]);
    fmt_i64(to, 1, b->to_offset, &vals[3]);
    fmt_i64(rows, 1, (int64_t)b->n_rows, &vals[4]);
    fmt_i64(msgs, b->has_messages, b->messages, &vals[5]);
    fmt_i64(newest, b->has_newest_ingest_ms, b->newest_ingest_ms, &vals[6]);
    fmt_i64(oldest, b->has_oldest_ingest_ms, b->oldest_ingest_ms, &vals[7]);

    PGresult *r = PQexec(s->conn, "BEGIN");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return fault_rc(fail(s, r, "begin", res));
    PQclear(r);

    r = run(s, SCHEMA_LOCK_OFFSET, 2, vals);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return fault_rc(fail(s, r, "lock offset", res));
    int found = PQntuples(r) == 1;
    int64_t stored = found ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);

    if (stored != b->from_offset) {
        r = PQexec(s->conn, "ROLLBACK");
        PQclear(r);
        res->stored_offset = stored;
        snprintf(res->message, sizeof res->message, "stored next offset %" PRId64 " != from_offset %" PRId64,
                 stored, b->from_offset);
        return ERR_STALE;
    }
    if (!found) {
        /* First batch of this partition. A writer racing us blocks on the primary key until we
         * finish, then fails with a unique violation and answers STALE with our offset. */
        const char *ins[3] = {vals[0], vals[1], vals[3]};
        r = run(s, SCHEMA_INSERT_OFFSET, 3, ins);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fault f = fail(s, r, "insert offset", res);
            if (f != F_UNIQUE)
                return fault_rc(f);
            if (reread_offset(s, vals, &res->stored_offset) != 0)
                return ERR_TIMEOUT;
            snprintf(res->message, sizeof res->message, "another writer stored offset %" PRId64 " first",
                     res->stored_offset);
            return ERR_STALE;
        }
        PQclear(r);
    }

    if (b->n_rows > 0) {
        int rc = copy_rows(s, b, res);
        if (rc != 0)
            return rc;
    }

    r = run(s, SCHEMA_APPLY, 8, vals);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        return fault_rc(fail(s, r, "apply", res));
    int64_t batch_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);

    r = PQexec(s->conn, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        /* If the connection died here the commit may or may not have happened: RETRY is still
         * right, the resend answers STALE with stored == to_offset when it did. */
        int rc = fault_rc(fail(s, r, "commit", res));
        return rc == ERR_INVALID ? ERR_RETRY : rc;
    }
    PQclear(r);
    res->batch_id = batch_id;
    return 0;
}

int store_apply_batch(store *s, const Rsvp__V1__Batch *b, store_result *res)
{
    memset(res, 0, sizeof *res);
    res->stored_offset = -1;
    for (int attempt = 0;; attempt++) {
        if (store_ensure(s) != 0) {
            snprintf(res->message, sizeof res->message, "database unavailable");
            return ERR_RETRY;
        }
        int rc = apply_once(s, b, res);
        if (rc != ERR_TIMEOUT)
            return rc;
        if (attempt >= s->o.tx_retries)
            return ERR_RETRY;
        res->tx_retries++;
    }
}

int store_query_offsets(store *s, const char *topic, const int32_t *parts, size_t n, int64_t *out, char *msg,
                        size_t cap)
{
    if (store_ensure(s) != 0) {
        msg_set(msg, cap, "database unavailable", NULL);
        return ERR_RETRY;
    }
    buf arr = {0};
    int rc = buf_putc(&arr, '{');
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = buf_printf(&arr, "%s%d", i ? "," : "", parts[i]);
    rc = rc ? rc : buf_putc(&arr, '}');
    if (rc != 0) {
        buf_free(&arr);
        msg_set(msg, cap, "out of memory", NULL);
        return ERR_RETRY;
    }
    const char *vals[2] = {topic, arr.data};
    PGresult *r = run(s, SCHEMA_QUERY_OFFSETS, 2, vals);
    buf_free(&arr);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        store_result tmp;
        fault f = fail(s, r, "query offsets", &tmp);
        msg_set(msg, cap, tmp.message, NULL);
        return f == F_BAD ? ERR_INVALID : ERR_RETRY;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = -1;
    for (int row = 0; row < PQntuples(r); row++) {
        int32_t p = (int32_t)strtol(PQgetvalue(r, row, 0), NULL, 10);
        int64_t off = strtoll(PQgetvalue(r, row, 1), NULL, 10);
        for (size_t i = 0; i < n; i++)
            if (parts[i] == p)
                out[i] = off;
    }
    PQclear(r);
    return 0;
}

int store_maintain(store *s, partition_report *made, partition_report *dropped, char *msg, size_t cap)
{
    memset(made, 0, sizeof *made);
    memset(dropped, 0, sizeof *dropped);
    if (store_ensure(s) != 0) {
        msg_set(msg, cap, "database unavailable", NULL);
        return ERR_RETRY;
    }
    int rc = partition_ensure(s->conn, s->o.sch, &s->o.part, 0, made, msg, cap);
    if (rc == 0)
        rc = partition_expire(s->conn, s->o.sch, &s->o.part, dropped, msg, cap);
    if (rc != 0 && PQstatus(s->conn) != CONNECTION_OK) {
        log_warn("database connection lost", "error=%s", msg);
        drop_conn(s, 0);
    }
    return rc;
}

void store_free(store *s)
{
    if (s == NULL)
        return;
    if (s->conn)
        PQfinish(s->conn);
    buf_free(&s->copy);
    free(s);
}

void store_mask_url(const char *url, char *out, size_t cap)
{
    if (cap == 0)
        return;
    buf b = {0};
    const char *scheme = url ? strstr(url, "://") : NULL;
    if (url == NULL) {
        buf_puts(&b, "");
    } else if (scheme) {
        /* scheme://user:password@host...: the userinfo ends at the last '@' before the path. */
        const char *auth = scheme + 3;
        const char *end = auth + strcspn(auth, "/?");
        const char *at = NULL;
        for (const char *p = auth; p < end; p++)
            if (*p == '@')
                at = p;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            buf_append(&b, url, (size_t)(colon + 1 - url));
            buf_puts(&b, "***");
            buf_puts(&b, at);
        } else {
            buf_puts(&b, url);
        }
        /* ...?password=x in the query string */
        char *q = b.data ? strstr(b.data, "password=") : NULL;
        if (q) {
            size_t keep = (size_t)(q - b.data) + 9;
            const char *rest = url + (strstr(url, "password=") - url) + 9;
            rest += strcspn(rest, "&");
            b.len = keep;
            buf_puts(&b, "***");
            buf_puts(&b, rest);
        }
    } else {
        /* key=value form: mask the value of password= (quoted or not). */
        const char *p = url;
        const char *pw = strstr(p, "password");
        if (pw) {
            const char *eq = pw + 8;
            while (*eq == ' ')
                eq++;
            if (*eq == '=') {
                eq++;
                while (*eq == ' ')
                    eq++;
                const char *v = eq;
                if (*v == '\'') {
                    v++;
                    while (*v && *v != '\'')
                        v += (*v == '\\' && v[1]) ? 2 : 1;
                    if (*v)
                        v++;
                } else {
                    v += strcspn(v, " ");
                }
                buf_append(&b, url, (size_t)(eq - url));
                buf_puts(&b, "***");
                buf_puts(&b, v);
            } else {
                buf_puts(&b, url);
            }
        } else {
            buf_puts(&b, url);
        }
    }
    snprintf(out, cap, "%s", b.data ? b.data : "");
    buf_free(&b);
}
