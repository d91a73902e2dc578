#!/usr/bin/env bash
# test_aggregate_exact: the recorded RSVPs go raw (in two parts) -> rsvp-parser -> rsvp-aggregator (trigger 500 ms)
# -> rsvp-writer -> a fresh database, and rsvp_counts ends up equal to the reference Spark job's
# counts key by key (NULLs, strings and doubles exact); the newest meetup_table row of every key equals
# rsvp_counts; nothing is counted twice once the pipeline is idle; SIGTERM exits 0.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agg_lib.sh"
lib_init test_aggregate_exact
need_bin rsvp-parser rsvp-aggregator rsvp-writer
command -v kcat >/dev/null || fail "kcat not installed"

RAW=agg_exact.$SUFFIX.raw
PARSED=agg_exact.$SUFFIX.parsed
DLQ=agg_exact.$SUFFIX.dlq
for t in "$RAW" "$PARSED" "$DLQ"; do kafka_topic "$t" 4 || fail "cannot create topic $t"; done
DB=$(pg_createdb agg_exact) || fail "cannot create database"
WPORT=$(agg_free_port) && WMPORT=$(agg_free_port) && PMPORT=$(agg_free_port) && AMPORT=$(agg_free_port) ||
	fail "no free port"
EXPECTED=$(($(wc -l <"$AGG_RECORDED")))
((EXPECTED == 2865)) || fail "recorded file has $EXPECTED lines, expected 2865"

# in two parts: the first is counted and applied before the second arrives (below)
FIRST=2000
head -n "$FIRST" "$AGG_RECORDED" >"$TEST_DIR/first"
tail -n +"$((FIRST + 1))" "$AGG_RECORDED" >"$TEST_DIR/second"
kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -l "$TEST_DIR/first" || fail "kcat produce failed"

start_bg writer env PG_URL="$DB" LISTEN="tcp://127.0.0.1:$WPORT" METRICS_ADDR="127.0.0.1:$WMPORT" \
	INSTANCE_ID="writer-$SUFFIX" "$BIN/rsvp-writer"
start_bg parser env RAW_TOPIC="$RAW" PARSED_TOPIC="$PARSED" DLQ_TOPIC="$DLQ" GROUP_ID="parser-$SUFFIX" \
	METRICS_ADDR="127.0.0.1:$PMPORT" INSTANCE_ID="parser-$SUFFIX" KAFKA_AUTO_OFFSET_RESET=earliest \
	"$BIN/rsvp-parser"
start_bg aggregator env PARSED_TOPIC="$PARSED" GROUP_ID="agg-$SUFFIX" WRITER_URL="tcp://127.0.0.1:$WPORT" \
	TRIGGER_INTERVAL=500ms METRICS_ADDR="127.0.0.1:$AMPORT" INSTANCE_ID="agg-$SUFFIX" START_OFFSET=earliest \
	"$BIN/rsvp-aggregator"
AGG_PID=$BG_PID

wait_for "curl -fsS http://127.0.0.1:$AMPORT/readyz" 60 || fail "aggregator never ready"
# idle: everything consumed and acknowledged (a late double count would show up after this point). The
# metrics are exported at each trigger as well as every 500 ms: idle after the counts of the second part
# reached PostgreSQL must mean an export after that part's trigger, with every message consumed (exported
# every 500 ms only, the idle of the first part could be read then, with the first part's consumed count)
idle() {
	wait_for "[[ \$(agg_metric $AMPORT rsvp_aggregator_consumer_lag) == 0 &&
		\$(agg_metric $AMPORT rsvp_aggregator_pending_batches) == 0 &&
		\$(agg_metric $AMPORT rsvp_aggregator_keys) == 0 ]]" 30
}
wait_for "[[ \$(agg_total '$DB') -ge $FIRST ]]" 90 || fail "sum(response_count) stuck at $(agg_total "$DB") of $FIRST"
idle || fail "aggregator not idle after the first part"
kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -l "$TEST_DIR/second" || fail "kcat produce failed"
wait_for "[[ \$(agg_total '$DB') -ge $EXPECTED ]]" 90 || fail "sum(response_count) stuck at $(agg_total "$DB")"
idle || fail "aggregator not idle"
total=$(agg_total "$DB")
((total == EXPECTED)) || fail "sum(response_count) = $total, expected $EXPECTED"
consumed=$(agg_metric "$AMPORT" rsvp_aggregator_consumed_total)
((consumed == EXPECTED)) || fail "aggregator consumed $consumed messages, expected $EXPECTED"
((
	$(agg_metric "$AMPORT" rsvp_aggregator_decode_errors_total) == 0
)) || fail "decode errors"
agg_compare "$DB" 1 || fail "rsvp_counts differs from the reference"

rc=0
stop_bg aggregator 15 || rc=$?
((rc == 0)) || fail "aggregator exited $rc on SIGTERM"
pass
