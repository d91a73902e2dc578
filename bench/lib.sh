# bench/lib.sh: helpers shared by bench/run.sh, bench/spark.sh and bench/ab.sh (sourced, never run): progress lines,
# the Kafka/PostgreSQL the benchmark runs against, topic admin, and per-process CPU and memory read from
# /proc. Every topic and database a benchmark makes carries the prefix in $BENCH_ID, so cleanup never
# touches anyone else's.

BENCH_T0=${BENCH_T0:-$(date +%s)}

# progress MSG...: one line on stderr with the elapsed time, so a long run shows where it is.
progress() { printf '[bench %4ds] %s\n' $(($(date +%s) - BENCH_T0)) "$*" >&2; }
bench_die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# now_ms: wall clock in milliseconds.
now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }

# bench_stack: sets KAFKA_BROKERS and PGURL. Taken from the environment when both are set; otherwise
# deploy/local/stack.sh up starts (or reuses) the project's stack. If its ports are held by another
# stack that answers (a shared dev stack), the benchmark runs against that one and says so.
bench_stack() {
	if [[ -n ${KAFKA_BROKERS:-} && -n ${PGURL:-} ]]; then
		progress "using KAFKA_BROKERS=$KAFKA_BROKERS PGURL=$PGURL from the environment"
		return 0
	fi
	local out
	if out=$(deploy/local/stack.sh up 2>&1); then
		KAFKA_BROKERS=$(sed -n 's/^ *export KAFKA_BROKERS=//p' <<<"$out")
		PGURL=$(sed -n 's/^ *export PGURL=\([^ ]*\).*/\1/p' <<<"$out")
		progress "local stack up: KAFKA_BROKERS=$KAFKA_BROKERS PGURL=$PGURL"
	else
		KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:19092}
		PGURL=${PGURL:-postgresql://postgres@127.0.0.1:15432/postgres}
		if kcat -b "$KAFKA_BROKERS" -L -m 5 >/dev/null 2>&1 && psql -XAtq "$PGURL" -c 'select 1' >/dev/null 2>&1; then
			progress "deploy/local/stack.sh up failed (ports held by a running stack); using that stack: KAFKA_BROKERS=$KAFKA_BROKERS PGURL=$PGURL"
		else
			printf '%s\n' "$out" >&2
			bench_die "no Kafka/PostgreSQL: deploy/local/stack.sh up failed and nothing answers at $KAFKA_BROKERS / $PGURL"
		fi
	fi
	[[ -n $KAFKA_BROKERS && -n $PGURL ]] || bench_die "could not read KAFKA_BROKERS/PGURL from deploy/local/stack.sh up"
	export KAFKA_BROKERS PGURL
}

# kafka_libs: prints a directory of Kafka jars for the admin tools (KAFKA_LIBS, or the local stack's).
kafka_libs() {
	local d
	for d in "${KAFKA_LIBS:-}" var/kafka/libs; do
		[[ -n $d ]] && compgen -G "$d/kafka-tools*.jar" >/dev/null && { echo "$d"; return 0; }
	done
	return 1
}

# topic_create NAME PARTITIONS: creates the topic (TopicCommand when the jars are at hand, else the
# broker's auto-creation through a metadata request), then waits until its partitions have leaders.
topic_create() {
	local libs deadline=$((SECONDS + 30))
	if libs=$(kafka_libs); then
		java -cp "$libs/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" \
			--create --if-not-exists --topic "$1" --partitions "$2" --replication-factor 1 >/dev/null 2>&1 || true
	fi
	until [[ $(kcat -b "$KAFKA_BROKERS" -L -t "$1" -m 5 2>/dev/null | grep -c 'partition .*leader [0-9]') -ge 1 ]]; do
		((SECONDS < deadline)) || bench_die "topic $1 not created"
		sleep 0.2
	done
}

# topics_delete REGEX: deletes this benchmark's topics matching REGEX (best effort: needs the jars).
topics_delete() {
	local libs
	libs=$(kafka_libs) || return 0
	java -cp "$libs/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" \
		--delete --if-exists --topic "$1" >/dev/null 2>&1 || true
}

# db_url NAME: PGURL with its database replaced by NAME.
db_url() { echo "${PGURL%/*}/$1"; }

# drop_databases PREFIX: drops every database whose name starts with PREFIX (a benchmark's own).
drop_databases() {
	local db
	for db in $(psql -XAtq "$PGURL" -c "select datname from pg_database where datname like '${1}%'" 2>/dev/null); do
		psql -XAtq "$PGURL" -c "drop database if exists $db with (force)" >/dev/null 2>&1 || true
	done
}

# cpu_ticks PID: utime+stime of PID in clock ticks (0 if gone).
cpu_ticks() {
	[[ -r /proc/$1/stat ]] || { echo 0; return; }
	sed -e 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# cpu_children_ticks PID: cutime+cstime of PID (CPU of its reaped children).
cpu_children_ticks() {
	[[ -r /proc/$1/stat ]] || { echo 0; return; }
	sed -e 's/^.*) //' "/proc/$1/stat" | awk '{ print $14 + $15 }'
}

CLK_TCK=$(getconf CLK_TCK)

# rss_kb PID FIELD: VmRSS or VmHWM of PID in kB (0 if gone).
rss_kb() { awk -v f="$2:" '$1 == f { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# listener_pid PORT: pid of the process listening on TCP PORT (empty if unknown).
listener_pid() { ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2; }

# pg_postmaster_pid: the postmaster of the PostgreSQL in $PGURL (empty if not on this machine/readable).
pg_postmaster_pid() {
	local dir
	dir=$(psql -XAtq "$PGURL" -c 'show data_directory' 2>/dev/null) || return 0
	[[ -r $dir/postmaster.pid ]] && head -n1 "$dir/postmaster.pid"
}

# pg_cpu_ticks POSTMASTER: CPU of the whole PostgreSQL instance: every live process of it plus what
# its reaped children used (a backend that ends during the run is counted by the postmaster's cutime).
pg_cpu_ticks() {
	local pm=$1 total p
	[[ -n $pm ]] || { echo 0; return; }
	total=$(($(cpu_ticks "$pm") + $(cpu_children_ticks "$pm")))
	for p in $(pgrep -P "$pm" 2>/dev/null); do total=$((total + $(cpu_ticks "$p"))); done
	echo "$total"
}

# stop_pid PID [SECONDS]: SIGTERM, wait for exit (kill -9 after the deadline).
stop_pid() {
	local pid=$1 deadline=$((SECONDS + ${2:-15}))
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then kill -KILL "$pid" 2>/dev/null; break; fi
		sleep 0.1
	done
	wait "$pid" 2>/dev/null || true
}

# wait_ready PORT SECONDS: polls http://127.0.0.1:PORT/readyz until 200.
wait_ready() {
	local deadline=$((SECONDS + $2))
	until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz") == 200 ]]; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# stats: reads numbers (one a line) and prints "median min max n".
stats() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan nan nan 0"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		print m, v[1], v[NR], NR }'
}

# fmt_stat "median min max n" [DECIMALS] [SCALE]: "123 (110-130, n=3)".
fmt_stat() {
	awk -v d="${2:-0}" -v s="${3:-1}" '{
		if ($4 == 0) { print "n/a"; exit }
		f = "%." d "f"
		if ($4 == 1) printf f " (n=1)\n", $1 * s
		else printf f " (" f "-" f ", n=%d)\n", $1 * s, $2 * s, $3 * s, $4 }' <<<"$1"
}

# synthetic_input REPLAY: sets DATA to the file of N synthetic RSVPs (seed SEED) in CACHE/bench, made once with
# REPLAY (rsvp-replay --dump: the bytes the pipeline reads from the stream) and reused, and BYTES to its size.
synthetic_input() {
	DATA=$CACHE/bench/synthetic-s$SEED-n$N.ndjson
	if [[ ! -s $DATA ]]; then
		progress "generating $N synthetic RSVPs (seed $SEED) into $DATA"
		mkdir -p "$(dirname "$DATA")"
		"$1" --synthetic --seed "$SEED" --count "$N" --start-mtime 1700000000000 --dump --metrics-addr= \
			>"$DATA.tmp"
		mv "$DATA.tmp" "$DATA"
	fi
	BYTES=$(stat -c %s "$DATA")
}
