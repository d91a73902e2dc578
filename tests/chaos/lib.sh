# lib.sh: the pieces of a pipeline run under faults that tests/chaos/run.sh and tests/soak/run.sh share
# (sourced, not run): the run's own Kafka and PostgreSQL, the supervisor's view, the faults, and the
# comparison with the truth. The caller sets BIN (the binaries), DIR (the run's folder: faults.txt,
# paused.pid, logs), T0 (its start, ms), KENV and PENV (env prefixes for deploy/local/kafka.sh and
# postgres.sh), KAFKA3 (0 or 1), PAUSE_S (how long a writer stays stopped), RAW, PARSED and DLQ (topic
# names), and defines log MESSAGE; deploy/local/common.sh is sourced (since, die).

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
