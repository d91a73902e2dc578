#!/usr/bin/env bash
# test_writer_hostile_clients_change_nothing: a writer on mutual TLS, a real pipeline beside it
# (recorded RSVPs -> rsvp-parser -> rsvp-aggregator -> tls+tcp:// -> rsvp-writer -> PostgreSQL), and
# tools/writer-client/hostile.sh attacking the pipeline's own partition while half the RSVPs are
# still on their way: with the aggregator's valid certificate (negative and huge deltas, a range to
# 2^62, rows exceeding messages, 64 MB and in-limit floods of minimal rows, a decode bomb, 16
# parallel floods, 1000 connections at once), without a certificate, with another CA's and over
# plain TCP. Every attack is refused with its reason, no key of the attacks reaches the database,
# the writer's memory stays under the chart's 256Mi and its connections under MAX_CONNECTIONS, and
# the pipeline's counts equal the reference exactly at the end. Then an idle topic is attacked and
# the database must not change at all.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agg_lib.sh"
source "$(dirname "$0")/pki.sh"
lib_init test_writer_hostile_clients_change_nothing
need_bin rsvp-parser rsvp-aggregator rsvp-writer rsvp-writer-client
for c in kcat openssl jq python3; do command -v $c >/dev/null || fail "$c not installed"; done

RAW=hostile.$SUFFIX.raw
PARSED=hostile.$SUFFIX.parsed
DLQ=hostile.$SUFFIX.dlq
for t in "$RAW" "$PARSED" "$DLQ"; do kafka_topic "$t" 2 || fail "cannot create topic $t"; done
DB=$(pg_createdb hostile) || fail "cannot create database"
WPORT=$(agg_free_port) && WMPORT=$(agg_free_port) && PMPORT=$(agg_free_port) && AMPORT=$(agg_free_port) ||
	fail "no free port"
K=$TEST_DIR/pki
pki_make "$K" || fail "openssl failed"
EXPECTED=$(wc -l <"$AGG_RECORDED")
head -n 1400 "$AGG_RECORDED" >"$TEST_DIR/first.ndjson"
tail -n +1401 "$AGG_RECORDED" >"$TEST_DIR/second.ndjson"

start_bg writer env PG_URL="$DB" LISTEN="tls+tcp://127.0.0.1:$WPORT" METRICS_ADDR="127.0.0.1:$WMPORT" \
	TLS_CERT="$K/writer.crt" TLS_KEY="$K/writer.key" TLS_CA="$K/ca.crt" INSTANCE_ID="writer-$SUFFIX" \
	"$BIN/rsvp-writer"
WRITER_PID=$BG_PID
start_bg parser env RAW_TOPIC="$RAW" PARSED_TOPIC="$PARSED" DLQ_TOPIC="$DLQ" GROUP_ID="parser-$SUFFIX" \
	METRICS_ADDR="127.0.0.1:$PMPORT" INSTANCE_ID="parser-$SUFFIX" KAFKA_AUTO_OFFSET_RESET=earliest \
	"$BIN/rsvp-parser"
start_bg aggregator env PARSED_TOPIC="$PARSED" GROUP_ID="agg-$SUFFIX" WRITER_URL="tls+tcp://127.0.0.1:$WPORT" \
	TLS_CA="$K/ca.crt" TLS_CERT="$K/agg.crt" TLS_KEY="$K/agg.key" TLS_SERVER_NAME=localhost \
	TRIGGER_INTERVAL=500ms METRICS_ADDR="127.0.0.1:$AMPORT" INSTANCE_ID="agg-$SUFFIX" START_OFFSET=earliest \
	"$BIN/rsvp-aggregator"
kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -l "$TEST_DIR/first.ndjson" || fail "kcat produce failed"
wait_for "curl -fsS http://127.0.0.1:$AMPORT/readyz" 60 || fail "aggregator never ready"
wait_for "[[ \$(agg_total '$DB') -gt 0 ]]" 90 || fail "the pipeline counts nothing over mutual TLS"

# The attacks, with the second half of the RSVPs arriving meanwhile.
HOSTILE=(tools/writer-client/hostile.sh --url "tls+tcp://127.0.0.1:$WPORT" --ca "$K/ca.crt" --cert "$K/agg.crt"
	--key "$K/agg.key" --server-name localhost --metrics "http://127.0.0.1:$WMPORT/metrics"
	--memory-limit $((256 << 20)) --max-connections 10 --timeout 8s)
"${HOSTILE[@]}" --topic "$PARSED" --partition 0 --connections 1000 --pg-url "$DB" >"$TEST_DIR/hostile.out" 2>&1 &
hostile=$!
kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -l "$TEST_DIR/second.ndjson" || fail "kcat produce failed"
rc=0
wait $hostile || rc=$?
grep -E '^(ok|FAIL|PASS):' "$TEST_DIR/hostile.out" | sed 's/^/  /'
((rc == 0)) || fail "hostile.sh: $(grep -m 3 -E '^FAIL|"verdict":"ACCEPTED"|"error"' "$TEST_DIR/hostile.out")"
kill -0 "$WRITER_PID" || fail "the writer died"

# The pipeline beside the attacks still counts exactly.
wait_for "[[ \$(agg_total '$DB') -ge $EXPECTED ]]" 120 || fail "sum(response_count) stuck at $(agg_total "$DB")"
wait_for "[[ \$(agg_metric $AMPORT rsvp_aggregator_consumer_lag) == 0 &&
	\$(agg_metric $AMPORT rsvp_aggregator_pending_batches) == 0 &&
	\$(agg_metric $AMPORT rsvp_aggregator_keys) == 0 ]]" 60 || fail "aggregator not idle"
agg_compare "$DB" 1 || fail "rsvp_counts differs from the reference after the attacks"
m() { agg_metric "$WMPORT" "rsvp_writer_bad_requests_total{reason=\"$1\"}"; }
for reason in bad_delta bad_offset bad_range bad_messages too_many_rows decode_limit too_many_partitions unpack; do
	(($(m $reason) >= 1)) || fail "no refusal counted as $reason"
done
(($(agg_metric "$WMPORT" 'rsvp_writer_connections_refused_total{reason="limit"}') >= 1)) ||
	fail "1000 connections and none refused over MAX_CONNECTIONS"
(($(agg_metric "$WMPORT" 'rsvp_writer_transport_errors_total{kind="auth"}') >= 2)) ||
	fail "the clients without a certificate or with another CA's are not counted"
grep -q '"msg":"bad request","reason":"bad_delta"' "$TEST_DIR/writer.log" || fail "refusals not logged"

# An idle topic: the whole database must stay as it is (the attacks that reach the checks).
"${HOSTILE[@]}" --topic "idle.$SUFFIX" --partition 3 --connections 100 --pg-url "$DB" --idle --attacks \
	negative_delta,huge_delta,range_to_2^62,range_to_2^62_negative_deltas,empty_range,rows_exceed_messages,messages_exceed_range,messages_missing,duplicate_key,stale_offset,decode_bomb,connections \
	>"$TEST_DIR/hostile-idle.out" 2>&1 || fail "idle topic: $(grep -m 3 -E '^FAIL' "$TEST_DIR/hostile-idle.out")"
grep -E '^(ok|FAIL|PASS):' "$TEST_DIR/hostile-idle.out" | sed 's/^/  /'
rc=0
stop_bg aggregator 15 || rc=$?
((rc == 0)) || fail "aggregator exited $rc on SIGTERM"
rc=0
stop_bg writer 15 || rc=$?
((rc == 0)) || fail "writer exited $rc on SIGTERM"
pass
