/* schema.c: builds the writer's SQL texts from the configured table names. The names are checked
 * and quoted here once, so no other file ever splices configuration into SQL. */
#include "services/writer/schema.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/err.h"

#define NAME_MAX_LEN 48

/* A quoted name: "t" or "s"."t"; base gets the bare table part (for derived names). */
typedef struct qname {
    char quoted[2 * NAME_MAX_LEN + 8];
    char prefix[NAME_MAX_LEN + 4]; /* "s". or empty: where derived objects live */
    char base[NAME_MAX_LEN + 1];
} qname;

struct schema {
    qname t[SCHEMA_NTABLES]; /* meetup, counts, offsets, batches */
    char *ddl;
    char *tmp_ddl;
    char *copy;
    char *sql[SCHEMA_STMT_COUNT];
    char seq[2 * NAME_MAX_LEN + 16]; /* the batch id sequence, quoted */
    char *parts_sql[SCHEMA_NTABLES]; /* partition lists (meetup, batches only) */
    char *orphans_sql[SCHEMA_NTABLES];
};

/* [A-Za-z_][A-Za-z0-9_]* of 1 to max bytes */
static int ident_chars_ok(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return 0;
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static int ident_ok(const char *s, size_t n)
{
    return ident_chars_ok(s, n, NAME_MAX_LEN);
}

static int qname_parse(qname *q, const char *name)
{
    if (name == NULL)
        return ERR_INVALID;
    const char *dot = strchr(name, '.');
    const char *tab = dot ? dot + 1 : name;
    size_t slen = dot ? (size_t)(dot - name) : 0;
    size_t tlen = strlen(tab);
    if (dot && !ident_ok(name, slen))
        return ERR_INVALID;
    if (!ident_ok(tab, tlen))
        return ERR_INVALID;
    if (dot) {
        memcpy(q->prefix, "\"", 1);
        memcpy(q->prefix + 1, name, slen);
        memcpy(q->prefix + 1 + slen, "\".", 3);
    } else {
        q->prefix[0] = '\0';
    }
    memcpy(q->base, tab, tlen + 1);
    strcpy(q->quoted, q->prefix);
    strcat(q->quoted, "\"");
    strcat(q->quoted, q->base);
    strcat(q->quoted, "\"");
    return 0;
}

static char *take(buf *b)
{
    char *s = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

/* Column list with a prefix on each name, e.g. "c." for RETURNING. */
static int key_cols(buf *b, const char *pfx)
{
    static const char *const cols[] = {"event_name",    "event_url",   "event_time", "group_name",
                                       "group_country", "group_state", "group_city", "group_lat",
                                       "group_lon",     "lat",         "lon",        "response"};
    int rc = 0;
    for (size_t i = 0; i < sizeof cols / sizeof cols[0] && rc == 0; i++)
        rc = buf_printf(b, "%s%s%s", i ? ", " : "", pfx, cols[i]);
    return rc;
}

#define KEY_TYPES                                                                                            \
    "event_name text, event_url text, event_time text, group_name text, group_country text, "                \
    "group_state text, group_city text, group_lat double precision, group_lon double precision, "            \
    "lat double precision, lon double precision, response text"

/* The partitioned tables' columns. committed_at defaults to now() so that a writer of the previous
 * version, still running during a rolling upgrade, can go on appending history rows. */
#define MEETUP_COLUMNS                                                                                       \
    KEY_TYPES ", response_count bigint, batch_id bigint, committed_at timestamptz NOT NULL DEFAULT now()"
#define BATCHES_COLUMNS                                                                                      \
    "batch_id bigint NOT NULL, topic text NOT NULL, partition int NOT NULL, from_offset bigint NOT NULL, "   \
    "to_offset bigint NOT NULL, rows bigint NOT NULL, messages bigint, newest_ingest_ms bigint, "            \
    "oldest_ingest_ms bigint, committed_at timestamptz NOT NULL, PRIMARY KEY (batch_id, committed_at)"
#define PARTITIONED "PARTITION BY RANGE (committed_at)"

/* The upgrade from the previous version, whose meetup_table (no committed_at) and rsvp_batches were
 * plain tables: each becomes the partition <base>_legacy of a new partitioned table, covering
 * everything before the upgrade ([MINVALUE, U), U = the next whole second after the locks are held,
 * so every row committed before is below it). Old meetup_table rows get committed_at '-infinity'
 * (their time was never recorded); rsvp_batches rows keep theirs. ATTACH checks every row against
 * the bound (one sequential scan of each table, under the DDL lock) and builds the unique index of
 * rsvp_batches' new primary key on the legacy partition; the old key is dropped. A no-op when the
 * tables are already partitioned or do not exist yet. */
static int migrate(buf *x, const qname *m, const qname *b)
{
    int rc = buf_printf(x,
                        "DO $rsvp_migrate$\nDECLARE mk \"char\"; bk \"char\"; upper timestamptz; pk name;\n"
                        "BEGIN\n"
                        "  SELECT relkind INTO mk FROM pg_class WHERE oid = to_regclass('%s');\n"
                        "  SELECT relkind INTO bk FROM pg_class WHERE oid = to_regclass('%s');\n"
                        "  IF mk IS DISTINCT FROM 'r' AND bk IS DISTINCT FROM 'r' THEN RETURN; END IF;\n"
                        "  IF mk = 'r' THEN LOCK TABLE %s IN ACCESS EXCLUSIVE MODE; END IF;\n"
                        "  IF bk = 'r' THEN LOCK TABLE %s IN ACCESS EXCLUSIVE MODE; END IF;\n"
                        "  upper := date_trunc('second', clock_timestamp()) + interval '1 second';\n",
                        m->quoted, b->quoted, m->quoted, b->quoted);
    rc =
        rc ? rc
           : buf_printf(x,
                        "  IF mk = 'r' THEN\n"
                        "    ALTER TABLE %s RENAME TO \"%s_legacy\";\n"
                        "    ALTER TABLE %s\"%s_legacy\" ADD COLUMN committed_at timestamptz NOT NULL "
                        "DEFAULT '-infinity';\n"
                        "    ALTER TABLE %s\"%s_legacy\" ALTER COLUMN committed_at SET DEFAULT now();\n"
                        "    CREATE TABLE %s (" MEETUP_COLUMNS ") " PARTITIONED ";\n"
                        "    EXECUTE format('ALTER TABLE %%s ATTACH PARTITION %%s FOR VALUES FROM (MINVALUE) "
                        "TO (%%L)', '%s', '%s\"%s_legacy\"', upper);\n"
                        "    RAISE NOTICE 'rsvp-writer: %s partitioned, old rows in %s_legacy';\n"
                        "  END IF;\n",
                        m->quoted, m->base, m->prefix, m->base, m->prefix, m->base, m->quoted, m->quoted,
                        m->prefix, m->base, m->base, m->base);
    rc =
        rc ? rc
           : buf_printf(x,
                        "  IF bk = 'r' THEN\n"
                        "    ALTER TABLE %s RENAME TO \"%s_legacy\";\n"
                        "    SELECT conname INTO pk FROM pg_constraint WHERE contype = 'p' AND conrelid = "
                        "to_regclass('%s\"%s_legacy\"');\n"
                        "    IF pk IS NOT NULL THEN EXECUTE format('ALTER TABLE %%s DROP CONSTRAINT %%I', "
                        "'%s\"%s_legacy\"', pk); END IF;\n"
                        "    CREATE TABLE %s (" BATCHES_COLUMNS ") " PARTITIONED ";\n"
                        "    EXECUTE format('ALTER TABLE %%s ATTACH PARTITION %%s FOR VALUES FROM (MINVALUE) "
                        "TO (%%L)', '%s', '%s\"%s_legacy\"', upper);\n"
                        "    RAISE NOTICE 'rsvp-writer: %s partitioned, old rows in %s_legacy';\n"
                        "  END IF;\n"
                        "END $rsvp_migrate$;\n",
                        b->quoted, b->base, b->prefix, b->base, b->prefix, b->base, b->quoted, b->quoted,
                        b->prefix, b->base, b->base, b->base);
    return rc;
}

static int build(schema *s, const qname *m, const qname *c, const qname *o, const qname *b)
{
    buf x = {0};
    int rc = 0;

    /* DDL: column types exactly as the brief's table definitions, plus committed_at (the batch's
     * commit time) by which meetup_table and rsvp_batches are range-partitioned, so that old history
     * is dropped a whole partition at a time (services/writer/partition.c). A database of the
     * previous version (both tables unpartitioned) is converted first, in the same transaction. */
    rc = rc ? rc : migrate(&x, m, b);
    rc = rc ? rc
            : buf_printf(&x, "CREATE TABLE IF NOT EXISTS %s (" MEETUP_COLUMNS ") " PARTITIONED ";\n",
                         m->quoted);
    /* Half-full pages: a batch that updates every key of a page finds room on that page for the
     * new versions, so the update is HOT and skips the 12-column unique index (upserts of the
     * same keys cost PostgreSQL about a third less CPU, for twice the table size). */
    rc = rc ? rc
            : buf_printf(&x,
                         "CREATE TABLE IF NOT EXISTS %s (" KEY_TYPES
                         ", response_count bigint NOT NULL) WITH (fillfactor = 50);\n",
                         c->quoted);
    rc = rc ? rc
            : buf_printf(&x, "CREATE UNIQUE INDEX IF NOT EXISTS \"%s_key_uidx\" ON %s (", c->base, c->quoted);
    rc = rc ? rc : key_cols(&x, "");
    rc = rc ? rc : buf_puts(&x, ") NULLS NOT DISTINCT;\n");
    rc = rc ? rc
            : buf_printf(&x,
                         "CREATE TABLE IF NOT EXISTS %s (topic text NOT NULL, partition "
                         "int NOT NULL, next_offset bigint NOT NULL, "
                         "PRIMARY KEY (topic, partition));\n",
                         o->quoted);
    rc = rc ? rc : buf_printf(&x, "CREATE SEQUENCE IF NOT EXISTS %s\"%s_id_seq\";\n", b->prefix, b->base);
    rc = rc ? rc
            : buf_printf(&x, "CREATE TABLE IF NOT EXISTS %s (" BATCHES_COLUMNS ") " PARTITIONED ";\n",
                         b->quoted);
    if (rc == 0)
        s->ddl = take(&x);

    rc = rc ? rc
            : buf_printf(&x, "CREATE TEMP TABLE IF NOT EXISTS " SCHEMA_TMP_TABLE " (" KEY_TYPES
                             ", delta bigint NOT NULL) ON COMMIT DELETE ROWS");
    if (rc == 0)
        s->tmp_ddl = take(&x);
    rc = rc ? rc
            : buf_printf(&x, "COPY pg_temp." SCHEMA_TMP_TABLE " (" SCHEMA_KEY_COLUMNS
                             ", delta) FROM STDIN (FORMAT binary)");
    if (rc == 0)
        s->copy = take(&x);

    rc = rc ? rc
            : buf_printf(&x,
                         "SELECT next_offset FROM %s WHERE topic = $1 AND partition = $2 "
                         "FOR UPDATE",
                         o->quoted);
    if (rc == 0)
        s->sql[SCHEMA_LOCK_OFFSET] = take(&x);
    rc = rc ? rc
            : buf_printf(&x,
                         "INSERT INTO %s (topic, partition, next_offset) "
                         "VALUES ($1, $2, $3)",
                         o->quoted);
    if (rc == 0)
        s->sql[SCHEMA_INSERT_OFFSET] = take(&x);

    /* One statement after the COPY: batch id, offset advance, upsert of the running totals in
     * key order (a stable lock order makes deadlocks between writers rare), the commit time t,
     * the appended history rows carrying the new totals, and last the batch row. t is taken with
     * clock_timestamp() once the upsert is done (it counts up's rows), just before the history
     * append and COMMIT (now() would be the transaction's start and leave the apply time out of
     * the freshness figures); the history rows and the batch row share it, so a batch lives in
     * the same time partition of both tables. */
    rc = rc ? rc
            : buf_printf(&x,
                         "WITH id AS MATERIALIZED (SELECT nextval('%s\"%s_id_seq\"') AS "
                         "batch_id), ",
                         b->prefix, b->base);
    rc = rc ? rc
            : buf_printf(&x,
                         "o AS (UPDATE %s SET next_offset = $4::bigint WHERE topic = "
                         "$1::text AND partition = $2::int), ",
                         o->quoted);
    rc = rc ? rc
            : buf_printf(&x,
                         "up AS (INSERT INTO %s AS c (" SCHEMA_KEY_COLUMNS
                         ", response_count) SELECT " SCHEMA_KEY_COLUMNS ", delta FROM "
                         "pg_temp." SCHEMA_TMP_TABLE " ORDER BY " SCHEMA_KEY_COLUMNS
                         " ON CONFLICT (" SCHEMA_KEY_COLUMNS ") DO UPDATE SET "
                         "response_count = c.response_count + EXCLUDED.response_count "
                         "RETURNING ",
                         c->quoted);
    rc = rc ? rc : key_cols(&x, "c.");
    rc = rc ? rc
            : buf_printf(&x,
                         ", c.response_count), t AS MATERIALIZED (SELECT clock_timestamp() AS at FROM "
                         "(SELECT count(*) FROM up) n), m AS (INSERT INTO %s (" SCHEMA_KEY_COLUMNS
                         ", response_count, batch_id, committed_at) SELECT up.*, id.batch_id, t.at FROM up "
                         "CROSS JOIN id CROSS JOIN t RETURNING 1), ",
                         m->quoted);
    rc = rc ? rc
            : buf_printf(&x,
                         "b AS (INSERT INTO %s (batch_id, topic, partition, from_offset, "
                         "to_offset, rows, messages, newest_ingest_ms, oldest_ingest_ms, "
                         "committed_at) SELECT id.batch_id, $1::text, $2::int, "
                         "$3::bigint, $4::bigint, $5::bigint, $6::bigint, $7::bigint, "
                         "$8::bigint, t.at FROM id CROSS JOIN t CROSS JOIN (SELECT "
                         "count(*) FROM m) n RETURNING batch_id) SELECT batch_id FROM b",
                         b->quoted);
    if (rc == 0)
        s->sql[SCHEMA_APPLY] = take(&x);

    rc = rc ? rc
            : buf_printf(&x,
                         "SELECT partition, next_offset FROM %s WHERE topic = $1 AND "
                         "partition = ANY ($2::int[])",
                         o->quoted);
    if (rc == 0)
        s->sql[SCHEMA_QUERY_OFFSETS] = take(&x);
    buf_free(&x);
    return rc;
}

/* The partition lists and the orphan queries of the two partitioned tables. A bound is read back
 * from pg_get_expr()'s text ("FOR VALUES FROM ('2024-05-01 00:00:00+00') TO (...)"), which casts
 * back to the same timestamptz in the same session; MINVALUE (the legacy partition) reads as NULL. */
static int build_partition_sql(schema *s)
{
    static const schema_table parted[] = {SCHEMA_T_MEETUP, SCHEMA_T_BATCHES};
    buf x = {0};
    int rc = 0;
    for (size_t i = 0; i < sizeof parted / sizeof parted[0] && rc == 0; i++) {
        const qname *q = &s->t[parted[i]];
        rc = buf_printf(
            &x,
            "SELECT c.relname, (extract(epoch FROM substring(pg_get_expr(c.relpartbound, c.oid) "
            "FROM $re$FROM \\('([^']*)'\\)$re$)::timestamptz) * 1000)::bigint, (extract(epoch FROM "
            "substring(pg_get_expr(c.relpartbound, c.oid) FROM $re$ TO \\('([^']*)'\\)$re$)"
            "::timestamptz) * 1000)::bigint, i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid "
            "= "
            "i.inhrelid WHERE i.inhparent = to_regclass('%s') ORDER BY 2 NULLS FIRST",
            q->quoted);
        if (rc == 0)
            s->parts_sql[parted[i]] = take(&x);
        rc = rc ? rc
                : buf_printf(&x,
                             "SELECT c.relname FROM pg_class c WHERE c.relnamespace = (SELECT relnamespace "
                             "FROM pg_class WHERE oid = to_regclass('%s')) AND c.relkind = 'r' AND NOT "
                             "c.relispartition AND c.relname ~ '^%s_([0-9]{14}|legacy)$'",
                             q->quoted, q->base);
        if (rc == 0)
            s->orphans_sql[parted[i]] = take(&x);
    }
    buf_free(&x);
    return rc;
}

int schema_new(schema **out, const char *meetup, const char *counts, const char *offsets, const char *batches,
               const char **why)
{
    qname m, c, o, b;
    if (qname_parse(&m, meetup) != 0)
        return *why = "MEETUP_TABLE", ERR_INVALID;
    if (qname_parse(&c, counts) != 0)
        return *why = "COUNTS_TABLE", ERR_INVALID;
    if (qname_parse(&o, offsets) != 0)
        return *why = "OFFSETS_TABLE", ERR_INVALID;
    if (qname_parse(&b, batches) != 0)
        return *why = "BATCHES_TABLE", ERR_INVALID;
    schema *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ERR_NOMEM;
    s->t[SCHEMA_T_MEETUP] = m;
    s->t[SCHEMA_T_COUNTS] = c;
    s->t[SCHEMA_T_OFFSETS] = o;
    s->t[SCHEMA_T_BATCHES] = b;
    snprintf(s->seq, sizeof s->seq, "%s\"%s_id_seq\"", b.prefix, b.base);
    int rc = build(s, &m, &c, &o, &b);
    rc = rc ? rc : build_partition_sql(s);
    if (rc != 0) {
        schema_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

const char *schema_ddl(const schema *s)
{
    return s->ddl;
}
const char *schema_tmp_ddl(const schema *s)
{
    return s->tmp_ddl;
}
const char *schema_copy(const schema *s)
{
    return s->copy;
}
const char *schema_sql(const schema *s, schema_stmt which)
{
    return s->sql[which];
}

const char *schema_stmt_name(schema_stmt which)
{
    static const char *const names[SCHEMA_STMT_COUNT] = {"w_lock_offset", "w_insert_offset", "w_apply",
                                                         "w_query_offsets"};
    return names[which];
}

void schema_free(schema *s)
{
    if (s == NULL)
        return;
    free(s->ddl);
    free(s->tmp_ddl);
    free(s->copy);
    for (int i = 0; i < SCHEMA_STMT_COUNT; i++)
        free(s->sql[i]);
    for (int i = 0; i < SCHEMA_NTABLES; i++) {
        free(s->parts_sql[i]);
        free(s->orphans_sql[i]);
    }
    free(s);
}

const char *schema_table_quoted(const schema *s, schema_table which)
{
    return s->t[which].quoted;
}

const char *schema_sequence_quoted(const schema *s)
{
    return s->seq;
}

const char *schema_partitions_sql(const schema *s, schema_table which)
{
    return s->parts_sql[which];
}

const char *schema_orphans_sql(const schema *s, schema_table which)
{
    return s->orphans_sql[which];
}

void schema_partition_name(const schema *s, schema_table which, int64_t lo_ms, char *out, size_t cap)
{
    time_t t = (time_t)(lo_ms / 1000);
    struct tm tm;
    char stamp[32] = "00000000000000";
    if (gmtime_r(&t, &tm) != NULL)
        strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
    snprintf(out, cap, "%s_%s", s->t[which].base, stamp);
}

/* A bound as a timestamptz literal in UTC, to the millisecond. */
static void bound_text(int64_t ms, char out[48])
{
    int64_t sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    time_t t = (time_t)sec;
    struct tm tm;
    char day[32] = "1970-01-01 00:00:00";
    if (gmtime_r(&t, &tm) != NULL)
        strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out, 48, "%s.%03d+00", day, (int)(ms - sec * 1000));
}

int schema_partition_create(const schema *s, schema_table which, int64_t lo_ms, int64_t hi_ms, buf *out)
{
    const qname *q = &s->t[which];
    char name[NAME_MAX_LEN + 24], lo[48], hi[48];
    schema_partition_name(s, which, lo_ms, name, sizeof name);
    bound_text(lo_ms, lo);
    bound_text(hi_ms, hi);
    buf_reset(out);
    /* A table of its own, attached: ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on the parent,
     * which no batch's ROW EXCLUSIVE conflicts with; CREATE TABLE ... PARTITION OF would take
     * ACCESS EXCLUSIVE and queue every batch behind it. LIKE copies columns, defaults and the
     * primary key, so the attach finds its index instead of building one. */
    return buf_printf(out,
                      "CREATE TABLE %s\"%s\" (LIKE %s INCLUDING ALL); ALTER TABLE %s ATTACH PARTITION "
                      "%s\"%s\" FOR VALUES FROM ('%s') TO ('%s')",
                      q->prefix, name, q->quoted, q->quoted, q->prefix, name, lo, hi);
}

int schema_partition_detach(const schema *s, schema_table which, const char *relname, int finalize, buf *out)
{
    const qname *q = &s->t[which];
    if (relname == NULL || !ident_chars_ok(relname, strlen(relname), 63))
        return ERR_INVALID;
    buf_reset(out);
    return buf_printf(out, "ALTER TABLE %s DETACH PARTITION %s\"%s\" %s", q->quoted, q->prefix, relname,
                      finalize ? "FINALIZE" : "CONCURRENTLY");
}

int schema_partition_drop(const schema *s, schema_table which, const char *relname, buf *out)
{
    if (relname == NULL || !ident_chars_ok(relname, strlen(relname), 63))
        return ERR_INVALID;
    buf_reset(out);
    return buf_printf(out, "DROP TABLE IF EXISTS %s\"%s\"", s->t[which].prefix, relname);
}

/* One table of the swap: a LIKE pattern (underscores escaped) of rb's names. */
static int swap_like(buf *out, const char *rb_base)
{
    int rc = buf_printf(out, "c.relname = '%s' OR c.relname LIKE '", rb_base);
    for (const char *p = rb_base; rc == 0 && *p; p++)
        rc = *p == '_' ? buf_puts(out, "\\_") : buf_putc(out, *p);
    return rc ? rc : buf_puts(out, "\\_%'");
}

/* The live tables locked in the order a batch takes them (offsets first), those that exist. */
static int lock_lines(buf *out, const qname *L)
{
    static const schema_table order[] = {SCHEMA_T_OFFSETS, SCHEMA_T_COUNTS, SCHEMA_T_MEETUP,
                                         SCHEMA_T_BATCHES};
    int rc = 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0] && rc == 0; i++)
        rc = buf_printf(
            out, "  IF to_regclass('%s') IS NOT NULL THEN LOCK TABLE %s IN ACCESS EXCLUSIVE MODE; END IF;\n",
            L[order[i]].quoted, L[order[i]].quoted);
    return rc;
}

int schema_lock_sql(const schema *s, buf *out)
{
    buf_reset(out);
    int rc = buf_puts(out, "DO $rsvp_lock$\nBEGIN\n");
    rc = rc ? rc : lock_lines(out, s->t);
    return rc ? rc : buf_puts(out, "END $rsvp_lock$");
}

int schema_swap_sql(const schema *live, const schema *rb, buf *out)
{
    const qname *L = live->t, *R = rb->t;
    for (int i = 0; i < SCHEMA_NTABLES; i++)
        if (strcmp(L[i].prefix, R[i].prefix) != 0 || strcmp(L[i].prefix, L[0].prefix) != 0)
            return ERR_INVALID; /* the renames stay inside one schema */
    buf_reset(out);
    int rc = buf_puts(
        out, "DO $rsvp_swap$\nDECLARE r record; nsp name; live_last bigint; rb_last bigint;\nBEGIN\n");
    rc = rc ? rc : lock_lines(out, L);
    /* batch ids go on increasing past both sequences */
    const qname *lb = &L[SCHEMA_T_BATCHES], *rbb = &R[SCHEMA_T_BATCHES];
    rc = rc ? rc
            : buf_printf(out,
                         "  SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO rb_last FROM "
                         "%s\"%s_id_seq\";\n"
                         "  IF to_regclass('%s\"%s_id_seq\"') IS NOT NULL THEN\n"
                         "    SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO live_last FROM "
                         "%s\"%s_id_seq\";\n"
                         "    IF greatest(live_last, rb_last) > 0 THEN PERFORM setval('%s\"%s_id_seq\"', "
                         "greatest(live_last, rb_last)); END IF;\n"
                         "    DROP SEQUENCE %s\"%s_id_seq\";\n"
                         "  END IF;\n",
                         rbb->prefix, rbb->base, lb->prefix, lb->base, lb->prefix, lb->base, lb->prefix,
                         lb->base, rbb->prefix, rbb->base);
    rc = rc ? rc
            : buf_printf(out, "  DROP TABLE IF EXISTS %s, %s, %s, %s;\n", L[SCHEMA_T_MEETUP].quoted,
                         L[SCHEMA_T_BATCHES].quoted, L[SCHEMA_T_COUNTS].quoted, L[SCHEMA_T_OFFSETS].quoted);
    /* every relation of the rebuild (tables, partitions, indexes, the sequence if kept) takes the
     * live name: <rb base>[_rest] -> <live base>[_rest] */
    rc = rc ? rc
            : buf_printf(
                  out,
                  "  SELECT n.nspname INTO nsp FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE c.oid = to_regclass('%s');\n",
                  R[SCHEMA_T_MEETUP].quoted);
    for (int i = 0; i < SCHEMA_NTABLES && rc == 0; i++) {
        rc = buf_puts(out,
                      "  FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = "
                      "c.relnamespace WHERE n.nspname = nsp AND (");
        rc = rc ? rc : swap_like(out, R[i].base);
        rc = rc ? rc
                : buf_printf(
                      out,
                      ") ORDER BY c.relkind IN ('i', 'I') LOOP\n"
                      "    EXECUTE format('ALTER %%s %%I.%%I RENAME TO %%I', CASE WHEN r.relkind IN ('i', "
                      "'I') "
                      "THEN 'INDEX' WHEN r.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, nsp, r.relname, "
                      "'%s' || substr(r.relname, %d));\n"
                      "  END LOOP;\n",
                      L[i].base, (int)strlen(R[i].base) + 1);
    }
    return rc ? rc : buf_puts(out, "END $rsvp_swap$");
}
