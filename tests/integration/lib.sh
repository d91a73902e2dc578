# Helpers for integration tests (sourced by tests/integration/test_*.sh after `set -euo pipefail`).
# A test calls lib_init NAME first; everything it starts with start_bg is stopped on exit, whatever the outcome.
# Environment: KAFKA_BROKERS (127.0.0.1:19092), PGURL (postgresql://postgres@127.0.0.1:15432/postgres), BIN (build/bin).

LIB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:19092}
# The services take librdkafka settings from KAFKA_* (common/kafka.h) and default to 127.0.0.1:19092: point
# every service a test starts at the test's Kafka, unless the test passes bootstrap.servers itself.
export KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BROKERS
export PGURL=${PGURL:-postgresql://postgres@127.0.0.1:15432/postgres}
BIN=${BIN:-build/bin}
[[ $BIN == /* ]] || BIN=$LIB_ROOT/$BIN
export BIN

source "$LIB_ROOT/tests/integration/ports.sh"
source "$LIB_ROOT/tests/integration/testdata.sh"

LIB_NAME=
LIB_PASSED=0
LIB_PIDS=()
declare -A LIB_BG=()

# lib_init NAME: sets TEST_NAME, SUFFIX (unique per run, [a-z0-9]) and TEST_DIR (var/test-tmp/NAME, emptied),
# changes to the repository root and installs the cleanup trap (EXIT, INT, TERM).
lib_init() {
	LIB_NAME=$1
	TEST_NAME=$1
	SUFFIX=$(printf '%x%04x' "$(date +%s)" $((RANDOM ^ $$ & 0xffff)))
	TEST_DIR=$LIB_ROOT/var/test-tmp/$1
	rm -rf "$TEST_DIR"
	mkdir -p "$TEST_DIR"
	cd "$LIB_ROOT"
	LIB_MAIN_PID=$BASHPID
	trap lib_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	export TEST_NAME SUFFIX TEST_DIR
}

# lib_cleanup: the EXIT trap. SIGTERM to every process from start_bg (and its process group), SIGKILL after
# 5 s (inside run.sh's 10 s grace after a timeout); drops the databases from pg_createdb if the test passed
# (kept for post-mortem otherwise).
lib_cleanup() {
	local rc=$? pid deadline db dbs=()
	# A forked child (e.g. start_bg's before its exec) inherits this trap: only the test's own shell cleans up.
	[[ $BASHPID == "$LIB_MAIN_PID" ]] || exit "$rc"
	for pid in "${LIB_PIDS[@]}"; do kill -TERM -- "-$pid" "$pid" 2>/dev/null || true; done
	deadline=$((SECONDS + 5))
	for pid in "${LIB_PIDS[@]}"; do
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
		kill -KILL -- "-$pid" "$pid" 2>/dev/null || true
	done
	port_release_all
	[[ -f $TEST_DIR/.databases ]] && mapfile -t dbs <"$TEST_DIR/.databases"
	if ((LIB_PASSED)); then
		for db in "${dbs[@]}"; do
			psql "$PGURL" -X -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
		done
	elif ((${#dbs[@]})); then
		echo "kept database(s) for inspection: ${dbs[*]}" >&2
	fi
	exit "$rc"
}

# pass: prints "PASS: NAME" and exits 0.
pass() {
	LIB_PASSED=1
	echo "PASS: $LIB_NAME"
	exit 0
}

# fail WHY...: prints the last lines of every background process's log, then "FAIL: NAME: WHY", exits 1.
fail() {
	local name
	for name in "${!LIB_BG[@]}"; do
		echo "--- last lines of $TEST_DIR/$name.log" >&2
		tail -n 15 "$TEST_DIR/$name.log" >&2 2>/dev/null || true
	done
	echo "FAIL: $LIB_NAME: $*"
	exit 1
}

# wait_for CMD TIMEOUT_S: evaluates CMD (a string) every 0.1 s until it succeeds (return 0) or TIMEOUT_S
# seconds (may be fractional) pass (return 1). Use as: wait_for "[[ \$(kafka_count t) -ge 10 ]]" 30 || fail "..."
wait_for() {
	local cmd=$1 timeout=${2:-30} deadline
	deadline=$(($(date +%s%N) / 1000000 + $(awk -v t="$timeout" 'BEGIN { printf "%d", t * 1000 }')))
	while :; do
		eval "$cmd" >/dev/null 2>&1 && return 0
		(($(date +%s%N) / 1000000 >= deadline)) && return 1
		sleep 0.1
	done
}

# kafka_topic NAME PARTITIONS [RF]: creates the topic on $KAFKA_BROKERS unless it exists (Kafka's TopicCommand)
# and waits until its metadata shows every partition.
kafka_topic() {
	KAFKA_BROKERS=$KAFKA_BROKERS "$LIB_ROOT/deploy/local/kafka.sh" topic "$@" >/dev/null
}

# kafka_count TOPIC: prints the number of committed messages in TOPIC (read_committed, up to the current end).
kafka_count() {
	local out
	out=$(timeout 60 kcat -C -b "$KAFKA_BROKERS" -t "$1" -o beginning -e -q -X isolation.level=read_committed \
		-f '%p\n' 2>/dev/null) || return 1
	[[ -z $out ]] && echo 0 || wc -l <<<"$out"
}

# pg_createdb NAME: creates database NAME_SUFFIX (lowercased) and prints its URL; dropped at exit if the test passes.
pg_createdb() {
	local db base query="" prefix
	db=$(tr 'A-Z' 'a-z' <<<"${1}_$SUFFIX" | tr -c 'a-z0-9_\n' '_')
	psql "$PGURL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" >/dev/null || return 1
	echo "$db" >>"$TEST_DIR/.databases" # a file, not a variable: callers run this in $(...)
	base=${PGURL%%\?*}
	[[ $PGURL == *\?* ]] && query="?${PGURL#*\?}"
	if [[ ${base#*://} == */* ]]; then prefix=${base%/*}; else prefix=$base; fi
	echo "$prefix/$db$query"
}

# psql_q URL SQL: runs SQL, prints tuples only (unaligned, fields separated by |); fails on any SQL error.
psql_q() {
	psql "$1" -X -q -A -t -v ON_ERROR_STOP=1 -c "$2"
}

# start_bg NAME CMD...: starts CMD in the background (own process group), output to $TEST_DIR/NAME.log.
# Sets BG_PID; bg_pid NAME prints it later; stopped by the EXIT trap if still running.
start_bg() {
	local name=$1
	shift
	(
		trap - EXIT INT TERM
		exec setsid "$@"
	) >"$TEST_DIR/$name.log" 2>&1 </dev/null &
	BG_PID=$!
	LIB_PIDS+=("$BG_PID")
	# tests/run.sh kills what is left if the test itself is killed before its trap could run
	[[ -n ${LIB_PIDFILE:-} ]] && echo "$BG_PID" >>"$LIB_PIDFILE"
	# Until the child has exec'd it is a copy of this shell (same traps): wait for the exec, so that a signal
	# sent right away reaches the command itself.
	local self i
	self=$(tr '\0' ' ' </proc/$BASHPID/cmdline)
	for ((i = 0; i < 200; i++)); do
		[[ $(tr '\0' ' ' 2>/dev/null </proc/$BG_PID/cmdline) == "$self" ]] || break
		sleep 0.01
	done
	LIB_BG[$name]=$BG_PID
}

bg_pid() { echo "${LIB_BG[$1]}"; }

# stop_bg NAME [TIMEOUT_S]: SIGTERM to NAME, waits (default 30 s, then SIGKILL) and returns its exit status.
stop_bg() {
	local pid=${LIB_BG[$1]} timeout=${2:-30} rc=0 deadline
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + timeout))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && { kill -KILL -- "-$pid" "$pid" 2>/dev/null || true; }
	wait "$pid" || rc=$?
	return "$rc"
}

# need_bin NAME...: fails the test unless every $BIN/NAME exists (build them with make first).
need_bin() {
	local b
	for b in "$@"; do [[ -x $BIN/$b ]] || fail "missing binary $BIN/$b (run make)"; done
}
