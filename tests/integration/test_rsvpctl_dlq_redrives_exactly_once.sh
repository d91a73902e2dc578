#!/usr/bin/env bash
# rsvpctl dlq: the recorded RSVPs (plus a line that is not JSON and one without mtime) go through a strict
# parser (VALIDATION=strict) that allows only 80-byte strings, so hundreds are dead-lettered string_too_long,
# while an aggregator and a writer count what is parsed. `rsvpctl dlq list` shows the dead letters by reason; `rsvpctl dlq redrive
# --reason string_too_long` (the parser's code with its default limits: the "fixed parser") is kill -9'd
# midway, rerun to the end, then run again (nothing left). Passes when every recorded RSVP is counted
# exactly once (rsvp_counts == the reference job's counts, the parsed topic holds each exactly once), the
# third run re-drives nothing, and the line that is not JSON, re-driven, fails again and stays a dead letter
# with its reason.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agg_lib.sh"
lib_init test_rsvpctl_dlq_redrives_exactly_once
need_bin rsvp-parser rsvp-aggregator rsvp-writer rsvpctl

RAW=dlq.$SUFFIX.raw PARSED=dlq.$SUFFIX.parsed DLQ=dlq.$SUFFIX.dlq LEDGER=dlq.$SUFFIX.dlq.redriven
for t in "$RAW" "$PARSED" "$DLQ"; do kafka_topic "$t" 4 || fail "cannot create topic $t"; done
DB=$(pg_createdb dlq) || fail "cannot create database"
WPORT=$(port_reserve) && WMPORT=$(port_reserve) && PMPORT=$(port_reserve) && AMPORT=$(port_reserve) || fail "no free port"

RECORDED_N=$(wc -l <"$AGG_RECORDED")
LONG=$(python3 - "$AGG_RECORDED" <<'EOF'
import json, sys
def too_long(x):
    if isinstance(x, str):
        return len(x.encode()) > 80
    if isinstance(x, dict):
        return any(too_long(v) for v in x.values())
    if isinstance(x, list):
        return any(too_long(v) for v in x)
    return False
print(sum(too_long(json.loads(l)) for l in open(sys.argv[1], encoding="utf-8")))
EOF
)
((LONG > 50)) || fail "only $LONG recorded RSVPs have a string over 80 bytes"
{ cat "$AGG_RECORDED"; printf '%s\n' 'not json' '{"rsvp_id":1,"response":"yes","event":{"event_id":"e"}}'; } >"$TEST_DIR/input.ndjson"
kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -l "$TEST_DIR/input.ndjson" || fail "kcat produce failed"

start_bg writer env PG_URL="$DB" LISTEN="tcp://127.0.0.1:$WPORT" METRICS_ADDR="127.0.0.1:$WMPORT" "$BIN/rsvp-writer"
start_bg parser env RAW_TOPIC="$RAW" PARSED_TOPIC="$PARSED" DLQ_TOPIC="$DLQ" GROUP_ID="parser-$SUFFIX" \
	INSTANCE_ID="parser-$SUFFIX" METRICS_ADDR="127.0.0.1:$PMPORT" VALIDATION=strict MAX_STRING_BYTES=80 "$BIN/rsvp-parser"
start_bg aggregator env PARSED_TOPIC="$PARSED" GROUP_ID="agg-$SUFFIX" WRITER_URL="tcp://127.0.0.1:$WPORT" \
	TRIGGER_INTERVAL=300ms METRICS_ADDR="127.0.0.1:$AMPORT" INSTANCE_ID="agg-$SUFFIX" START_OFFSET=earliest \
	"$BIN/rsvp-aggregator"
wait_for "[[ \$(agg_metric $PMPORT rsvp_parser_consumed_total) -ge $((RECORDED_N + 2)) ]]" 90 ||
	fail "parser consumed $(agg_metric "$PMPORT" rsvp_parser_consumed_total) of $((RECORDED_N + 2))"
wait_for "[[ \$(agg_total '$DB') -ge $((RECORDED_N - LONG)) ]]" 60 || fail "counted $(agg_total "$DB") of $((RECORDED_N - LONG))"

CTL=("$BIN/rsvpctl" dlq --dlq-topic "$DLQ" --parsed-topic "$PARSED" --pg-url "$DB")
dlq() { "${CTL[0]}" dlq "$1" "${CTL[@]:2}" "${@:2}"; }
list=$(dlq list --json) || fail "dlq list failed"
[[ $(jq -c '[.dead_letters, .reasons.string_too_long.pending, .reasons.not_json.pending, .reasons.missing_mtime.pending]' <<<"$list") == "[$((LONG + 2)),$LONG,1,1]" ]] ||
	fail "dlq list: $list (expected $LONG string_too_long, 1 not_json, 1 missing_mtime)"
# an offset range: every dead letter lies before offset 10^9, none at or past it
[[ $(dlq list --json --to-offset 1000000000 | jq -c .dead_letters) == $((LONG + 2)) ]] || fail "dlq list --to-offset 10^9 misses dead letters"
[[ $(dlq list --json --from-offset 1000000000 | jq -c .dead_letters) == 0 ]] || fail "dlq list --from-offset 10^9 lists dead letters"

# Re-drive, paced (10/s: the run lasts 35 s or more) so that it is still running when killed after its first
# transactions.
start_bg redrive "${CTL[0]}" dlq redrive "${CTL[@]:2}" --reason string_too_long --rate 10 --txn-messages 20 --json
# (progress seen on the parsed topic: kcat would wait for the ledger topic until the re-drive creates it)
wait_for "[[ \$(kafka_count $PARSED) -ge $((RECORDED_N - LONG + 20)) ]]" 60 || fail "no re-drive progress: $(cat "$TEST_DIR/redrive.log")"
if ! kill -KILL "$(bg_pid redrive)" 2>/dev/null; then
	rc=0 && wait "$(bg_pid redrive)" || rc=$?
	fail "the re-drive ended (exit $rc, $(kafka_count "$LEDGER") of $LONG in the ledger) before it was killed: $(tail -c 2000 "$TEST_DIR/redrive.log")"
fi
done1=$(kafka_count "$LEDGER")
((done1 < LONG)) || fail "the re-drive finished before it was killed ($done1 of $LONG)"

out=$(dlq redrive --reason string_too_long --json) || fail "second re-drive failed: $out"
[[ $(jq -r '.redriven_now' <<<"$out") == $((LONG - done1)) ]] || fail "second re-drive: $out (expected $((LONG - done1)) after $done1)"
out=$(dlq redrive --reason string_too_long --json) || fail "third re-drive failed: $out"
[[ $(jq -r '.redriven_now' <<<"$out") == 0 ]] || fail "third re-drive re-drove again: $out"
out=$(dlq redrive --reason not_json --json) || fail "re-drive of not_json failed: $out"
[[ $(jq -c '[.redriven_now, .failed_again_now]' <<<"$out") == "[0,1]" ]] || fail "not_json re-drive: $out"
list=$(dlq list --json)
[[ $(jq -c '[.reasons.string_too_long.redriven, .reasons.string_too_long.pending, .reasons.not_json.failed_again, .reasons.not_json.pending, .reasons.missing_mtime.pending]' <<<"$list") == "[$LONG,0,1,0,1]" ]] ||
	fail "dlq list after the re-drives: $list"

# Every recorded RSVP counted exactly once.
wait_for "[[ \$(agg_total '$DB') -ge $RECORDED_N ]]" 60 || fail "counted $(agg_total "$DB") of $RECORDED_N"
wait_for "[[ \$(agg_metric $AMPORT rsvp_aggregator_consumer_lag) == 0 && \$(agg_metric $AMPORT rsvp_aggregator_pending_batches) == 0 &&
	\$(agg_metric $AMPORT rsvp_aggregator_keys) == 0 ]]" 30 || fail "aggregator not idle"
[[ $(agg_total "$DB") == "$RECORDED_N" ]] || fail "sum(response_count) = $(agg_total "$DB"), expected $RECORDED_N"
[[ $(kafka_count "$PARSED") == "$RECORDED_N" ]] || fail "$(kafka_count "$PARSED") records in $PARSED, expected $RECORDED_N"
agg_compare "$DB" 1 || fail "rsvp_counts differs from the reference"
pass
