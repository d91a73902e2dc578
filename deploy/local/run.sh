#!/usr/bin/env bash
# run.sh (make run): the whole pipeline on this machine. Installs what is missing, builds, starts
# (or reuses) the local Kafka and PostgreSQL, creates the topics, runs every service under rsvpctl
# with a synthetic RSVP stream, and shows `rsvpctl top` until Ctrl-C, which stops everything
# cleanly (Kafka and PostgreSQL stay up unless STOP_STACK=1). Safe to run again.
#
# Environment (defaults):
#   RATE (2000)            RSVPs/s of the synthetic stream (rsvp-replay --synthetic --seed 1)
#   SOURCE_FILE            replay this NDJSON file in a loop instead (--file PATH --loop)
#   SOURCE_URL             ingest from this URL instead; no replay is started
#   TRIGGER_INTERVAL (5s)  aggregator trigger: how often a batch reaches PostgreSQL
#   REPLICAS               rsvpctl --replicas (ingestor=1,parser=2,aggregator=2,writer=1)
#   KAFKA_BROKERS (127.0.0.1:19092)    PG_URL or PGURL (postgresql://postgres@127.0.0.1:15432/postgres)
#   RAW_TOPIC, PARSED_TOPIC, DLQ_TOPIC (rsvps.raw, rsvps.parsed, rsvps.dlq)
#   PARSER_GROUP, AGGREGATOR_GROUP (rsvp-parser, rsvp-aggregator)   consumer groups
#   CONTROL_URL (ipc:///tmp/rsvpctl.sock)  METRICS_PORT_BASE (9100)  WRITER_PORT_BASE (7400)
#   REPLAY_LISTEN (127.0.0.1:8080)  INSTANCE_PREFIX ("")  RUN_DIR (var/run: config and logs)
#   BUILD (build), BIN ($BUILD/bin)  SKIP_DEPS=1 / SKIP_BUILD=1 skip those steps
#   STOP_STACK=1 also stop Kafka and PostgreSQL at exit
#   TOP_INTERVAL (1s)
set -euo pipefail
PROG=run
source "$(dirname "$0")/common.sh"
cd "$ROOT"

BUILD=${BUILD:-build}
BIN=$(realpath -m "${BIN:-$ROOT/$BUILD/bin}")
KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:19092}
PG_URL=${PG_URL:-${PGURL:-postgresql://postgres@127.0.0.1:15432/postgres}}
RAW_TOPIC=${RAW_TOPIC:-rsvps.raw}
PARSED_TOPIC=${PARSED_TOPIC:-rsvps.parsed}
DLQ_TOPIC=${DLQ_TOPIC:-rsvps.dlq}
PARSER_GROUP=${PARSER_GROUP:-rsvp-parser}
AGGREGATOR_GROUP=${AGGREGATOR_GROUP:-rsvp-aggregator}
TRIGGER_INTERVAL=${TRIGGER_INTERVAL:-5s}
RATE=${RATE:-2000}
REPLAY_LISTEN=${REPLAY_LISTEN:-127.0.0.1:8080}
CONTROL_URL=${CONTROL_URL:-ipc:///tmp/rsvpctl.sock}
METRICS_PORT_BASE=${METRICS_PORT_BASE:-9100}
WRITER_PORT_BASE=${WRITER_PORT_BASE:-7400}
REPLICAS=${REPLICAS:-ingestor=1,parser=2,aggregator=2,writer=1}
RUN_DIR=$(realpath -m "${RUN_DIR:-$ROOT/var/run}")
TOP_INTERVAL=${TOP_INTERVAL:-1s}
STOP_STACK=${STOP_STACK:-0}
RSVPCTL=$BIN/rsvpctl
UP_PID=
TOP_PID=

# stop_all: on any exit (Ctrl-C included): graceful stop through the control socket, then make sure
# rsvpctl is gone; the stack stays unless STOP_STACK=1. Runs once.
stopped=0
stop_all() {
	((stopped)) && return 0
	stopped=1
	set +e      # best effort from here: a failed step must not skip the next one
	trap '' INT # a second Ctrl-C must not cut the graceful stop short
	if [[ -n $TOP_PID ]]; then
		kill "$TOP_PID" 2>/dev/null
		wait "$TOP_PID" 2>/dev/null
	fi
	if [[ -n $UP_PID ]] && pid_alive "$UP_PID"; then
		say "stopping the pipeline (ingestor first, writer last) ..."
		"$RSVPCTL" stop --control-url "$CONTROL_URL" --wait 90s >/dev/null 2>&1 || kill "$UP_PID" 2>/dev/null
		wait "$UP_PID" 2>/dev/null
		say "pipeline stopped (log: $RUN_DIR/rsvpctl.log)"
	fi
	if ((STOP_STACK && stack_started)); then
		deploy/local/stack.sh down
	elif ((stack_started)); then
		say "Kafka and PostgreSQL are left running (STOP_STACK=1 stops them; or deploy/local/stack.sh down)"
	elif ((STOP_STACK)); then
		say "Kafka and PostgreSQL were already running before this run: left as they were"
	else
		say "Kafka ($KAFKA_BROKERS) and PostgreSQL were already running: left running"
	fi
	return 0
}
stack_started=0
trap stop_all EXIT
trap 'exit 0' INT TERM HUP # a stop by Ctrl-C is the normal end: exit 0 after the clean stop

# 1. packages, 2. build
[[ ${SKIP_DEPS:-0} == 1 ]] || deploy/local/deps.sh
[[ ${SKIP_BUILD:-0} == 1 ]] || make --no-print-directory BUILD="$BUILD" -j2 all
for b in rsvpctl rsvp-ingestor rsvp-parser rsvp-aggregator rsvp-writer rsvp-replay; do
	[[ -x $BIN/$b ]] || die "$BIN/$b is missing (build failed?)"
done

# 3. Kafka and PostgreSQL: reuse what answers at the configured addresses, else start the local stack
kafka_ok() { kcat -b "$KAFKA_BROKERS" -L -m 3 >/dev/null 2>&1; }
pg_ok() { psql "$PG_URL" -qAtc 'select 1' >/dev/null 2>&1; }
if kafka_ok && pg_ok; then
	say "using the running Kafka at $KAFKA_BROKERS and PostgreSQL at $PG_URL"
else
	deploy/local/stack.sh up
	stack_started=1
	kafka_ok || die "Kafka does not answer at $KAFKA_BROKERS"
	pg_ok || die "PostgreSQL does not answer at $PG_URL"
fi

# 4. topics (idempotent)
export KAFKA_BROKERS
deploy/local/kafka.sh topic "$RAW_TOPIC" 4
deploy/local/kafka.sh topic "$PARSED_TOPIC" 4
deploy/local/kafka.sh topic "$DLQ_TOPIC" 1

# 5. the services' settings: environment for all, consumer groups per service (both read GROUP_ID)
mkdir -p "$RUN_DIR"
replay=()
if [[ -n ${SOURCE_URL:-} ]]; then
	source_desc="$SOURCE_URL (no replay started)"
elif [[ -n ${SOURCE_FILE:-} ]]; then
	replay=(--with-replay "--file $(realpath "$SOURCE_FILE") --loop --rate $RATE --listen $REPLAY_LISTEN")
	SOURCE_URL=http://$REPLAY_LISTEN/2/rsvps
	source_desc="rsvp-replay of $SOURCE_FILE in a loop at $RATE/s on $SOURCE_URL"
else
	replay=(--with-replay "--synthetic --seed 1 --rate $RATE --listen $REPLAY_LISTEN")
	SOURCE_URL=http://$REPLAY_LISTEN/2/rsvps
	source_desc="rsvp-replay --synthetic --seed 1 at $RATE/s on $SOURCE_URL"
fi
cat >"$RUN_DIR/rsvpctl.conf" <<CONF
# written by deploy/local/run.sh
parser.env.GROUP_ID=$PARSER_GROUP
aggregator.env.GROUP_ID=$AGGREGATOR_GROUP
CONF
export KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BROKERS PG_URL RAW_TOPIC PARSED_TOPIC DLQ_TOPIC TRIGGER_INTERVAL SOURCE_URL
unset GROUP_ID # parser and aggregator both read it: set per service in the config file above

# 6. where the data lands
cat <<WHERE
$PROG: source:    $source_desc
$PROG: Kafka:     $KAFKA_BROKERS  topics $RAW_TOPIC (4 partitions), $PARSED_TOPIC (4), $DLQ_TOPIC (1)
$PROG:            kcat -b $KAFKA_BROKERS -C -t $RAW_TOPIC -o -3 -e            # raw JSON lines
$PROG:            kcat -b $KAFKA_BROKERS -C -t $DLQ_TOPIC -o beginning -e     # dead letters
$PROG:            kcat -b $KAFKA_BROKERS -L -t $PARSED_TOPIC                  # partitions, leaders
$PROG: results:   PostgreSQL $PG_URL, every $TRIGGER_INTERVAL:
$PROG:            psql '$PG_URL' -c 'select * from meetup_table order by batch_id desc limit 10'
$PROG:            psql '$PG_URL' -c 'select event_name, response, response_count from rsvp_counts order by response_count desc limit 10'
$PROG: control:   $RSVPCTL status|scale parser=3|stop --control-url $CONTROL_URL
$PROG: logs:      $RUN_DIR/rsvpctl.log (one JSON line each; the services' lines under "line")
$PROG: Ctrl-C stops the pipeline cleanly.
WHERE

# 7. the supervisor in the background, the live view in the foreground
"$RSVPCTL" up --config "$RUN_DIR/rsvpctl.conf" --bin "$BIN" --replicas "$REPLICAS" \
	--control-url "$CONTROL_URL" --metrics-port-base "$METRICS_PORT_BASE" \
	--writer-port-base "$WRITER_PORT_BASE" "${replay[@]}" 2>>"$RUN_DIR/rsvpctl.log" &
UP_PID=$!
deadline=$(($(now_ms) + 10000))
until "$RSVPCTL" status --control-url "$CONTROL_URL" >/dev/null 2>&1; do
	pid_alive "$UP_PID" || { tail -n 5 "$RUN_DIR/rsvpctl.log" >&2; UP_PID=; die "rsvpctl up failed"; }
	(($(now_ms) < deadline)) || die "rsvpctl does not answer on $CONTROL_URL"
	sleep 0.1
done
say "rsvpctl up (pid $UP_PID): $REPLICAS"
# top runs as a background job that the script waits for, so a SIGINT to this script alone (not
# only a terminal's Ctrl-C to the whole group) reaches the trap at once
"$RSVPCTL" top --control-url "$CONTROL_URL" --pg-url "$PG_URL" --interval "$TOP_INTERVAL" &
TOP_PID=$!
wait "$TOP_PID" || true
TOP_PID=
