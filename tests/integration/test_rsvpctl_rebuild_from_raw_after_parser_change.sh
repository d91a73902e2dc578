#!/usr/bin/env bash
# rsvpctl rebuild --from raw after a parser change: a strict parser allowing only 80-byte strings dead-letters
# hundreds of the recorded RSVPs while an aggregator and a writer count the rest. The parser is stopped
# (the cut needs it), `rsvpctl rebuild --from raw --parsers-stopped` parses the raw topic again with the
# parser's code at its default limits (the fixed parser) and is kill -9'd midway; the rerun takes its cut,
# then a parser with the default limits takes over and the recorded RSVPs go in once more, counted live
# before the rebuild swaps (it must catch up with them: the aggregator is idle by then). Passes when
# rsvp_counts equals the reference x 2 key by key (the old dead letters are counted once, by the rebuild,
# and nothing twice), and `rsvpctl dlq redrive` then finds every old dead letter superseded by the rebuild
# (re-drives none, the counts stay exact).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agg_lib.sh"
lib_init test_rsvpctl_rebuild_from_raw_after_parser_change
need_bin rsvp-parser rsvp-aggregator rsvp-writer rsvpctl

RAW=rbraw.$SUFFIX.raw PARSED=rbraw.$SUFFIX.parsed DLQ=rbraw.$SUFFIX.dlq GROUP=parser-$SUFFIX
for t in "$RAW" "$PARSED" "$DLQ"; do kafka_topic "$t" 4 || fail "cannot create topic $t"; done
DB=$(pg_createdb rebuild_raw) || fail "cannot create database"
WPORT=$(port_reserve) && WMPORT=$(port_reserve) && PMPORT=$(port_reserve) && AMPORT=$(port_reserve) || fail "no free port"
N=$(wc -l <"$AGG_RECORDED")

start_bg writer env PG_URL="$DB" LISTEN="tcp://127.0.0.1:$WPORT" METRICS_ADDR="127.0.0.1:$WMPORT" "$BIN/rsvp-writer"
parser() { # parser NAME [ENV=V...]
	local name=$1
	shift
	start_bg "$name" env RAW_TOPIC="$RAW" PARSED_TOPIC="$PARSED" DLQ_TOPIC="$DLQ" GROUP_ID="$GROUP" \
		INSTANCE_ID="parser-$SUFFIX" METRICS_ADDR="127.0.0.1:$PMPORT" "$@" "$BIN/rsvp-parser"
}
parser parser_old VALIDATION=strict MAX_STRING_BYTES=80
start_bg aggregator env PARSED_TOPIC="$PARSED" GROUP_ID="agg-$SUFFIX" WRITER_URL="tcp://127.0.0.1:$WPORT" \
	TRIGGER_INTERVAL=300ms METRICS_ADDR="127.0.0.1:$AMPORT" INSTANCE_ID="agg-$SUFFIX" START_OFFSET=earliest \
	"$BIN/rsvp-aggregator"
kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -l "$AGG_RECORDED" || fail "kcat produce failed"
wait_for "[[ \$(agg_metric $PMPORT rsvp_parser_consumed_total) -ge $N ]]" 90 || fail "the old parser did not finish"
LONG=$(agg_metric "$PMPORT" 'rsvp_parser_dead_lettered_total{reason="string_too_long"}')
((LONG > 50)) || fail "only $LONG dead letters string_too_long"
wait_for "[[ \$(agg_total '$DB') -ge $((N - LONG)) ]]" 60 || fail "counted $(agg_total "$DB") of $((N - LONG))"
stop_bg parser_old || fail "the old parser did not exit 0"

REBUILD=("$BIN/rsvpctl" rebuild --from raw --parsers-stopped --raw-topic "$RAW" --parsed-topic "$PARSED"
	--parser-group "$GROUP" --pg-url "$DB" --max-batch-keys 200)
start_bg rebuild1 "${REBUILD[@]}" --rate 500
rebuilt() { psql_q "$DB" "SELECT coalesce(sum(next_offset), 0) FROM rsvp_offsets_rebuild" 2>/dev/null || echo 0; }
wait_for "[[ \$(rebuilt) -ge 400 ]]" 60 || fail "no rebuild progress: $(tail -n 3 "$TEST_DIR/rebuild1.log")"
kill -KILL "$(bg_pid rebuild1)"
[[ $(agg_total "$DB") == $((N - LONG)) ]] || fail "the killed rebuild changed the live counts"
# The rerun takes a new cut; once it is taken, the fixed parser starts and the recorded RSVPs go in once
# more, all counted live before the swap: the rebuild must catch up with them (an aggregator idle after
# that would never learn that the stored offsets moved back).
start_bg rebuild2 "${REBUILD[@]}" --rate 300
wait_for "grep -q 'cut taken' '$TEST_DIR/rebuild2.log'" 60 || fail "no cut: $(tail -n 3 "$TEST_DIR/rebuild2.log")"
parser parser_new
kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -l "$AGG_RECORDED" || fail "kcat produce failed"
idle="[[ \$(agg_metric $AMPORT rsvp_aggregator_consumer_lag) == 0 && \$(agg_metric $AMPORT rsvp_aggregator_pending_batches) == 0 &&
	\$(agg_metric $AMPORT rsvp_aggregator_keys) == 0 ]]"
wait_for "[[ \$(agg_total '$DB') -ge $((2 * N - LONG)) ]] && $idle" 90 || fail "live count $(agg_total "$DB") of $((2 * N - LONG))"
kill -0 "$(bg_pid rebuild2)" 2>/dev/null || fail "the rebuild swapped before the live count was done: make it slower"
rc=0
wait "$(bg_pid rebuild2)" || rc=$?
((rc == 0)) || fail "rerun of the rebuild exited $rc: $(tail -n 3 "$TEST_DIR/rebuild2.log")"
grep -q '"swapped":true' "$TEST_DIR/rebuild2.log" || fail "no swap: $(tail -n 3 "$TEST_DIR/rebuild2.log")"
wait_for "$idle" 30 || fail "aggregator not idle"
agg_compare "$DB" 2 || fail "rsvp_counts differs from the reference x 2"

# The old dead letters were recounted by the rebuild: a re-drive leaves them alone.
out=$("$BIN/rsvpctl" dlq redrive --dlq-topic "$DLQ" --parsed-topic "$PARSED" --pg-url "$DB" --reason string_too_long --json) ||
	fail "dlq redrive failed: $out"
[[ $(jq -c '[.redriven_now, .reasons.string_too_long.superseded]' <<<"$out") == "[0,$LONG]" ]] || fail "dlq redrive: $out"
wait_for "$idle" 30 || fail "aggregator not idle"
[[ $(agg_total "$DB") == $((2 * N)) ]] || fail "counted $(agg_total "$DB") after the re-drive, expected $((2 * N))"
pass
