#!/usr/bin/env bash
# rsvpctl rebuild --from parsed while the pipeline runs: parser, aggregator and writer count the recorded
# RSVPs fed 8 times into the raw topic. After 3 rounds the live totals are damaged (as a bug would: some
# keys +5, some rows deleted). While rounds 4-8 flow, a paced rebuild is kill -9'd midway (its tables hold
# part of the count, the live ones are untouched), then rerun to the swap. Passes when, once everything is
# counted, rsvp_counts equals the reference x 8 key by key (the damage is gone, nothing counted twice, the
# live stream went on from the rebuild's end), the newest meetup_table row per key agrees, no rebuild table
# is left, batch ids kept increasing, and no batch was refused with ERROR.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agg_lib.sh"
lib_init test_rsvpctl_rebuild_recounts_while_pipeline_runs
need_bin rsvp-parser rsvp-aggregator rsvp-writer rsvpctl

RAW=rb.$SUFFIX.raw PARSED=rb.$SUFFIX.parsed DLQ=rb.$SUFFIX.dlq
for t in "$RAW" "$PARSED" "$DLQ"; do kafka_topic "$t" 4 || fail "cannot create topic $t"; done
DB=$(pg_createdb rebuild) || fail "cannot create database"
WPORT=$(port_reserve) && WMPORT=$(port_reserve) && PMPORT=$(port_reserve) && AMPORT=$(port_reserve) || fail "no free port"
N=$(wc -l <"$AGG_RECORDED") LOOPS=8

start_bg writer env PG_URL="$DB" LISTEN="tcp://127.0.0.1:$WPORT" METRICS_ADDR="127.0.0.1:$WMPORT" \
	PARTITION_INTERVAL=10s "$BIN/rsvp-writer"
start_bg parser env RAW_TOPIC="$RAW" PARSED_TOPIC="$PARSED" DLQ_TOPIC="$DLQ" GROUP_ID="parser-$SUFFIX" \
	INSTANCE_ID="parser-$SUFFIX" METRICS_ADDR="127.0.0.1:$PMPORT" "$BIN/rsvp-parser"
start_bg aggregator env PARSED_TOPIC="$PARSED" GROUP_ID="agg-$SUFFIX" WRITER_URL="tcp://127.0.0.1:$WPORT" \
	TRIGGER_INTERVAL=300ms METRICS_ADDR="127.0.0.1:$AMPORT" INSTANCE_ID="agg-$SUFFIX" START_OFFSET=earliest \
	"$BIN/rsvp-aggregator"
feed() { kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -l "$AGG_RECORDED" || fail "kcat produce failed"; }
for i in 1 2 3; do feed; done
wait_for "[[ \$(agg_total '$DB') -ge $((3 * N)) ]]" 90 || fail "counted $(agg_total "$DB") of $((3 * N))"

# The damage a rebuild has to repair.
psql_q "$DB" "UPDATE rsvp_counts SET response_count = response_count + 5 WHERE event_name < 'M';
	DELETE FROM rsvp_counts WHERE event_name > 'T'" >/dev/null
damaged=$(agg_total "$DB")
((damaged != 3 * N)) || fail "the damage did not change the total"

# Rounds 4-8 go in one after the other, each once the previous one is counted (so they overlap the rebuild).
(
	trap - EXIT
	for i in 4 5 6 7 8; do
		kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -l "$AGG_RECORDED" || exit 1
		until [[ $(agg_metric "$AMPORT" rsvp_aggregator_consumed_total) -ge $((i * N)) ]]; do sleep 0.2; done
	done
) >"$TEST_DIR/feeder.log" 2>&1 &
feeder=$!

REBUILD=("$BIN/rsvpctl" rebuild --parsed-topic "$PARSED" --pg-url "$DB" --partition-interval 10s --max-batch-keys 500)
start_bg rebuild1 "${REBUILD[@]}" --rate 2000
rebuilt() { psql_q "$DB" "SELECT coalesce(sum(next_offset), 0) FROM rsvp_offsets_rebuild" 2>/dev/null || echo 0; }
wait_for "[[ \$(rebuilt) -ge 2000 ]]" 60 || fail "no rebuild progress: $(tail -n 3 "$TEST_DIR/rebuild1.log")"
kill -KILL "$(bg_pid rebuild1)"
[[ $(psql_q "$DB" "SELECT to_regclass('rsvp_counts_rebuild') IS NOT NULL") == t ]] || fail "the killed rebuild swapped"
part=$(rebuilt)
((part < LOOPS * N)) || fail "the rebuild had finished before it was killed"

out=$("${REBUILD[@]}" 2>"$TEST_DIR/rebuild2.log") || fail "rerun of the rebuild failed: $(tail -n 3 "$TEST_DIR/rebuild2.log")"
[[ $(jq -r .swapped <<<"$out") == true ]] || fail "rebuild: $out"
grep -q '"msg":"swapped"' "$TEST_DIR/rebuild2.log" || fail "no swap logged"
wait "$feeder" || fail "feeder failed: $(cat "$TEST_DIR/feeder.log")"

wait_for "[[ \$(agg_total '$DB') -ge $((LOOPS * N)) ]]" 90 || fail "counted $(agg_total "$DB") of $((LOOPS * N))"
wait_for "[[ \$(agg_metric $AMPORT rsvp_aggregator_consumer_lag) == 0 && \$(agg_metric $AMPORT rsvp_aggregator_pending_batches) == 0 &&
	\$(agg_metric $AMPORT rsvp_aggregator_keys) == 0 ]]" 30 || fail "aggregator not idle"
agg_compare "$DB" $LOOPS || fail "rsvp_counts differs from the reference x $LOOPS (rebuilt from $part messages, then rerun)"
[[ $(psql_q "$DB" "SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_rebuild%'") == 0 ]] || fail "rebuild relations left behind"
[[ $(psql_q "$DB" "SELECT relkind FROM pg_class WHERE relname = 'meetup_table'") == p ]] || fail "meetup_table not partitioned after the swap"
[[ $(psql_q "$DB" "SELECT count(*) FROM rsvp_batches b1 JOIN rsvp_batches b2 ON b2.committed_at > b1.committed_at AND b2.batch_id < b1.batch_id") == 0 ]] ||
	fail "batch ids went backwards after the swap"
[[ $(agg_metric "$WMPORT" 'rsvp_writer_batches_total{result="error"}') == 0 ]] || fail "the writer answered ERROR"
pass
