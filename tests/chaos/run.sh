#!/usr/bin/env bash
# run.sh (`make chaos`): the whole pipeline under faults, checked against a ground truth. rsvp-replay serves a
# seeded synthetic timeline -> ingestor -> parser x2 -> aggregator x2 -> writer x2 under `rsvpctl up`, on a Kafka
# and a PostgreSQL owned by this run, while a seeded, time-bounded driver kill -9s random replicas, restarts
# the broker and the database once each and SIGSTOPs a writer past the aggregator's request timeout. At the end
# every key's total in rsvp_counts and the newest meetup_table row per key must equal the truth
# (tests/chaos/truth.py over `rsvp-replay --dump`). Prints a table; exit 0 only with 0 mismatches.
#
# Usage: tests/chaos/run.sh [--count N] [--seed S] [--duration SEC] [--kafka3] [--short] [--keep]
#                           [--profile long|highcard|smallkeys|all]
#   --count N      RSVPs in the timeline (default 1000000; --short: 100000)
#   --seed S       seed of the timeline and of the fault driver (default: from the clock, printed)
#   --duration SEC how long the driver injects faults; the replay is paced to last about as long
#                  (default 150; --short: 60)
#   --kafka3       three-node Kafka (RF 3, min ISR 2) instead of one node; the broker fault is a kill -9 and
#                  restart of one node
#   --short        the `make test` profile: 100k RSVPs, fewer faults, its own ports (slot 1)
#   --profile P    long (default): the synthetic stream (~39k keys per million RSVPs);
#                  highcard: 300k RSVPs made from the recorded ones with one key per ~3 RSVPs
#                    (tests/chaos/highcard.py), MAX_BATCH_KEYS=1000, so tables fill and the catch-up
#                    path (deferral, re-read, back-pressure) runs under kill -9;
#                  smallkeys: 300k synthetic RSVPs with MAX_BATCH_KEYS=50: tables fill every few ms;
#                  all: long, highcard and smallkeys one after the other (`make chaos`), exit 0 only if
#                    all three pass. Each profile has its own ports and var/chaos/<profile> folder.
#   --keep         leave Kafka, PostgreSQL and the logs in place (default: stop them; logs are always kept)
# Environment: BIN (build/bin; build/asan/bin: any ASan/UBSan report fails the run), CHAOS_VAR
#   (var/chaos/<profile>), FAULT_INTERVAL (3: seconds between replica kills, plus 0-2 s jitter),
#   CONVERGE_TIMEOUT (600 s; short 240 s), CHAOS_PORT_BASE (31800 long, 31820 short).
# Ports, long (short): replica metrics 31801-31815 (31821-31835), writers 31840-41 (31842-43), replay 31845
#   (31846), Kafka 31850/51 (31862/63), Kafka3 31852-57, PostgreSQL 31860 (31864). Exit 0 only if clean.
set -euo pipefail
# The whole script is one function, parsed before it runs: editing this file never disturbs a run in progress.
main() {
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PROG=chaos
source deploy/local/common.sh
source tests/chaos/lib.sh

COUNT= SEED= DURATION= KAFKA3=0 SHORT=0 KEEP=0 KIND=long
ARGS=("$@")
while (($#)); do
	case $1 in
	--profile) KIND=$2; shift 2 ;;
	--count) COUNT=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--kafka3) KAFKA3=1; shift ;;
	--short) SHORT=1; shift ;;
	--keep) KEEP=1; shift ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "chaos: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

case $KIND in
long | highcard | smallkeys) ;;
all)
	local rc=0 k a=() i
	for ((i = 0; i < ${#ARGS[@]}; i++)); do # the arguments without --profile all
		[[ ${ARGS[i]} == --profile ]] && { i=$((i + 1)); continue; }
		a+=("${ARGS[i]}")
	done
	for k in long highcard smallkeys; do
		bash "$0" --profile "$k" "${a[@]}" || rc=1
	done
	return $rc
	;;
*) echo "chaos: unknown profile $KIND (long, highcard, smallkeys, all)" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------------------------------------- settings
[[ $KIND != long && -z $COUNT ]] && COUNT=300000
if ((SHORT)); then
	PROFILE=short; COUNT=${COUNT:-100000}; DURATION=${DURATION:-60}
	B=${CHAOS_PORT_BASE:-31820}; WRITER_BASE=$((B + 22)); REPLAY_PORT=$((B + 26))
	KPORT=$((B + 42)); KCPORT=$((B + 43)); PGPORT=$((B + 44))
	CONVERGE_TIMEOUT=${CONVERGE_TIMEOUT:-240}
else
	PROFILE=long; COUNT=${COUNT:-1000000}; DURATION=${DURATION:-150}
	B=${CHAOS_PORT_BASE:-31800}; WRITER_BASE=$((B + 40)); REPLAY_PORT=$((B + 45))
	KPORT=$((B + 50)); KCPORT=$((B + 51)); PGPORT=$((B + 60))
	CONVERGE_TIMEOUT=${CONVERGE_TIMEOUT:-600}
fi
MAX_BATCH_KEYS=100000
case $KIND in
highcard)
	PROFILE=highcard; MAX_BATCH_KEYS=1000
	B=$((B + 100)); WRITER_BASE=$((B + 40)); REPLAY_PORT=$((B + 45)); KPORT=$((B + 50)); KCPORT=$((B + 51))
	PGPORT=$((B + 60)) ;;
smallkeys)
	PROFILE=smallkeys; MAX_BATCH_KEYS=50
	B=$((B + 200)); WRITER_BASE=$((B + 40)); REPLAY_PORT=$((B + 45)); KPORT=$((B + 50)); KCPORT=$((B + 51))
	PGPORT=$((B + 60)) ;;
esac
((KAFKA3)) && PROFILE=$PROFILE-kafka3
K3PORTS=$((B + 52)),$((B + 53)),$((B + 54))
K3CPORTS=$((B + 55)),$((B + 56)),$((B + 57))
SEED=${SEED:-$(($(date +%s) % 100000))}
FAULT_INTERVAL=${FAULT_INTERVAL:-3}
REQUEST_TIMEOUT_S=3
PAUSE_S=$((REQUEST_TIMEOUT_S + 3))
BIN=${BIN:-build/bin}
[[ $BIN == /* ]] || BIN=$ROOT/$BIN
DIR=$(realpath -m "${CHAOS_VAR:-$ROOT/var/chaos/$PROFILE}")
START_MTIME=1700000000000
RATE=$(((COUNT + DURATION - 1) / DURATION))
SUFFIX=$(printf '%x%04x' "$(date +%s)" $((RANDOM ^ $$ & 0xffff)))
RAW=chaos.$SUFFIX.raw PARSED=chaos.$SUFFIX.parsed DLQ=chaos.$SUFFIX.dlq
export CONTROL_URL=ipc://$DIR/ctl.sock
# The deploy scripts read these; our services must not (common/kafka.h passes KAFKA_* through): they are only
# given to kafka.sh / postgres.sh invocations below.
KENV=(env "KAFKA_VAR=$DIR/kafka" "KAFKA_PORT=$KPORT" "KAFKA_CONTROLLER_PORT=$KCPORT"
	"KAFKA3_PORTS=$K3PORTS" "KAFKA3_CONTROLLER_PORTS=$K3CPORTS" "KAFKA_LIBS=$ROOT/var/kafka/libs")
PENV=(env "PG_VAR=$DIR/postgres" "PG_PORT=$PGPORT")
unset KAFKA_BROKERS KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_VAR KAFKA3_PORTS KAFKA3_CONTROLLER_PORTS PGURL PG_URL

for b in rsvp-replay rsvp-ingestor rsvp-parser rsvp-aggregator rsvp-writer rsvpctl; do
	[[ -x $BIN/$b ]] || die "missing $BIN/$b (run make)"
done

mkdir -p "$DIR"
rm -f "$DIR"/*.log "$DIR"/*.jsonl "$DIR"/*.ndjson "$DIR"/faults.txt "$DIR"/result.txt
T0=$(now_ms)
UP_PID= DRIVER_PID= TRUTH_PID=
log() { printf '[%6s s] %s\n' "$(since "$T0")" "$*"; }

cleanup() {
	local rc=$? p
	trap - EXIT
	[[ -n $DRIVER_PID ]] && kill "$DRIVER_PID" 2>/dev/null && wait "$DRIVER_PID" 2>/dev/null
	# a writer left stopped by an interrupted driver must be able to die
	[[ -n $TRUTH_PID ]] && kill "$TRUTH_PID" 2>/dev/null
	stop_all
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "chaos $PROFILE: $COUNT RSVPs, MAX_BATCH_KEYS $MAX_BATCH_KEYS, seed $SEED, faults for ${DURATION}s, replay at $RATE/s, logs in ${DIR#$ROOT/}"

# ---------------------------------------------------------------------------------------------- truth
# The replay's source: the seeded synthetic stream, or (highcard) a timeline file made from the recorded RSVPs.
if [[ $KIND == highcard ]]; then
	source tests/integration/testdata.sh
	python3 tests/chaos/highcard.py "$COUNT" "$SEED" "$START_MTIME" <"$TESTDATA_RECORDED" >"$DIR/timeline.ndjson" ||
		die "cannot write the highcard timeline"
	SOURCE=(--file="$DIR/timeline.ndjson")
else
	SOURCE=(--synthetic --seed="$SEED" --count="$COUNT" --start-mtime="$START_MTIME")
fi
# Computed while the pipeline runs: the exact timeline the replay will serve.
(
	trap - EXIT INT TERM
	"$BIN/rsvp-replay" "${SOURCE[@]}" --dump --metrics-addr= | python3 tests/chaos/truth.py count >"$DIR/truth.jsonl"
) 2>"$DIR/truth.log" &
TRUTH_PID=$!

# ---------------------------------------------------------------------------------------------- Kafka, PostgreSQL
stack_up
log "kafka $BROKERS (RF $RF), postgres $PGDB, topics chaos.$SUFFIX.{raw,parsed,dlq}"

# ---------------------------------------------------------------------------------------------- the pipeline
{
	pipeline_conf chaos
	echo "aggregator.env.MAX_BATCH_KEYS=$MAX_BATCH_KEYS"
} >"$DIR/rsvpctl.conf"
pipeline_up "${SOURCE[*]} --rate=$RATE --listen=127.0.0.1:$REPLAY_PORT"
log "pipeline up: $(status_json | python3 -c 'import json,sys; print(" ".join("%s=%s" % (p["name"], p["pid"]) for p in json.load(sys.stdin)["processes"]))')"

# ---------------------------------------------------------------------------------------------- fault driver
# Seeded (bash RANDOM), bounded by DURATION. Every FAULT_INTERVAL (+0-2 s) kill -9 of a random replica of a
# random service; once each, at 10/25/45% of the window: a writer SIGSTOPped for PAUSE_S (> the aggregator's
# REQUEST_TIMEOUT) then SIGCONTed, PostgreSQL stopped immediately and started, the Kafka broker (or one node
# of three) killed and started. One line per fault in faults.txt: "<s> <kind> <target>".
driver() {
	trap - EXIT INT TERM
	set +e
	RANDOM=$SEED
	local services=(ingestor parser parser aggregator aggregator writer writer) end=$((SECONDS + DURATION))
	local t_pause=$((SECONDS + DURATION * 10 / 100)) t_pg=$((SECONDS + DURATION * 25 / 100))
	local t_kafka=$((SECONDS + DURATION * 45 / 100)) done_pause=0 done_kafka=0 done_pg=0
	while ((SECONDS < end)); do
		sleep "$FAULT_INTERVAL.$((RANDOM % 10))" & wait $!
		sleep $((RANDOM % 2)) & wait $!
		if ((!done_pause && SECONDS >= t_pause)); then
			done_pause=1; fault_pause; continue
		fi
		if ((!done_pg && SECONDS >= t_pg)); then
			done_pg=1; fault_pg; continue
		fi
		if ((!done_kafka && SECONDS >= t_kafka)); then
			done_kafka=1; fault_kafka; continue
		fi
		fault_kill9 "${services[RANDOM % ${#services[@]}]}" "$RANDOM"
	done
	# a window too short for the schedule still gets every fault once
	((done_pause)) || fault_pause
	((done_pg)) || fault_pg
	((done_kafka)) || fault_kafka
}
driver >"$DIR/driver.log" 2>&1 &
DRIVER_PID=$!

# ---------------------------------------------------------------------------------------------- convergence
wait "$TRUTH_PID" || die "truth failed: $(cat "$DIR/truth.log")"
TRUTH_PID=
cat "$DIR/truth.log"
WANT=$(python3 -c 'import json,sys; print(sum(json.loads(l)["response_count"] for l in open(sys.argv[1])))' "$DIR/truth.jsonl")
wait "$DRIVER_PID" || true
DRIVER_PID=
log "fault window over; waiting for $WANT counted RSVPs (timeout ${CONVERGE_TIMEOUT}s)"
converge "$WANT" "$CONVERGE_TIMEOUT"
remember_children

# ---------------------------------------------------------------------------------------------- compare
rc=0
compare_truth "$PGDB" || rc=$?
BATCHES=$(psql "$PGDB" -X -q -A -t -c "SELECT count(*) FROM rsvp_batches" 2>/dev/null || echo "?")
topic_count() { # topic_count TOPIC: committed messages in TOPIC, or "?"
	local out
	out=$(timeout 120 kcat -C -b "$BROKERS" -t "$1" -o beginning -e -q -X isolation.level=read_committed \
		-f '%p\n' 2>/dev/null) || { echo "?"; return; }
	[[ -z $out ]] && echo 0 || wc -l <<<"$out"
}
RAWN=$(topic_count "$RAW")
DLQN=$(topic_count "$DLQ")

# graceful stop: every service must exit 0 on SIGTERM after all that
pipeline_stop
up_rc=$UP_RC

val() { awk -v k="$1" '$1 == k { print $2 }' "$DIR/compare.txt"; }
{
	echo
	echo "chaos result ($PROFILE, seed $SEED, $(since "$T0") s)"
	printf '| %-34s | %12s |\n' what value
	printf '|%s|%s|\n' "------------------------------------" "--------------"
	printf '| %-34s | %12s |\n' "messages (timeline)" "$COUNT" "messages in raw topic" "$RAWN" \
		"dead-lettered" "$DLQN" "RSVPs counted (truth)" "$(val rsvps_truth)" \
		"RSVPs in rsvp_counts" "$(val rsvps_stored)" "batches applied" "$BATCHES" \
		"replica restarts (rsvpctl)" "$RESTARTS"
	for k in $(awk '{print $2}' "$DIR/faults.txt" 2>/dev/null | sort | uniq); do
		printf '| %-34s | %12s |\n' "fault: $k" "$(awk -v k="$k" '$2 == k' "$DIR/faults.txt" | wc -l)"
	done
	printf '| %-34s | %12s |\n' "faults total" "$(wc -l <"$DIR/faults.txt" 2>/dev/null || echo 0)" \
		"keys compared" "$(val keys_compared)" "keys lost" "$(val keys_lost)" "keys extra" "$(val keys_extra)" \
		"keys with a wrong count" "$(val keys_wrong_count)" "mismatches (rsvp_counts)" "$(val mismatches)" \
		"mismatches (latest meetup_table)" "$(val latest_mismatches)" "rsvpctl stop exit code" "$up_rc"
	grep '^  key' "$DIR/compare.txt" || true
} | tee "$DIR/result.txt"
if ((rc != 0)); then
	echo "FAIL: chaos $PROFILE: mismatches (see ${DIR#$ROOT/}/compare.txt)"
	exit 1
fi
# Sanitizer builds (BIN=build/asan/bin): any report in a child's output fails the run.
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$DIR/rsvpctl.log"; then
	grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$DIR/rsvpctl.log" | head -n 5
	echo "FAIL: chaos $PROFILE: sanitizer report (see ${DIR#$ROOT/}/rsvpctl.log)"
	exit 1
fi
if ((up_rc != 0)); then
	echo "FAIL: chaos $PROFILE: rsvpctl stop exited $up_rc (a service did not stop cleanly; see ${DIR#$ROOT/}/rsvpctl.log)"
	exit 1
fi
echo "PASS: chaos $PROFILE: 0 mismatches over $(val keys_compared) keys"
}
main "$@"
