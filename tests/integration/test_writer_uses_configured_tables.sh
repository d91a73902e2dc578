#!/usr/bin/env bash
# Table names come from configuration (MEETUP_TABLE, COUNTS_TABLE, OFFSETS_TABLE, BATCHES_TABLE,
# schema-qualified allowed), the DDL is idempotent (a second writer starting on the same database
# at the same moment is fine), and a name that is not an identifier is a config error (exit 2).
set -euo pipefail
source "$(dirname "$0")/writer_lib.sh"
w_init test_writer_uses_configured_tables

w_sql "CREATE SCHEMA app" >/dev/null
TABLES=(MEETUP_TABLE=app.history COUNTS_TABLE=app.totals OFFSETS_TABLE=app.offs BATCHES_TABLE=app.applied)
w_start_writer A "${TABLES[@]}"
w_start_writer B "${TABLES[@]}"
w_wait_ready "${A##*:}" && w_wait_ready "${B##*:}" || w_fail "writers not ready"
head -n 5 "$TESTDATA_REFERENCE" >"$W_TMP/rows.jsonl"
r=$(w_client "${A%%:*}" batch --topic t --partition 0 --from -1 --to 10 --rows-file "$W_TMP/rows.jsonl")
[ "$(w_field "$r" status)" = OK ] || w_fail "batch: $r"
r=$(w_client "${B%%:*}" batch --topic t --partition 0 --from 10 --to 20 --rows-file "$W_TMP/rows.jsonl")
[ "$(w_field "$r" status)" = OK ] || w_fail "batch via the second writer: $r"
# (the time partitions of the history tables are tables too: not counted)
got=$(w_sql "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables t WHERE table_schema IN ('app', 'public')
    AND NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = t.table_schema AND c.relname = t.table_name AND c.relispartition)")
[ "$got" = "applied,history,offs,totals" ] || w_fail "tables: $got"
[ "$(w_sql "SELECT count(*) FROM app.history")/$(w_sql "SELECT count(*) FROM app.totals")/$(w_sql "SELECT next_offset FROM app.offs")" = "10/5/20" ] ||
    w_fail "contents"

set +e
PG_URL="$DBURL" METRICS_ADDR= COUNTS_TABLE='x; DROP TABLE app.totals' "$BIN/rsvp-writer" >"$W_TMP/bad.out" 2>&1
rc=$?
set -e
[ $rc = 2 ] || w_fail "bad table name should exit 2, got $rc"
grep -q COUNTS_TABLE "$W_TMP/bad.out" || w_fail "bad table name not explained: $(cat "$W_TMP/bad.out")"
w_pass
