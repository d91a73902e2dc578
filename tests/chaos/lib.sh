# lib.sh: the pieces of a pipeline run under faults that tests/chaos/run.sh and tests/soak/run.sh share
# (sourced, not run): the run's own Kafka and PostgreSQL, the supervisor's view, the faults, and the
# comparison with the truth. The caller sets BIN (the binaries), DIR (the run's folder: faults.txt,
# paused.pid, logs), T0 (its start, ms), KENV and PENV (env prefixes for deploy/local/kafka.sh and
# postgres.sh), KAFKA3 (0 or 1), PAUSE_S (how long a writer stays stopped), RAW, PARSED and DLQ (topic
# names), SUFFIX, B, WRITER_BASE, REPLAY_PORT, START_MTIME and REQUEST_TIMEOUT_S (pipeline_conf), KEEP
# (1: stop_all leaves the stack running), and defines log MESSAGE; deploy/local/common.sh is sourced
# (since, die). pipeline_up sets UP_PID, stack_up PGDB.

# stack_up: the run's own Kafka (one node, or three with KAFKA3=1) and PostgreSQL, from clean state, and
# the topics $RAW, $PARSED, $DLQ (4 partitions); sets BROKERS, RF and PGDB. Logs in $DIR/{kafka,postgres}.log.
stack_up() {
	"${KENV[@]}" deploy/local/kafka.sh clean >"$DIR/kafka.log" 2>&1 || true
	if ((KAFKA3)); then
		"${KENV[@]}" deploy/local/kafka.sh up3 >>"$DIR/kafka.log" 2>&1 || { tail "$DIR/kafka.log"; die "kafka up3 failed"; }
		RF=3
	else
		"${KENV[@]}" deploy/local/kafka.sh up >>"$DIR/kafka.log" 2>&1 || { tail "$DIR/kafka.log"; die "kafka up failed"; }
		RF=1
	fi
	BROKERS=$("${KENV[@]}" deploy/local/kafka.sh brokers)
	local t
	for t in "$RAW" "$PARSED" "$DLQ"; do
		"${KENV[@]}" KAFKA_BROKERS="$BROKERS" deploy/local/kafka.sh topic "$t" 4 "$RF" >>"$DIR/kafka.log" 2>&1 ||
			die "cannot create topic $t"
	done
	"${PENV[@]}" deploy/local/postgres.sh clean >"$DIR/postgres.log" 2>&1 || true
	"${PENV[@]}" deploy/local/postgres.sh up >>"$DIR/postgres.log" 2>&1 || { tail "$DIR/postgres.log"; die "postgres up failed"; }
	PGDB=$("${PENV[@]}" deploy/local/postgres.sh url)
}

# pipeline_conf NAME: the supervisor's config file (on stdout) for ingestor x1, parser x2, aggregator x2,
# writer x2 on the stack, metrics from $B, writers from $WRITER_BASE, the replay on $REPLAY_PORT, group and
# transactional ids unique to the run (NAME, $SUFFIX); the caller may append lines.
pipeline_conf() {
	cat <<CONF
# written by tests/$1/run.sh
replicas.ingestor=1
replicas.parser=2
replicas.aggregator=2
replicas.writer=2
metrics-port-base=$B
writer-port-base=$WRITER_BASE
instance-prefix=$1$SUFFIX-
restart-base=300ms
restart-max=3s
stop-timeout=20s
env.KAFKA_BOOTSTRAP_SERVERS=$BROKERS
env.RAW_TOPIC=$RAW
env.PARSED_TOPIC=$PARSED
env.DLQ_TOPIC=$DLQ
env.PG_URL=$PGDB
env.LOG_LEVEL=info
ingestor.env.SOURCE_URL=http://127.0.0.1:$REPLAY_PORT/2/rsvps
ingestor.env.INITIAL_SINCE_MTIME=$START_MTIME
ingestor.env.STALL_TIMEOUT=10s
ingestor.env.BACKOFF_MAX=2s
parser.env.GROUP_ID=$1-$SUFFIX-parser
parser.env.KAFKA_SESSION_TIMEOUT_MS=6000
parser.env.KAFKA_HEARTBEAT_INTERVAL_MS=1000
aggregator.env.GROUP_ID=$1-$SUFFIX-aggregator
aggregator.env.TRIGGER_INTERVAL=1s
aggregator.env.REQUEST_TIMEOUT=${REQUEST_TIMEOUT_S}s
aggregator.env.SESSION_TIMEOUT=6s
aggregator.env.BACKOFF_MAX=2s
aggregator.env.QUEUE_KBYTES=262144
writer.env.BACKOFF_MAX=2s
CONF
}

# pipeline_up REPLAY_ARGS: rsvpctl up with $DIR/rsvpctl.conf and rsvp-replay REPLAY_ARGS, in the
# background (UP_PID, output in $DIR/rsvpctl.log); returns once its 8 processes run (dies after 60 s).
pipeline_up() {
	"$BIN/rsvpctl" up --config "$DIR/rsvpctl.conf" --bin "$BIN" --with-replay "$1" >"$DIR/rsvpctl.log" 2>&1 </dev/null &
	UP_PID=$!
	local deadline=$((SECONDS + 60))
	until [[ $(running) -ge 8 ]]; do
		kill -0 "$UP_PID" 2>/dev/null || { tail -n 20 "$DIR/rsvpctl.log"; die "rsvpctl up exited"; }
		((SECONDS < deadline)) || { tail -n 20 "$DIR/rsvpctl.log"; die "pipeline not running after 60 s: $(status_json)"; }
		sleep 0.2
	done
}

# converge WANT TIMEOUT_S: waits until rsvp_counts sums to WANT and stays so for 5 s (a late duplicate
# would still show), or nothing moved for 90 s (stuck, or counted too much), or TIMEOUT_S passed.
converge() {
	local want=$1 deadline=$((SECONDS + $2)) last=-2 stable=0 n
	while ((SECONDS < deadline)); do
		kill -0 "$UP_PID" 2>/dev/null || { tail -n 20 "$DIR/rsvpctl.log"; die "rsvpctl exited during the run"; }
		n=$(stored)
		if [[ $n == "$last" ]]; then stable=$((stable + 1)); else stable=0; fi
		[[ $n == "$want" ]] && ((stable >= 5)) && break
		((stable >= 90)) && { log "no progress for 90 s"; break; }
		[[ $n != "$last" && $n != "$want" ]] && log "stored $n of $want"
		last=$n
		sleep 1
	done
	log "stored $(stored) of $want"
}

# stored: sum(response_count) of rsvp_counts, -1 when PostgreSQL does not answer
stored() { psql "$PGDB" -X -q -A -t -c "SELECT coalesce(sum(response_count),0) FROM rsvp_counts" 2>/dev/null || echo -1; }

# remember_children: RESTARTS (the supervisor's restarts so far); the children's pids go to
# $DIR/child-pids, for stop_all to kill should rsvpctl itself not stop them
remember_children() {
	local status p
	status=$(status_json)
	RESTARTS=$(python3 -c 'import json,sys; print(sum(p.get("restarts",0) for p in json.load(sys.stdin)["processes"]))' <<<"$status")
	for p in $(python3 -c 'import json,sys; print(" ".join(str(p["pid"]) for p in json.load(sys.stdin)["processes"] if p["pid"]>0))' <<<"$status"); do
		echo "$p" >>"$DIR/child-pids"
	done
}

# pipeline_stop: the graceful stop (every service must exit 0 on SIGTERM); UP_RC = rsvpctl's exit code
pipeline_stop() {
	"$BIN/rsvpctl" stop >/dev/null 2>&1 || true
	UP_RC=0
	for _ in $(seq 1 600); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
	wait "$UP_PID" || UP_RC=$?
	UP_PID=
}

# stop_all: for the EXIT trap: a paused writer continued, the pipeline stopped (killed after 30 s), what
# is left of it killed, and unless KEEP=1 the stack stopped
stop_all() {
	local p
	[[ -f $DIR/paused.pid ]] && kill -CONT "$(cat "$DIR/paused.pid")" 2>/dev/null
	if [[ -n $UP_PID ]] && kill -0 "$UP_PID" 2>/dev/null; then
		"$BIN/rsvpctl" stop >/dev/null 2>&1 || true
		for _ in $(seq 1 300); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$UP_PID" 2>/dev/null || true
	fi
	for p in $(cat "$DIR/child-pids" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
	if ((KEEP == 0)); then
		"${KENV[@]}" deploy/local/kafka.sh down >/dev/null 2>&1 || true
		"${PENV[@]}" deploy/local/postgres.sh down >/dev/null 2>&1 || true
	fi
	return 0
}

# status_json: rsvpctl's view ({"processes":[{name, service, replica, pid, state, ...}]})
status_json() { "$BIN/rsvpctl" status --json --ready-timeout 200ms 2>/dev/null || echo '{"processes":[]}'; }

# running: how many supervised processes run
running() {
	status_json | python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin)["processes"] if p["state"]=="running"))'
}

# pick SERVICE SEED: "name pid" of a random running replica of SERVICE, or nothing
pick() {
	status_json | python3 -c '
import json, sys, random
ps = [p for p in json.load(sys.stdin)["processes"] if p["service"] == sys.argv[1] and p["state"] == "running" and p["pid"] > 0]
random.seed(int(sys.argv[2]))
if ps:
    p = random.choice(ps); print(p["name"], p["pid"])' "$1" "$2"
}

# fault KIND TARGET: one line "<s> <kind> <target>" in faults.txt, and the log
fault() { printf '%s %s %s\n' "$(since "$T0")" "$1" "$2" >>"$DIR/faults.txt"; log "fault: $1 $2"; }

# fault_kill9 SERVICE SEED: kill -9 of a random running replica of SERVICE
fault_kill9() {
	local name= pid=
	read -r name pid < <(pick "$1" "$2")
	[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null && fault "kill9_$1" "$name"
	return 0
}

# fault_pause: a writer stopped past the aggregator's request timeout, then continued
fault_pause() {
	local name= pid=
	read -r name pid < <(pick writer "$RANDOM")
	[[ -n $pid ]] || return 0
	echo "$pid" >"$DIR/paused.pid"
	kill -STOP "$pid" && fault writer_sigstop "$name/${PAUSE_S}s"
	sleep "$PAUSE_S" & wait $!
	kill -CONT "$pid"
	rm -f "$DIR/paused.pid"
}

# fault_pg: immediate stop (crash recovery on start) and start of the run's PostgreSQL
fault_pg() {
	fault postgres_restart immediate
	"${PENV[@]}" deploy/local/postgres.sh restart >>"$DIR/postgres.log" 2>&1 || log "postgres restart failed"
	log "postgres back"
}

# fault_kafka: kill -9 of the broker (or of one node of three) and its restart
fault_kafka() {
	local node=
	((KAFKA3)) && node=$((RANDOM % 3 + 1))
	"${KENV[@]}" deploy/local/kafka.sh kill $node >>"$DIR/kafka.log" 2>&1
	fault kafka_kill9_restart "${node:+node}${node:-broker}"
	sleep $((KAFKA3 ? 5 : 2)) & wait $!
	"${KENV[@]}" deploy/local/kafka.sh start $node >>"$DIR/kafka.log" 2>&1 || log "kafka start failed"
	log "kafka back"
}

# compare_truth PGDB [--partial-latest]: rsvp_counts and the newest meetup_table row per key against
# $DIR/truth.jsonl (tests/chaos/truth.py compare); counts.jsonl, latest.jsonl and compare.txt in $DIR.
# --partial-latest: keys without history rows are fine (a retention dropped them). Returns truth.py's
# status (0: equal).
compare_truth() {
	psql "$1" -X -q -A -t -v ON_ERROR_STOP=1 -c "SELECT row_to_json(t) FROM rsvp_counts t" >"$DIR/counts.jsonl"
	psql "$1" -X -q -A -t -v ON_ERROR_STOP=1 -c "SELECT row_to_json(t) FROM (
	SELECT DISTINCT ON (event_name, event_url, event_time, group_name, group_country, group_state, group_city,
		group_lat, group_lon, lat, lon, response) *
	FROM meetup_table ORDER BY event_name, event_url, event_time, group_name, group_country, group_state,
		group_city, group_lat, group_lon, lat, lon, response, batch_id DESC) t" >"$DIR/latest.jsonl"
	python3 tests/chaos/truth.py compare "$DIR/truth.jsonl" "$DIR/counts.jsonl" "$DIR/latest.jsonl" ${2:+"$2"} \
		>"$DIR/compare.txt"
}
