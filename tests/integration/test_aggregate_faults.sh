#!/usr/bin/env bash
# test_aggregate_faults: totals stay exact (reference x 5) through faults while the recorded RSVPs are
# fed five times: kill -9 of the aggregator mid-run (restarted with the same static member id), kill -9
# of the writer (the aggregator pauses, retries and resumes), a frozen writer (SIGSTOP: the aggregator
# times out and resends, so the thawed writer gets the same batch twice: a lost reply), and a second
# aggregator joining (rebalance: partitions move) and leaving on SIGTERM (they move back). No delta may
# be lost or applied twice.
# AGG_EXTRA_ENV="K=V ..." adds settings to every aggregator, e.g.
# AGG_EXTRA_ENV=KAFKA_PARTITION_ASSIGNMENT_STRATEGY=cooperative-sticky for incremental rebalancing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agg_lib.sh"
lib_init test_aggregate_faults
need_bin rsvp-parser rsvp-aggregator rsvp-writer
command -v kcat >/dev/null || fail "kcat not installed"

LOOPS=5
RAW=agg_faults.$SUFFIX.raw
PARSED=agg_faults.$SUFFIX.parsed
DLQ=agg_faults.$SUFFIX.dlq
for t in "$RAW" "$PARSED" "$DLQ"; do kafka_topic "$t" 4 || fail "cannot create topic $t"; done
DB=$(pg_createdb agg_faults) || fail "cannot create database"
WPORT=$(agg_free_port) && WMPORT=$(agg_free_port) && PMPORT=$(agg_free_port) && AMPORT=$(agg_free_port) &&
	BMPORT=$(agg_free_port) || fail "no free port"
ONE=$(($(wc -l <"$AGG_RECORDED")))

feed() { kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -l "$AGG_RECORDED" || fail "kcat produce failed"; }
start_writer() {
	start_bg "$1" env PG_URL="$DB" LISTEN="tcp://127.0.0.1:$WPORT" METRICS_ADDR="127.0.0.1:$WMPORT" \
		INSTANCE_ID="writer-$SUFFIX" BACKOFF_MAX=1s "$BIN/rsvp-writer"
}
# agg NAME METRICS_PORT [ENV=V...]: an aggregator of the test's group with fast timeouts
start_agg() {
	local name=$1 port=$2
	shift 2
	start_bg "$name" env PARSED_TOPIC="$PARSED" GROUP_ID="agg-$SUFFIX" WRITER_URL="tcp://127.0.0.1:$WPORT" \
		TRIGGER_INTERVAL=300ms MAX_BATCH_KEYS=150 REQUEST_TIMEOUT=2s BACKOFF_BASE=100ms BACKOFF_MAX=1s SESSION_TIMEOUT=6s \
		METRICS_ADDR="127.0.0.1:$port" START_OFFSET=earliest ${AGG_EXTRA_ENV:-} "$@" "$BIN/rsvp-aggregator"
}
total() { agg_total "$DB"; }
kill9() { # kill -9 a background process and reap it quietly
	local pid
	pid=$(bg_pid "$1")
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
}

start_writer writer
start_bg parser env RAW_TOPIC="$RAW" PARSED_TOPIC="$PARSED" DLQ_TOPIC="$DLQ" GROUP_ID="parser-$SUFFIX" \
	METRICS_ADDR="127.0.0.1:$PMPORT" INSTANCE_ID="parser-$SUFFIX" KAFKA_AUTO_OFFSET_RESET=earliest \
	"$BIN/rsvp-parser"
start_agg agg_a "$AMPORT" STATIC_MEMBERSHIP=true INSTANCE_ID="agg-a-$SUFFIX"
wait_for "curl -fsS http://127.0.0.1:$AMPORT/readyz" 60 || fail "aggregator A never ready"

# 1. kill -9 of the aggregator while it counts the first two feeds; a restart with the same static
#    member id takes its partitions back at once and resumes from the writer's offsets.
feed
feed
wait_for "[[ \$(total) -ge 300 ]]" 60 || fail "nothing written"
kill9 agg_a
t=$(total)
echo "aggregator A killed at total $t of $((2 * ONE)) ($(grep -c '"partition assigned"' "$TEST_DIR/agg_a.log") partitions)"
start_agg agg_a2 "$AMPORT" STATIC_MEMBERSHIP=true INSTANCE_ID="agg-a-$SUFFIX"
wait_for "[[ \$(total) -ge $((2 * ONE)) ]]" 60 || fail "after the aggregator kill: total $(total)"

# 2. kill -9 of the writer; the aggregator must pause and retry (not lose or double a batch).
kill9 writer
echo "writer killed at total $(total)"
feed
wait_for "[[ \$(agg_metric $AMPORT rsvp_aggregator_writer_retries_total) -gt 0 ]]" 60 ||
	fail "aggregator never retried while the writer was down"
start_writer writer2
wait_for "[[ \$(total) -ge $((3 * ONE)) ]]" 60 || fail "after the writer kill: total $(total)"

# 3. the writer freezes while batches are in flight; the aggregator times out and resends the same
#    batch; thawed, the writer sees it twice and must apply it once (STALE with stored == to_offset).
TIMEOUTS='rsvp_aggregator_batches_total{result="timeout"}'
before=$(agg_metric "$AMPORT" "$TIMEOUTS")
kill -STOP "$(bg_pid writer2)"
feed
wait_for "[[ \$(agg_metric $AMPORT '$TIMEOUTS') -gt $before ]]" 60 || fail "no request timed out"
kill -CONT "$(bg_pid writer2)"
wait_for "[[ \$(total) -ge $((4 * ONE)) ]]" 60 || fail "after the writer froze: total $(total)"

# 4. a second aggregator joins (partitions move to it), counts part of the fourth feed, and leaves.
start_agg agg_b "$BMPORT" INSTANCE_ID="agg-b-$SUFFIX"
wait_for "grep -q 'partition assigned' '$TEST_DIR/agg_b.log'" 60 || fail "aggregator B got no partition"
wait_for "curl -fsS http://127.0.0.1:$BMPORT/readyz" 30 || fail "aggregator B never ready"
feed
wait_for "[[ \$(agg_metric $BMPORT rsvp_aggregator_consumed_total) -gt 0 ]]" 60 || fail "B consumed nothing"
rc=0
stop_bg agg_b 20 || rc=$?
((rc == 0)) || fail "aggregator B exited $rc on SIGTERM"

# 5. everything counted exactly once
EXPECTED=$((LOOPS * ONE))
wait_for "[[ \$(total) -ge $EXPECTED ]]" 90 || fail "total stuck at $(total), expected $EXPECTED"
wait_for "[[ \$(agg_metric $AMPORT rsvp_aggregator_consumer_lag) == 0 &&
	\$(agg_metric $AMPORT rsvp_aggregator_pending_batches) == 0 &&
	\$(agg_metric $AMPORT rsvp_aggregator_keys) == 0 ]]" 60 || fail "aggregator A not idle"
t=$(total)
((t == EXPECTED)) || fail "sum(response_count) = $t, expected $EXPECTED"
agg_compare "$DB" "$LOOPS" || fail "rsvp_counts differs from reference x $LOOPS"
echo "batches: $(curl -fsS "http://127.0.0.1:$AMPORT/metrics" | grep '^rsvp_aggregator_batches_total' |
	awk '$2 > 0 { printf "%s ", $0 }')"
pass
