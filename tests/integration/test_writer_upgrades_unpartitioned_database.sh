#!/usr/bin/env bash
# Upgrade from the previous version: a database whose meetup_table and rsvp_batches are plain tables (the
# previous writer's DDL, below verbatim) holding history is opened by two new writers starting at once.
# One converts it (each old table becomes the partition <table>_legacy of a new partitioned table), the
# other waits for that and finds nothing to do. Passes when both tables are partitioned by committed_at,
# every old row is still there (the history's newest row per key still equals rsvp_counts), the stored
# offsets and the batch id sequence go on (a batch continuing from the stored offset is applied at once,
# its partition already there, with a later id), a history insert without committed_at (a previous writer still running) still lands, and a
# writer started later with RETENTION=1s drops the legacy partitions while rsvp_counts stays as it was.
set -euo pipefail
source "$(dirname "$0")/writer_lib.sh"
w_init test_writer_upgrades_unpartitioned_database

# The previous version's schema and some history: 300 keys, two batches each on partition 0 (offsets
# 0..200), totals 1 + 2 = 3, the batch ids from the sequence.
w_sql "
CREATE TABLE IF NOT EXISTS \"meetup_table\" (event_name text, event_url text, event_time text, group_name text, group_country text, group_state text, group_city text, group_lat double precision, group_lon double precision, lat double precision, lon double precision, response text, response_count bigint, batch_id bigint);
CREATE TABLE IF NOT EXISTS \"rsvp_counts\" (event_name text, event_url text, event_time text, group_name text, group_country text, group_state text, group_city text, group_lat double precision, group_lon double precision, lat double precision, lon double precision, response text, response_count bigint NOT NULL) WITH (fillfactor = 50);
CREATE UNIQUE INDEX IF NOT EXISTS \"rsvp_counts_key_uidx\" ON \"rsvp_counts\" (event_name, event_url, event_time, group_name, group_country, group_state, group_city, group_lat, group_lon, lat, lon, response) NULLS NOT DISTINCT;
CREATE TABLE IF NOT EXISTS \"rsvp_offsets\" (topic text NOT NULL, partition int NOT NULL, next_offset bigint NOT NULL, PRIMARY KEY (topic, partition));
CREATE SEQUENCE IF NOT EXISTS \"rsvp_batches_id_seq\";
CREATE TABLE IF NOT EXISTS \"rsvp_batches\" (batch_id bigint PRIMARY KEY, topic text NOT NULL, partition int NOT NULL, from_offset bigint NOT NULL, to_offset bigint NOT NULL, rows bigint NOT NULL, messages bigint, newest_ingest_ms bigint, oldest_ingest_ms bigint, committed_at timestamptz NOT NULL);
INSERT INTO rsvp_batches SELECT nextval('rsvp_batches_id_seq'), 'rsvps.parsed', 0, CASE WHEN b = 0 THEN -1 ELSE b * 100 END, (b + 1) * 100, 300, 300, NULL, NULL, now() - interval '1 day' + b * interval '1 minute' FROM generate_series(0, 1) b;
INSERT INTO meetup_table (event_name, event_url, group_name, group_lat, lat, response, response_count, batch_id)
    SELECT 'k-' || i, 'u', 'g', i * 0.5, NULL, 'yes', b, b FROM generate_series(1, 300) i, generate_series(1, 2) b;
INSERT INTO rsvp_counts (event_name, event_url, group_name, group_lat, lat, response, response_count)
    SELECT 'k-' || i, 'u', 'g', i * 0.5, NULL, 'yes', 2 FROM generate_series(1, 300) i;
INSERT INTO rsvp_offsets VALUES ('rsvps.parsed', 0, 200);" >/dev/null

w_start_writer W1
w_start_writer W2
p1=${W1%%:*} m1=${W1##*:} m2=${W2##*:}
w_wait_ready "$m1" 30 && w_wait_ready "$m2" 30 || w_fail "writers not ready after the upgrade"
converted=$(grep -l '"msg":"history tables converted"' "$W_TMP"/writer-*.log | wc -l)
[ "$converted" = 1 ] || w_fail "$converted writers say they converted the tables (want exactly 1)"

for t in meetup_table rsvp_batches; do
    [ "$(w_sql "SELECT relkind FROM pg_class WHERE relname = '$t'")" = p ] || w_fail "$t is not partitioned"
    [ "$(w_sql "SELECT pg_get_expr(relpartbound, oid) LIKE 'FOR VALUES FROM (MINVALUE) TO (%' FROM pg_class WHERE relname = '${t}_legacy'")" = t ] ||
        w_fail "${t}_legacy is not the partition below the upgrade"
done
[ "$(w_sql "SELECT count(*) || '/' || sum(response_count) FROM meetup_table")" = 600/900 ] || w_fail "history rows changed: $(w_sql "SELECT count(*), sum(response_count) FROM meetup_table")"
[ "$(w_sql "SELECT count(*) FROM rsvp_batches")" = 2 ] || w_fail "rsvp_batches rows changed"
[ "$(w_sql "SELECT count(*) FROM meetup_table WHERE committed_at = '-infinity'")" = 600 ] || w_fail "old history rows should have committed_at -infinity"

# The pipeline goes on from the stored offset: +1 for every key, a later batch id.
awk 'BEGIN { for (i = 1; i <= 300; i++) printf "{\"event_name\":\"k-%d\",\"event_url\":\"u\",\"event_time\":null,\"group_name\":\"g\",\"group_country\":null,\"group_state\":null,\"group_city\":null,\"group_lat\":%s,\"group_lon\":null,\"lat\":null,\"lon\":null,\"response\":\"yes\",\"delta\":1}\n", i, i * 0.5 }' >"$W_TMP/rows.jsonl"
r=$(w_client "$p1" batch --topic rsvps.parsed --partition 0 --from 200 --to 500 --rows-file "$W_TMP/rows.jsonl")
[ "$(w_field "$r" status)" = OK ] && [ "$(w_field "$r" batch_id)" -gt 2 ] || w_fail "batch after the upgrade: $r"
# its partition was there (made right after the conversion), not created by the batch itself
[ "$(w_metric "$m1" rsvp_writer_tx_retries_total)" = 0 ] || w_fail "the first batch after the upgrade found no partition"
[ "$(w_sql "SELECT count(*) || '/' || min(response_count) || '/' || max(response_count) FROM rsvp_counts")" = 300/3/3 ] ||
    w_fail "rsvp_counts after the upgrade: $(w_sql "SELECT count(*), min(response_count), max(response_count) FROM rsvp_counts")"
diff=$(w_sql "SELECT count(*) FROM (SELECT DISTINCT ON ($W_KEYS) $W_KEYS, response_count FROM meetup_table ORDER BY $W_KEYS, batch_id DESC) l
    FULL JOIN rsvp_counts c USING (event_name) WHERE l.response_count IS DISTINCT FROM c.response_count")
[ "$diff" = 0 ] || w_fail "newest meetup_table rows differ from rsvp_counts in $diff keys"
# a previous writer, still running during a rolling upgrade, appends history without committed_at
w_sql "INSERT INTO meetup_table (event_name, response, response_count, batch_id) VALUES ('old-writer', 'yes', 1, 4)" >/dev/null ||
    w_fail "an insert without committed_at was refused"

# Retention after the upgrade: the legacy partitions (everything before it) expire as a whole.
for pid in "${W_PIDS[@]}"; do kill -TERM "$pid"; wait "$pid" || w_fail "writer $pid did not exit 0"; done
w_start_writer W3 RETENTION=1s PARTITION_INTERVAL=1s
m3=${W3##*:}
w_wait_ready "$m3" 30 || w_fail "writer with RETENTION not ready"
deadline=$((SECONDS + 30))
until [ "$(w_sql "SELECT count(*) FROM pg_class WHERE relname IN ('meetup_table_legacy', 'rsvp_batches_legacy')")" = 0 ]; do
    [ $SECONDS -lt $deadline ] || w_fail "legacy partitions not dropped in 30 s: $(grep -h 'partition keeper step failed' "$W_TMP"/writer-*.log | head -n 1)"
    sleep 0.2
done
[ "$(w_sql "SELECT count(*) FROM meetup_table WHERE committed_at = '-infinity'")" = 0 ] || w_fail "old history still there"
[ "$(w_sql "SELECT count(*) || '/' || sum(response_count) FROM rsvp_counts")" = 300/900 ] || w_fail "rsvp_counts changed by retention"
[ "$(w_sql "SELECT next_offset FROM rsvp_offsets")" = 500 ] || w_fail "rsvp_offsets changed by retention"
w_pass
