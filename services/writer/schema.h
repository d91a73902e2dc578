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

#include <stddef.h>
#include <stdint.h>

struct buf; /* common/buf.h */

typedef struct schema schema;

/* The four tables, in the order schema_new() takes their names. */
typedef enum schema_table {
    SCHEMA_T_MEETUP,  /* history, partitioned by committed_at */
    SCHEMA_T_COUNTS,  /* running totals */
    SCHEMA_T_OFFSETS, /* stored next offset per topic-partition */
    SCHEMA_T_BATCHES, /* one row per batch, partitioned by committed_at */
    SCHEMA_NTABLES
} schema_table;

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
 * transaction after pg_advisory_xact_lock(SCHEMA_LOCK_KEY). It first converts a database of the
 * previous version, whose meetup_table and rsvp_batches were not partitioned (one scan of each,
 * see schema.c), and creates no partition: partition.h does. */
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

/* ---- time partitions of meetup_table and rsvp_batches (which: SCHEMA_T_MEETUP or _BATCHES) ---- */

/* schema_table_quoted: the table's quoted name ("t" or "s"."t"). */
const char *schema_table_quoted(const schema *s, schema_table which);

/* schema_sequence_quoted: the batch id sequence's quoted name (<batches>_id_seq). */
const char *schema_sequence_quoted(const schema *s);

/* schema_partitions_sql: a query of the table's partitions, one row each: relname, lower bound and
 * upper bound in ms since the epoch (lower NULL for MINVALUE) and detach pending (t/f), ordered by
 * lower bound. */
const char *schema_partitions_sql(const schema *s, schema_table which);

/* schema_orphans_sql: a query of the plain tables named like the table's partitions
 * (<base>_YYYYMMDDhhmmss or <base>_legacy) that are no longer attached: left by a drop that was
 * interrupted between DETACH and DROP. One column, relname. */
const char *schema_orphans_sql(const schema *s, schema_table which);

/* schema_partition_name: "<base>_YYYYMMDDhhmmss" of a partition starting at lo_ms (UTC, whole
 * seconds; at most 63 bytes since base is at most 48). */
void schema_partition_name(const schema *s, schema_table which, int64_t lo_ms, char *out, size_t cap);

/* schema_partition_create: into out (replacing it), the two statements that create the partition
 * [lo_ms, hi_ms) as a table of its own and attach it; run them in one transaction. 0 or ERR_NOMEM. */
int schema_partition_create(const schema *s, schema_table which, int64_t lo_ms, int64_t hi_ms,
                            struct buf *out);

/* schema_partition_detach: ALTER TABLE ... DETACH PARTITION relname CONCURRENTLY (outside any
 * transaction block) or, with finalize, ... FINALIZE (completes an interrupted one).
 * schema_partition_drop: DROP TABLE IF EXISTS relname in the table's schema. Both return 0,
 * ERR_INVALID (relname is not a plain identifier) or ERR_NOMEM. */
int schema_partition_detach(const schema *s, schema_table which, const char *relname, int finalize,
                            struct buf *out);
int schema_partition_drop(const schema *s, schema_table which, const char *relname, struct buf *out);

void schema_free(schema *s); /* NULL-safe */

/* schema_lock_sql: into out (replacing it), one statement that locks the four tables (those that
 * exist) ACCESS EXCLUSIVE in the batch's order (offsets first), for a transaction that must see them
 * still before changing them (rsvpctl rebuild's swap). 0 or ERR_NOMEM. */
int schema_lock_sql(const schema *s, struct buf *out);

/* schema_swap_sql: into out (replacing it), one statement (a DO block) that puts the tables of rb (a
 * rebuild: the same layout under other names, in the same SQL schema) in place of live's, to run in
 * one transaction: locks live's four tables in the batch's order (offsets first), moves the batch
 * id sequence past both, drops live's tables, renames every relation of rb (tables, partitions,
 * indexes) to live's names. 0, ERR_INVALID (the two are not in one SQL schema) or ERR_NOMEM. */
int schema_swap_sql(const schema *live, const schema *rb, struct buf *out);

#endif
