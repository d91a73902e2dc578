#!/usr/bin/env bash
# run.sh (`make differential`; tests/integration/test_differential_short.sh runs a small one in `make test`):
# the pipeline against the reference job on the same lines. A seeded generator (generate.py) perturbs
# recorded RSVPs in every field; the lines go
#   - through the reference transformation, PySpark 4.2.0 as bench/spark/job.py runs it (its parse and
#     group-by from bench/spark/reference.py, ANSI off), as one batch (reference_batch.py), and
#   - through the whole pipeline: rsvp-replay serves the file over the stream protocol in its own order
#     (--file-order: every line byte for byte, unreadable ones too) to rsvp-ingestor -> rsvp-parser ->
#     rsvp-aggregator -> rsvp-writer under `rsvpctl up`;
# then rsvp_counts and the newest meetup_table row per key are compared with the reference key by key
# (compare.py), together with the raw topic (exactly the generated lines), the dead-letter topic (exactly
# what the parser dead-letters) and the parser's key line by line (differential-keys), whose differences are
# written out as golden cases. Exit 0 only with 0 differences.
#
# Usage: tests/differential/run.sh [--count N] [--seed S] [--keep]
#   --count N  generated lines (default 10000)
#   --seed S   the generator's seed (default: from the clock; printed)
#   --keep     leave the topics and the database (the work directory is always kept)
# Environment: KAFKA_BROKERS and PGURL (else deploy/local/stack.sh up starts or reuses the local stack, on
#   KAFKA_PORT / PG_PORT), BIN (build/bin), BUILD (build: differential-keys), DIFF_DIR (var/differential/<seed>),
#   SPARK_CACHE (/var/cache/rsvp-pipeline/spark: PySpark is installed there on first use, about 450 MB), DIFF_TIMEOUT (600 s).
# Ports: dynamic (tests/integration/ports.sh).
set -euo pipefail
# The whole script is one function, parsed before it runs: editing this file never disturbs a run in progress.
main() {
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
COUNT=10000 SEED= KEEP=0
while (($#)); do
	case $1 in
	--count) COUNT=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "differential: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
SEED=${SEED:-$(($(date +%s) % 1000000))}
BIN=${BIN:-build/bin}
[[ $BIN == /* ]] || BIN=$ROOT/$BIN
BUILD=${BUILD:-build}
DIR=$(realpath -m "${DIFF_DIR:-var/differential/$SEED}")
TIMEOUT=${DIFF_TIMEOUT:-600}
BENCH_T0=$(date +%s)
source bench/lib.sh
source bench/spark.sh # spark_pyspark: the installer of make bench-spark
source tests/integration/ports.sh
log() { printf '[differential %4ds] %s\n' $(($(date +%s) - BENCH_T0)) "$*" >&2; }
die() { log "error: $*"; exit 1; }
SUFFIX=$(printf '%x%04x' "$(date +%s)" $((RANDOM ^ $$ & 0xffff)))
RAW=diff.$SUFFIX.raw PARSED=diff.$SUFFIX.parsed DLQ=diff.$SUFFIX.dlq DB=diff_$SUFFIX
UP_PID= REF_PID=
export CONTROL_URL=ipc://$DIR/ctl.sock

for b in rsvp-replay rsvp-ingestor rsvp-parser rsvp-aggregator rsvp-writer rsvpctl; do
	[[ -x $BIN/$b ]] || die "missing $BIN/$b (run make)"
done
[[ -x $BUILD/tests/differential-keys ]] || die "missing $BUILD/tests/differential-keys (make $BUILD/tests/differential-keys)"
rm -rf "$DIR"
mkdir -p "$DIR"
log "seed $SEED, $COUNT lines, work directory ${DIR#$ROOT/}"

cleanup() {
	local rc=$?
	trap - EXIT
	[[ -n $REF_PID ]] && kill "$REF_PID" 2>/dev/null
	if [[ -n $UP_PID ]] && kill -0 "$UP_PID" 2>/dev/null; then
		"$BIN/rsvpctl" stop >/dev/null 2>&1 || true
		for _ in $(seq 1 300); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$UP_PID" 2>/dev/null || true
	fi
	if ((KEEP == 0)) && [[ -n ${PGURL:-} ]]; then
		for t in "$RAW" "$PARSED" "$DLQ"; do topics_delete "$t"; done
		psql -XAtq "$PGURL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	fi
	port_release_all
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------- the lines
python3 tests/differential/generate.py --seed "$SEED" --count "$COUNT" >"$DIR/lines.ndjson"
log "generated $(wc -c <"$DIR/lines.ndjson") bytes"

# ---------------------------------------------------------------------------------------------- the reference
# PySpark from bench/spark.sh's installer; runs while the pipeline does.
CACHE=$(realpath -m "${BENCH_CACHE:-.cache}")
spark_pyspark
(
	trap - EXIT INT TERM
	PYSPARK_SUBMIT_ARGS="--master local[2] --driver-memory 1g pyspark-shell" \
		"$SPARK_PY" tests/differential/reference_batch.py "$DIR/lines.ndjson" --grouped "$DIR/ref.grouped" \
		--per-line "$DIR/ref.perline"
) >"$DIR/reference.log" 2>&1 &
REF_PID=$!
"$BUILD/tests/differential-keys" "$DIR/lines.ndjson" >"$DIR/ours.perline"

# ---------------------------------------------------------------------------------------------- the pipeline
bench_stack
for t in "$RAW" "$PARSED" "$DLQ"; do topic_create "$t" 2; done
psql -XAtq "$PGURL" -c "CREATE DATABASE $DB" >/dev/null || die "cannot create database $DB"
PGDB=$(db_url "$DB")
BASE=$(port_reserve_block 6) || die "no free ports"
WPORT=$(port_reserve) || die "no free port"
RPORT=$(port_reserve) || die "no free port"
cat >"$DIR/rsvpctl.conf" <<CONF
# written by tests/differential/run.sh
replicas.ingestor=1
replicas.parser=1
replicas.aggregator=1
replicas.writer=1
metrics-port-base=$BASE
writer-port-base=$WPORT
instance-prefix=diff$SUFFIX-
stop-timeout=20s
env.KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BROKERS
env.RAW_TOPIC=$RAW
env.PARSED_TOPIC=$PARSED
env.DLQ_TOPIC=$DLQ
env.PG_URL=$PGDB
env.LOG_LEVEL=info
ingestor.env.SOURCE_URL=http://127.0.0.1:$RPORT/2/rsvps
parser.env.GROUP_ID=diff-$SUFFIX-parser
aggregator.env.GROUP_ID=diff-$SUFFIX-aggregator
aggregator.env.TRIGGER_INTERVAL=500ms
CONF
"$BIN/rsvpctl" up --config "$DIR/rsvpctl.conf" --bin "$BIN" \
	--with-replay "--file=$DIR/lines.ndjson --file-order --listen=127.0.0.1:$RPORT" >"$DIR/rsvpctl.log" 2>&1 </dev/null &
UP_PID=$!
log "pipeline up (rsvpctl pid $UP_PID), topics diff.$SUFFIX.{raw,parsed,dlq}, database $DB"

# ---------------------------------------------------------------------------------------------- convergence
# What the parser will produce, from its own verdicts: every line reaches the raw topic; the dead-letter topic
# gets the lines not "ok"; rsvp_counts gets the RSVPs with a response. Then the stored state must stop moving.
read -r WANT_DLQ WANT_RSVPS < <(python3 -c '
import json, sys
dlq = rsvps = 0
for ln in open(sys.argv[1], encoding="utf-8", errors="surrogateescape"):
    reason, _, key = ln.rstrip("\n").partition(" ")
    dlq += reason != "ok"
    rsvps += reason == "ok" and json.loads(key)["response"] is not None
print(dlq, rsvps)' "$DIR/ours.perline")
count() { # count TOPIC: committed messages
	local out
	out=$(timeout 120 kcat -C -b "$KAFKA_BROKERS" -t "$1" -o beginning -e -q -X isolation.level=read_committed \
		-f '%p\n' 2>/dev/null) || { echo -1; return; }
	[[ -z $out ]] && echo 0 || wc -l <<<"$out"
}
stored() { psql -XAtq "$PGDB" -c "SELECT coalesce(sum(response_count), 0) FROM rsvp_counts" 2>/dev/null || echo -1; }
deadline=$((SECONDS + TIMEOUT))
last= stable=0
while ((SECONDS < deadline)); do
	kill -0 "$UP_PID" 2>/dev/null || { tail -n 20 "$DIR/rsvpctl.log"; die "rsvpctl up exited"; }
	now="$(count "$RAW") $(count "$DLQ") $(stored)"
	if [[ $now == "$last" ]]; then stable=$((stable + 1)); else stable=0; fi
	[[ $now == "$COUNT $WANT_DLQ $WANT_RSVPS" ]] && ((stable >= 3)) && break
	((stable >= 60)) && { log "no progress for 60 s: raw, dead letters, stored RSVPs = $now"; break; }
	[[ $now != "$last" ]] && log "raw, dead letters, stored RSVPs: $now (want $COUNT $WANT_DLQ $WANT_RSVPS)"
	last=$now
	sleep 1
done
log "pipeline: raw, dead letters, stored RSVPs = $now"

psql -XAtq "$PGDB" -v ON_ERROR_STOP=1 -c "SELECT row_to_json(t) FROM rsvp_counts t" >"$DIR/counts.jsonl"
psql -XAtq "$PGDB" -v ON_ERROR_STOP=1 -c "SELECT row_to_json(t) FROM (
	SELECT DISTINCT ON (event_name, event_url, event_time, group_name, group_country, group_state, group_city,
		group_lat, group_lon, lat, lon, response) *
	FROM meetup_table ORDER BY event_name, event_url, event_time, group_name, group_country, group_state,
		group_city, group_lat, group_lon, lat, lon, response, batch_id DESC) t" >"$DIR/latest.jsonl"
kcat -C -b "$KAFKA_BROKERS" -t "$RAW" -o beginning -e -q -X isolation.level=read_committed -f '%S\n%s\n' \
	>"$DIR/raw.bin"
kcat -C -b "$KAFKA_BROKERS" -t "$DLQ" -o beginning -e -q -X isolation.level=read_committed -f '%h\n' |
	sed -n 's/.*reason=\([a-z_0-9]*\).*/\1/p' >"$DIR/dlq.txt"

# ---------------------------------------------------------------------------------------------- compare
log "waiting for the reference job"
wait "$REF_PID" || { tail -n 30 "$DIR/reference.log" >&2; REF_PID=; die "the reference job failed"; }
REF_PID=
rc=0
python3 tests/differential/compare.py "$DIR" >"$DIR/compare.txt" || rc=$?
"$BIN/rsvpctl" stop >/dev/null 2>&1 || true
for _ in $(seq 1 300); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
wait "$UP_PID" || rc=1
UP_PID=
{
	echo "differential: seed $SEED, $COUNT lines, $(($(date +%s) - BENCH_T0)) s"
	cat "$DIR/compare.txt"
} | tee "$DIR/result.txt"
((rc == 0)) && echo "PASS: differential seed $SEED" || echo "FAIL: differential seed $SEED (see ${DIR#$ROOT/})"
return "$rc"
}
main "$@"
