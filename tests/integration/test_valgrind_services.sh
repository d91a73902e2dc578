#!/usr/bin/env bash
# test_valgrind_services.sh: every service runs a short real job under valgrind (--leak-check=full, definite
# leaks and memory errors are errors, exit 99), gets SIGTERM and must exit 0: shutdown frees everything.
# Chain (ports 31890-31899, own topics, database and groups): rsvp-replay (500 synthetic RSVPs) ->
# rsvp-ingestor -> rsvp-parser -> rsvp-aggregator -> rsvp-writer; each stage is the one under valgrind while
# it works, the others run natively. Reports go to $TEST_DIR/vg-<service>.log.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_valgrind_services
need_bin rsvp-replay rsvp-ingestor rsvp-parser rsvp-aggregator rsvp-writer rsvp-writer-client
command -v valgrind >/dev/null || fail "valgrind not installed"
N=500
START=1700000000000
RPORT=31890 RMET=31891 IMET=31892 PMET=31893 AMET=31894 WPORT=31895 WMET=31896
RAW=vg.$SUFFIX.raw PARSED=vg.$SUFFIX.parsed DLQ=vg.$SUFFIX.dlq
kafka_topic "$RAW" 2
kafka_topic "$PARSED" 2
kafka_topic "$DLQ" 1
DB=$(pg_createdb vg) || fail "cannot create database"
VG=(valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30
	--show-leak-kinds=definite --track-fds=no)
export KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BROKERS LOG_LEVEL=info
ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz") == 200 ]]; }
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }

# vg_stop NAME: SIGTERM to the valgrind'ed NAME; its exit status must be 0 (99 = valgrind found errors).
vg_stop() {
	local rc=0
	stop_bg "$1" 120 || rc=$?
	grep -E 'definitely lost|ERROR SUMMARY' "$TEST_DIR/$1.log" | sed "s/^/$1: /" || true
	((rc != 99)) || fail "valgrind found errors in $1 (see ${TEST_DIR#$LIB_ROOT/}/$1.log)"
	((rc == 0)) || fail "$1 under valgrind exited $rc after SIGTERM"
	echo "ok: $1 clean under valgrind"
}
replay_args=(--synthetic=true --seed=3 --count=$N --start-mtime=$START)

# --- replay: serves a client, then SIGTERM ---
start_bg replay-vg "${VG[@]}" "$BIN/rsvp-replay" "${replay_args[@]}" --listen=127.0.0.1:$RPORT --metrics-addr=127.0.0.1:$RMET
wait_for "ready $RMET" 60 || fail "replay not ready under valgrind"
got=$(timeout 60 curl -s -N "http://127.0.0.1:$RPORT/2/rsvps" | head -n 50 | wc -l || true)
((got == 50)) || fail "replay under valgrind served $got lines, want 50"
vg_stop replay-vg
start_bg replay "$BIN/rsvp-replay" "${replay_args[@]}" --listen=127.0.0.1:$RPORT --metrics-addr=127.0.0.1:$RMET
wait_for "ready $RMET" 20 || fail "replay not ready"

# --- ingestor: the whole timeline into the raw topic ---
start_bg ingestor-vg env SOURCE_URL=http://127.0.0.1:$RPORT/2/rsvps RAW_TOPIC=$RAW METRICS_ADDR=127.0.0.1:$IMET \
	INITIAL_SINCE_MTIME=$START INSTANCE_ID=vg-$SUFFIX-ingestor "${VG[@]}" "$BIN/rsvp-ingestor"
wait_for "[[ \$(kafka_count $RAW) -ge $N ]]" 120 || fail "ingestor under valgrind: $(kafka_count "$RAW") of $N in $RAW"
vg_stop ingestor-vg

# --- parser: raw -> parsed ---
start_bg parser-vg env RAW_TOPIC=$RAW PARSED_TOPIC=$PARSED DLQ_TOPIC=$DLQ GROUP_ID=vg-$SUFFIX-parser \
	METRICS_ADDR=127.0.0.1:$PMET INSTANCE_ID=vg-$SUFFIX-parser "${VG[@]}" "$BIN/rsvp-parser"
wait_for "[[ \$(kafka_count $PARSED) -ge $N ]]" 180 || fail "parser under valgrind: $(kafka_count "$PARSED") of $N in $PARSED"
vg_stop parser-vg

# --- writer and aggregator: parsed -> PostgreSQL; first the writer under valgrind, then the aggregator ---
start_bg writer-vg env PG_URL="$DB" LISTEN=tcp://127.0.0.1:$WPORT METRICS_ADDR=127.0.0.1:$WMET \
	INSTANCE_ID=vg-$SUFFIX-writer "${VG[@]}" "$BIN/rsvp-writer"
wait_for "ready $WMET" 60 || fail "writer not ready under valgrind"
start_bg aggregator env PARSED_TOPIC=$PARSED GROUP_ID=vg-$SUFFIX-agg WRITER_URL=tcp://127.0.0.1:$WPORT \
	TRIGGER_INTERVAL=500ms METRICS_ADDR=127.0.0.1:$AMET INSTANCE_ID=vg-$SUFFIX-agg "$BIN/rsvp-aggregator"
counted() { psql_q "$DB" "SELECT coalesce(sum(response_count), 0) FROM rsvp_counts" 2>/dev/null || echo 0; }
wait_for "[[ \$(counted) == $N ]]" 180 || fail "writer under valgrind: $(counted) of $N counted"
stop_bg aggregator 30 || fail "aggregator (native) did not exit 0"
vg_stop writer-vg

# the aggregator under valgrind against a native writer: a second group re-counts into a fresh database
DB2=$(pg_createdb vg2) || fail "cannot create database"
start_bg writer env PG_URL="$DB2" LISTEN=tcp://127.0.0.1:$WPORT METRICS_ADDR=127.0.0.1:$WMET \
	INSTANCE_ID=vg-$SUFFIX-writer2 "$BIN/rsvp-writer"
wait_for "ready $WMET" 30 || fail "writer not ready"
start_bg aggregator-vg env PARSED_TOPIC=$PARSED GROUP_ID=vg-$SUFFIX-agg2 WRITER_URL=tcp://127.0.0.1:$WPORT \
	TRIGGER_INTERVAL=500ms METRICS_ADDR=127.0.0.1:$AMET INSTANCE_ID=vg-$SUFFIX-agg2 "${VG[@]}" "$BIN/rsvp-aggregator"
counted2() { psql_q "$DB2" "SELECT coalesce(sum(response_count), 0) FROM rsvp_counts" 2>/dev/null || echo 0; }
wait_for "[[ \$(counted2) == $N ]]" 180 || fail "aggregator under valgrind: $(counted2) of $N counted"
vg_stop aggregator-vg
stop_bg writer 30 || fail "writer (native) did not exit 0"
pass
