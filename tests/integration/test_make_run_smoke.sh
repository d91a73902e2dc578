#!/usr/bin/env bash
# test_make_run_smoke.sh: `make run` end to end, as a user would run it but without a terminal:
# deploy/local/run.sh (with its own topics, database, consumer groups, ports and control socket, so
# it never touches the shared dev stack's data) brings up replay -> ingestor -> parser ->
# aggregator -> writer under rsvpctl; rows appear in meetup_table within 60 s; `rsvpctl top --once`
# shows non-zero rates (also from --metrics-urls); a replica killed with -9 is restarted; a Ctrl-C
# (SIGINT to the script's process group) stops everything, the script exits 0, no process it
# started is left, and Kafka and PostgreSQL are still up.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_make_run_smoke
need_bin rsvpctl rsvp-replay rsvp-ingestor rsvp-parser rsvp-aggregator rsvp-writer
ID=rsvpctl_smoke_$SUFFIX
CONTROL=ipc://$TEST_DIR/ctl.sock
PIDS=()

# every process seen is killed at exit too (the services live in their own process groups), and
# the test's topics are deleted
test_cleanup() {
	local rc=$? p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	deploy/local/kafka.sh tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" \
		--delete --topic "$ID\\..*" >/dev/null 2>&1 || true
	(exit $rc)
	lib_cleanup
}
trap test_cleanup EXIT

alive() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" | cut -c1)" != Z ]; }
alive_pids() { local p out=""; for p in "$@"; do alive "$p" && out+=" $p($(cat /proc/$p/comm 2>/dev/null))"; done; echo "$out"; }
rows() { psql "$PG_URL_TEST" -qAtc "select count(*) from meetup_table" 2>/dev/null || echo 0; }
status_json() { "$BIN/rsvpctl" status --json --control-url "$CONTROL" 2>/dev/null || echo '{"processes":[]}'; }
status_pids() { status_json | python3 -c '
import json, sys
print(" ".join(str(p["pid"]) for p in json.load(sys.stdin)["processes"] if p["pid"]))'; }
all_running() { [ "$(status_json | python3 -c '
import json, sys
ps = json.load(sys.stdin)["processes"]
print(len(ps) == 7 and all(p["state"] == "running" for p in ps))')" = True ]; }
run_alive() { alive "$RUN"; }
# until_ok WHAT SECONDS CMD: wait_for, but give up at once if run.sh died
until_ok() { wait_for "$3 || ! run_alive" "$2" && run_alive || fail "run.sh exited, or timed out after $2 s waiting for: $1"; }

PG_URL_TEST=$(pg_createdb rsvpctl_smoke) || fail "cannot create a database"

# --- run.sh without a terminal, in its own process group (as a shell's job would be) ---
start_bg run env BIN="$BIN" SKIP_BUILD=1 KAFKA_BROKERS="$KAFKA_BROKERS" PG_URL="$PG_URL_TEST" \
	RAW_TOPIC="$ID.raw" PARSED_TOPIC="$ID.parsed" DLQ_TOPIC="$ID.dlq" \
	PARSER_GROUP="$ID.parser" AGGREGATOR_GROUP="$ID.aggregator" INSTANCE_PREFIX="$ID-" \
	CONTROL_URL="$CONTROL" METRICS_PORT_BASE=31500 WRITER_PORT_BASE=31590 \
	REPLAY_LISTEN=127.0.0.1:31599 RUN_DIR="$TEST_DIR/run" TRIGGER_INTERVAL=500ms RATE=500 \
	deploy/local/run.sh
RUN=$BG_PID
OUT=$TEST_DIR/run.log

until_ok "rsvpctl answering" 60 '"$BIN/rsvpctl" status --control-url "$CONTROL"'
until_ok "7 processes running" 30 all_running
grep -q "select \* from meetup_table order by batch_id desc limit 10" "$OUT" ||
	fail "run.sh did not print how to query the results"
grep -q "kcat -b $KAFKA_BROKERS" "$OUT" || fail "run.sh did not print kcat command lines"
until_ok "rows in meetup_table" 60 '[ "$(rows)" -gt 0 ]'
for p in $(status_pids) $(pgrep -g "$RUN"); do PIDS+=("$p"); done

# --- top: a snapshot with non-zero rates per stage ---
"$BIN/rsvpctl" top --once --interval 1s --control-url "$CONTROL" --pg-url "$PG_URL_TEST" \
	>"$TEST_DIR/top.txt" 2>&1 || fail "rsvpctl top --once failed: $(cat "$TEST_DIR/top.txt")"
for stage in ingest parse aggregate; do
	rate=$(awk -v s="$stage" '$1 == s { print $2 }' "$TEST_DIR/top.txt")
	awk -v r="$rate" 'BEGIN { exit !(r + 0 > 0) }' ||
		fail "top shows no rate for $stage: $(cat "$TEST_DIR/top.txt")"
done
written=$(awk '$1 == "write" { print $3 }' "$TEST_DIR/top.txt")
awk -v r="$written" 'BEGIN { exit !(r + 0 > 0) }' || fail "top shows nothing written: $(cat "$TEST_DIR/top.txt")"
grep -q "^TOP EVENTS" "$TEST_DIR/top.txt" || fail "top shows no PostgreSQL section: $(cat "$TEST_DIR/top.txt")"
grep -q "^ingest " "$OUT" || fail "run.sh's own top printed nothing"
# the same from a list of /metrics URLs instead of the supervisor's process list
"$BIN/rsvpctl" top --once --interval 1s --metrics-urls http://127.0.0.1:31501/metrics,http://127.0.0.1:31502/metrics \
	--pg-url "$PG_URL_TEST" >"$TEST_DIR/top2.txt" 2>&1 || fail "rsvpctl top --metrics-urls failed"
awk '$1 == "ingest" { exit !($2 + 0 > 0) }' "$TEST_DIR/top2.txt" || fail "top --metrics-urls: no ingest rate: $(cat "$TEST_DIR/top2.txt")"
grep -q "replicas up 2/2" "$TEST_DIR/top2.txt" || fail "top --metrics-urls did not scrape both URLs"

# --- a real replica killed with -9 is restarted ---
old=$(status_json | python3 -c 'import json, sys; print([p["pid"] for p in json.load(sys.stdin)["processes"] if p["name"] == "parser-1"][0])')
kill -9 "$old"
until_ok "parser-1 restarted" 20 '[ "$(status_json | python3 -c "
import json, sys
p = [p for p in json.load(sys.stdin)[\"processes\"] if p[\"name\"] == \"parser-1\"][0]
print(p[\"restarts\"] == 1 and p[\"state\"] == \"running\" and p[\"pid\"] not in (0, $old))")" = True ]'

# --- Ctrl-C: SIGINT to the whole process group, as a terminal sends it ---
for p in $(status_pids) $(pgrep -g "$RUN"); do PIDS+=("$p"); done
kill -INT -- "-$RUN"
wait_for '! run_alive' 90 || fail "run.sh still running 90 s after SIGINT"
rc=0
wait "$RUN" || rc=$?
[ $rc = 0 ] || fail "run.sh exited $rc after SIGINT"
left=$(alive_pids "${PIDS[@]}")
[ -z "$left" ] || fail "processes left behind after SIGINT:$left"
grep -q '"msg":"stopped","clean":1,"killed":0' "$TEST_DIR/run/rsvpctl.log" || fail "rsvpctl did not stop cleanly"
grep -q '"msg":"killing after stop timeout"' "$TEST_DIR/run/rsvpctl.log" && fail "a service had to be SIGKILLed"
kcat -b "$KAFKA_BROKERS" -L -m 3 >/dev/null 2>&1 || fail "Kafka was stopped"
psql "$PGURL" -qAtc "select 1" >/dev/null 2>&1 || fail "PostgreSQL was stopped"

pass
