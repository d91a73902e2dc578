/* schema.h: the writer's SQL, generated once from the configured table names: the idempotent
 * DDL run at start-up (under an advisory lock) and the statements each connection prepares. */
#ifndef SERVICES_WRITER_SCHEMA_H
#define SERVICES_WRITER_SCHEMA_H

/* The 12 aggregate key columns, in the order of AggRow and of the COPY tuples (copy.h). */
#define SCHEMA_KEY_COLUMNS                                                                                   \
    "event_name, event_url, event_time, group_name, group_country, group_state, group_city, "                \
    "group_lat, group_lon, lat, lon, response"

/* Per-connection temp table the COPY loads into (emptied at every commit). */
#define SCHEMA_TMP_TABLE "rsvp_writer_rows"

typedef struct schema schema;

typedef enum schema_stmt {
    SCHEMA_LOCK_OFFSET,   /* $1 topic, $2 partition -> next_offset, row locked FOR UPDATE */
    SCHEMA_INSERT_OFFSET, /* $1 topic, $2 partition, $3 next_offset (first batch of a partition) */
    SCHEMA_APPLY,         /* $1 topic $2 partition $3 from $4 to $5 rows $6 messages
                           * $7 newest_ingest_ms $8 oldest_ingest_ms -> batch_id */
    SCHEMA_QUERY_OFFSETS, /* $1 topic, $2 int[] partitions -> (partition, next_offset) rows */
    SCHEMA_STMT_COUNT
} schema_stmt;

/* schema_new: table names are identifiers [A-Za-z_][A-Za-z0-9_]* of at most 48 bytes, optionally
 * schema-qualified ("s.t"); they are double-quoted in SQL. On success *out owns the texts.
 * Returns 0, ERR_INVALID (bad name; *why says which) or ERR_NOMEM. */
int schema_new(schema **out, const char *meetup, const char *counts, const char *offsets, const char *batches,
               const char **why);

/* schema_ddl: the whole DDL script (several statements, all IF NOT EXISTS), to run in one
 * transaction after pg_advisory_xact_lock(SCHEMA_LOCK_KEY). */
const char *schema_ddl(const schema *s);
/* schema_tmp_ddl: CREATE TEMP TABLE IF NOT EXISTS for the per-connection load table. */
const char *schema_tmp_ddl(const schema *s);
/* schema_copy: the COPY ... FROM STDIN (FORMAT binary) command for the load table (copy.h). */
const char *schema_copy(const schema *s);
/* schema_sql: text of a statement to prepare; schema_stmt_name: its prepared-statement name. */
const char *schema_sql(const schema *s, schema_stmt which);
const char *schema_stmt_name(schema_stmt which);

/* Advisory lock key that serialises the DDL of writers starting at once ("rsvpwddl"). */
#define SCHEMA_LOCK_KEY 0x7273767077646c00LL

void schema_free(schema *s); /* NULL-safe */

#endif
