/* schema.c: builds the writer's SQL texts from the configured table names. The names are checked
 * and quoted here once, so no other file ever splices configuration into SQL. */
#include "services/writer/schema.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"

#define NAME_MAX_LEN 48

struct schema {
    char *ddl;
    char *tmp_ddl;
    char *copy;
    char *sql[SCHEMA_STMT_COUNT];
};

/* A quoted name: "t" or "s"."t"; base gets the bare table part (for derived names). */
typedef struct qname {
    char quoted[2 * NAME_MAX_LEN + 8];
    char prefix[NAME_MAX_LEN + 4]; /* "s". or empty: where derived objects live */
    char base[NAME_MAX_LEN + 1];
} qname;

static int ident_ok(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN)
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

static int build(schema *s, const qname *m, const qname *c, const qname *o, const qname *b)
{
    buf x = {0};
    int rc = 0;

    /* DDL: column types exactly as the brief's table definitions. */
    rc = rc ? rc
            : buf_printf(&x,
                         "CREATE TABLE IF NOT EXISTS %s (" KEY_TYPES
                         ", response_count bigint, batch_id bigint);\n",
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
            : buf_printf(&x,
                         "CREATE TABLE IF NOT EXISTS %s (batch_id bigint PRIMARY KEY, "
                         "topic text NOT NULL, partition int NOT NULL, from_offset "
                         "bigint NOT NULL, to_offset bigint NOT NULL, rows bigint NOT "
                         "NULL, messages bigint, newest_ingest_ms bigint, "
                         "oldest_ingest_ms bigint, committed_at timestamptz NOT NULL);\n",
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
     * key order (a stable lock order makes deadlocks between writers rare), the appended history
     * rows carrying the new totals, and last the batch row: it reads the count of history rows,
     * so its clock_timestamp() is taken after the upsert, just before COMMIT (now() would be the
     * transaction's start and leave the apply time out of the freshness figures). */
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
                         ", c.response_count), m AS (INSERT INTO %s (" SCHEMA_KEY_COLUMNS
                         ", response_count, batch_id) SELECT up.*, id.batch_id FROM up "
                         "CROSS JOIN id RETURNING 1), ",
                         m->quoted);
    rc = rc ? rc
            : buf_printf(&x,
                         "b AS (INSERT INTO %s (batch_id, topic, partition, from_offset, "
                         "to_offset, rows, messages, newest_ingest_ms, oldest_ingest_ms, "
                         "committed_at) SELECT id.batch_id, $1::text, $2::int, "
                         "$3::bigint, $4::bigint, $5::bigint, $6::bigint, $7::bigint, "
                         "$8::bigint, clock_timestamp() FROM id CROSS JOIN (SELECT "
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
    int rc = build(s, &m, &c, &o, &b);
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
    free(s);
}
