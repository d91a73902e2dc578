#!/usr/bin/env bash
# test_limits_metrics.sh: every input limit holds and is counted in a metric (ports 31870-31877).
#  line length      ingestor MAX_LINE_BYTES       -> rsvp_ingestor_oversize_lines_total (lines skipped, the
#                                                    rest of the stream intact)
#  message size     parser MAX_MESSAGE_BYTES      -> rsvp_parser_dead_lettered_total{reason="too_large"}
#                   parser MAX_STRING_BYTES       -> rsvp_parser_dead_lettered_total{reason="string_too_long"}
#  nng receive size writer MAX_REQUEST_BYTES      -> rsvp_writer_bad_requests_total{reason="oversize"} (ERROR
#                                                    reply); over 2x (4096 + min(4096, 1M)) nng drops the
#                                                    connection (no metric)
#  keys per batch   writer MAX_BATCH_ROWS         -> rsvp_writer_bad_requests_total{reason="too_many_rows"}
#                   aggregator MAX_BATCH_KEYS     -> batches of at most that many rows (rsvp_batches.rows),
#                                                    rsvp_aggregator_batches_sent_total{trigger="max_keys"}
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_limits_metrics
need_bin rsvp-replay rsvp-ingestor rsvp-parser rsvp-aggregator rsvp-writer rsvp-writer-client
RPORT=31870 RMET=31871 IMET=31872 PMET=31873 P2MET=31874 WPORT=31875 WMET=31876 AMET=31877
N=200
START=1700000000000
RAW=lim.$SUFFIX.raw PARSED=lim.$SUFFIX.parsed DLQ=lim.$SUFFIX.dlq
RAW2=lim.$SUFFIX.raw2 PARSED2=lim.$SUFFIX.parsed2 DLQ2=lim.$SUFFIX.dlq2
for t in "$RAW" "$PARSED" "$DLQ" "$RAW2" "$PARSED2" "$DLQ2"; do kafka_topic "$t" 2; done
export KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BROKERS
ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz") == 200 ]]; }
# metric PORT NAME{LABELS}: the value of one sample (0 if absent)
metric() {
	curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { v = $2 } END { print v + 0 }'
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2"; }

# --- line length: 64 KiB limit, the replay adds a 100 KB line after every 50th message ---
start_bg replay "$BIN/rsvp-replay" --synthetic=true --seed=5 --count=$N --start-mtime=$START \
	--fault-huge-every=50 --fault-huge-bytes=100k --listen=127.0.0.1:$RPORT --metrics-addr=127.0.0.1:$RMET
wait_for "ready $RMET" 20 || fail "replay not ready"
start_bg ingestor env SOURCE_URL=http://127.0.0.1:$RPORT/2/rsvps RAW_TOPIC=$RAW MAX_LINE_BYTES=64k \
	INITIAL_SINCE_MTIME=$START METRICS_ADDR=127.0.0.1:$IMET INSTANCE_ID=lim-$SUFFIX-ingestor "$BIN/rsvp-ingestor"
wait_for "[[ \$(kafka_count $RAW) -ge $N ]]" 60 || fail "ingestor: $(kafka_count "$RAW") of $N lines in $RAW"
huge=$(metric $RMET 'rsvp_replay_faults_injected_total{kind="huge"}')
wait_for "[[ \$(metric $IMET rsvp_ingestor_oversize_lines_total) == $huge ]]" 10 ||
	fail "rsvp_ingestor_oversize_lines_total $(metric $IMET rsvp_ingestor_oversize_lines_total), replay sent $huge huge lines"
((huge >= 3)) || fail "replay injected only $huge huge lines"
[[ $(kafka_count "$RAW") == "$N" ]] || fail "raw topic holds $(kafka_count "$RAW") messages, want exactly $N"
echo "ok: line length: $huge lines over MAX_LINE_BYTES skipped and counted, $N RSVPs intact"
stop_bg ingestor 30 || fail "ingestor did not exit 0"

# --- message size and string length: parser with 1 KiB messages and 64-byte strings ---
{
	echo '{"rsvp_id":1,"mtime":1,"response":"yes","event":{"event_id":"e1","event_name":"small"}}'
	printf '{"rsvp_id":2,"mtime":2,"response":"yes","event":{"event_id":"e2"},"pad":"%s"}\n' "$(head -c 2000 /dev/zero | tr '\0' x)"
	printf '{"rsvp_id":3,"mtime":3,"response":"no","event":{"event_id":"e3","event_name":"%s"}}\n' "$(head -c 100 /dev/zero | tr '\0' y)"
	echo '{"rsvp_id":4,"mtime":4,"response":"no","event":{"event_id":"e4","event_name":"also small"}}'
} | kcat -P -b "$KAFKA_BROKERS" -t "$RAW2" -k k || fail "kcat produce"
start_bg parser2 env VALIDATION=strict RAW_TOPIC=$RAW2 PARSED_TOPIC=$PARSED2 DLQ_TOPIC=$DLQ2 GROUP_ID=lim-$SUFFIX-p2 \
	MAX_MESSAGE_BYTES=1k MAX_STRING_BYTES=64 METRICS_ADDR=127.0.0.1:$P2MET INSTANCE_ID=lim-$SUFFIX-parser2 \
	"$BIN/rsvp-parser"
wait_for "[[ \$(kafka_count $DLQ2) == 2 && \$(kafka_count $PARSED2) == 2 ]]" 60 ||
	fail "parser limits: parsed $(kafka_count "$PARSED2") (want 2), dead-lettered $(kafka_count "$DLQ2") (want 2)"
[[ $(metric $P2MET 'rsvp_parser_dead_lettered_total{reason="too_large"}') == 1 ]] ||
	fail "too_large not counted: $(curl -s http://127.0.0.1:$P2MET/metrics | grep dead_lettered)"
[[ $(metric $P2MET 'rsvp_parser_dead_lettered_total{reason="string_too_long"}') == 1 ]] ||
	fail "string_too_long not counted: $(curl -s http://127.0.0.1:$P2MET/metrics | grep dead_lettered)"
echo "ok: message size and string length: dead-lettered and counted by reason"
stop_bg parser2 30 || fail "parser did not exit 0"

# --- nng receive size and rows per batch at the writer ---
DB=$(pg_createdb lim) || fail "cannot create database"
start_bg writer env PG_URL="$DB" LISTEN=tcp://127.0.0.1:$WPORT METRICS_ADDR=127.0.0.1:$WMET MAX_REQUEST_BYTES=4096 \
	MAX_BATCH_ROWS=5 INSTANCE_ID=lim-$SUFFIX-writer "$BIN/rsvp-writer"
wait_for "ready $WMET" 30 || fail "writer not ready"
wc_() { "$BIN/rsvp-writer-client" --url "tcp://127.0.0.1:$WPORT" --timeout "${TO:-10000}" "$@"; }
r=$(wc_ garbage --bytes 6000 || true)
[[ $(field "$r" status) == ERROR ]] || fail "a 6000-byte request over MAX_REQUEST_BYTES=4096 should get ERROR: $r"
[[ $(metric $WMET 'rsvp_writer_bad_requests_total{reason="oversize"}') == 1 ]] || fail "oversize not counted"
r=$(TO=2000 wc_ garbage --bytes 20000 || true)
[[ $(field "$r" status) != OK ]] || fail "a request over 2x MAX_REQUEST_BYTES was answered OK: $r"
r=$(wc_ query --topic t --partitions 0)
[[ $(field "$r" status) == OK ]] || fail "writer does not answer after an oversize request: $r"
for i in 1 2 3 4 5 6; do
	printf '{"event_name":"k%d","response":"yes","delta":1}\n' "$i"
done >"$TEST_DIR/rows6.jsonl"
r=$(wc_ batch --topic t --partition 0 --from -1 --to 6 --rows-file "$TEST_DIR/rows6.jsonl")
[[ $(field "$r" status) == ERROR ]] || fail "6 rows over MAX_BATCH_ROWS=5 should get ERROR: $r"
[[ $(metric $WMET 'rsvp_writer_bad_requests_total{reason="too_many_rows"}') == 1 ]] || fail "too many rows not counted"
echo "ok: nng receive size (ERROR + oversize metric; connection drop over 2x) and rows per batch (too_many_rows)"

# --- keys per batch at the aggregator: MAX_BATCH_KEYS=5 -> no batch above 5 rows (writer allows 5) ---
start_bg parser env RAW_TOPIC=$RAW PARSED_TOPIC=$PARSED DLQ_TOPIC=$DLQ GROUP_ID=lim-$SUFFIX-p \
	METRICS_ADDR=127.0.0.1:$PMET INSTANCE_ID=lim-$SUFFIX-parser "$BIN/rsvp-parser"
start_bg aggregator env PARSED_TOPIC=$PARSED GROUP_ID=lim-$SUFFIX-agg WRITER_URL=tcp://127.0.0.1:$WPORT \
	MAX_BATCH_KEYS=5 TRIGGER_INTERVAL=1s METRICS_ADDR=127.0.0.1:$AMET INSTANCE_ID=lim-$SUFFIX-agg "$BIN/rsvp-aggregator"
counted() { psql_q "$DB" "SELECT coalesce(sum(response_count), 0) FROM rsvp_counts WHERE event_name NOT LIKE 'k_'" 2>/dev/null || echo 0; }
wait_for "[[ \$(counted) == $N ]]" 90 || fail "aggregator with MAX_BATCH_KEYS=5: $(counted) of $N counted"
maxrows=$(psql_q "$DB" "SELECT max(rows) FROM rsvp_batches")
nb=$(psql_q "$DB" "SELECT count(*) FROM rsvp_batches")
((maxrows <= 5)) || fail "a batch of $maxrows rows with MAX_BATCH_KEYS=5"
[[ $(metric $WMET 'rsvp_writer_bad_requests_total{reason="too_many_rows"}') == 1 &&
	$(metric $WMET 'rsvp_writer_batches_total{result="error"}') == 1 ]] ||
	fail "the aggregator sent a batch the writer refused"
early=$(metric $AMET 'rsvp_aggregator_batches_sent_total{trigger="max_keys"}')
((early >= 1)) || fail "no batch counted as cut for max_keys: $(curl -s http://127.0.0.1:$AMET/metrics | grep batches_sent)"
((nb >= early)) || fail "$early batches cut for max_keys but only $nb in rsvp_batches"
echo "ok: keys per batch: $nb batches, at most $maxrows rows each; $early cut early (trigger=\"max_keys\")"
pass
