#!/usr/bin/env bash
# `make test`: installs what is missing, builds, runs the unit tests (plain and under ASan+UBSan), starts the
# local stack and runs every tests/integration/test_*.sh with a timeout. Ends with a summary table and a last
# line "N passed, M failed" (CI reads it); exit 1 if anything failed.
#
# N and M count tests: unit-test binaries (from tests/run-unit.sh's "unit: N passed, M failed") and integration
# scripts. A failed step that runs no tests (deps, a build, the stack) counts as one failure; integration tests
# that could not run because the stack did not start count as failed.
#
# Environment:
#   TESTS=REGEX          only integration tests whose name matches (grep -E), e.g. TESTS='writer|parser'
#   TEST_TIMEOUT=300     per integration test, seconds (SIGTERM, SIGKILL 10 s later); a test that needs more
#                        says so in a line "# test-timeout: SECONDS" (the larger of the two applies)
#   PHASES="deps build unit asan stack integration"   the steps to run, in this order
#   KEEP_STACK=1         leave the stack running afterwards (default); KEEP_STACK=0 stops it
#   KAFKA_BROKERS + PGURL   both set: use that external stack, do not start one
#   KAFKA_PORT, KAFKA_CONTROLLER_PORT, PG_PORT, KAFKA_VAR, PG_VAR   passed to deploy/local/stack.sh
#   BUILD (build), BIN ($BUILD/bin)   INTEGRATION_DIR (tests/integration: only to test this script)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PROG=test
source deploy/local/common.sh

TEST_TIMEOUT=${TEST_TIMEOUT:-300}
TESTS=${TESTS:-}
PHASES=" ${PHASES:-deps build unit asan stack integration} "
KEEP_STACK=${KEEP_STACK:-1}
LOGS=$ROOT/var/test-logs
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log "$LOGS"/*.pids

# The stack scripts' KAFKA_* settings go to deploy/local/stack.sh only: the services and tests built here pass
# every KAFKA_* variable to librdkafka (common/kafka.h), so they must not see them.
STACK_VARS=(KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_VAR KAFKA_LIBS KAFKA_HEAP KAFKA_START_TIMEOUT KAFKA_STOP_TIMEOUT
	KAFKA_MAVEN_REPO KAFKA3_PORTS KAFKA3_CONTROLLER_PORTS KAFKA3_HEAP)
for v in "${STACK_VARS[@]}"; do export -n "$v" 2>/dev/null; done
stack_cmd() {
	local v a=()
	for v in "${STACK_VARS[@]}"; do [[ -n ${!v+x} ]] && a+=("$v=${!v}"); done
	env "${a[@]}" "$@"
}

PASSED=0
FAILED=0
ROWS=() # "name<TAB>result<TAB>seconds<TAB>detail"
T_ALL=$(now_ms)

row() { ROWS+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"${4:-}"); }
enabled() { [[ $PHASES == *" $1 "* ]]; }

# step NAME CMD...: runs CMD with its output in var/test-logs/NAME.log, prints one line (and the log's tail on
# failure), records a row. Returns CMD's status.
step() {
	local name=$1 t0 rc=0 secs
	shift
	t0=$(now_ms)
	printf '== %-12s %s\n' "$name" "$*"
	"$@" >"$LOGS/$name.log" 2>&1 || rc=$?
	secs=$(since "$t0")
	if ((rc == 0)); then
		printf '   %-12s ok (%s s)\n' "$name" "$secs"
	else
		printf '   %-12s FAILED, exit %d (%s s); last lines of %s:\n' "$name" "$rc" "$secs" "${LOGS#$ROOT/}/$name.log"
		# compiler errors, not the last CC lines, are what a failed build needs to show
		if grep -qE 'error:|\*\*\*' "$LOGS/$name.log" && [[ $1 == make ]]; then
			grep -E 'error:|\*\*\*' "$LOGS/$name.log" | head -n 25 | sed 's/^/   | /'
		else
			tail -n 40 "$LOGS/$name.log" | sed 's/^/   | /'
		fi
	fi
	STEP_SECS=$secs
	return "$rc"
}

# count_step NAME RC: a step without its own test count: one failure if it failed.
count_step() {
	if (($2 == 0)); then row "$1" ok "$STEP_SECS"; else row "$1" FAILED "$STEP_SECS"; FAILED=$((FAILED + 1)); fi
}

# unit_step NAME RC: adds the "unit: N passed, M failed" of the step's log to the totals.
unit_step() {
	local line n m
	line=$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed' "$LOGS/$1.log" | tail -n 1)
	if [[ -n $line ]]; then
		read -r _ n _ m _ <<<"$line"
		PASSED=$((PASSED + n))
		FAILED=$((FAILED + m))
		echo "   $line"
		row "$1" "$( (($2 == 0 && m == 0)) && echo ok || echo FAILED)" "$STEP_SECS" "$n passed, $m failed"
		# a non-zero exit without failed tests (e.g. a test binary did not build) still counts
		(($2 != 0 && m == 0)) && FAILED=$((FAILED + 1))
	else
		count_step "$1" "$2"
	fi
	return 0
}

# ---------------------------------------------------------------------------------------------- steps

if enabled deps; then
	rc=0; step deps deploy/local/deps.sh || rc=$?
	[[ $rc == 0 ]] && sed 's/^/   /' "$LOGS/deps.log"
	count_step deps $rc
fi

if enabled build; then
	# -k: build everything that builds, so one broken binary does not hide the other services' results
	rc=0; step build make -k -j2 all || rc=$?
	count_step build $rc
fi

# The unit-test binaries the Makefile declares (its UNIT_TESTS), as build/tests/NAME paths.
mapfile -t UNIT_LIST < <(make -pq unit 2>/dev/null | sed -n 's/^UNIT_TESTS := //p' | tr ' ' '\n' | sed '/^$/d')

# unit_run NAME DIR: runs tests/run-unit.sh on every declared unit test as DIR/<test> (one not built = one
# failure); for when make could not get as far as running them itself.
unit_run() {
	local t list=()
	for t in "${UNIT_LIST[@]}"; do list+=("$2/$(basename "$t")"); done
	((${#list[@]})) || mapfile -t list < <(find "$2" -maxdepth 1 -type f -name 'test_*' -perm -u+x 2>/dev/null | LC_ALL=C sort)
	((${#list[@]})) || { echo "no unit tests found in $2"; return 1; }
	tests/run-unit.sh "${list[@]}"
}

if enabled unit; then
	rc=0; step unit make -k -j2 unit || rc=$?
	if ! grep -qE '^unit: [0-9]+ passed' "$LOGS/unit.log"; then
		# make stopped before running the tests (one did not compile): run those that did build.
		echo "   (make unit did not run the tests: running the ones that built)"
		mv "$LOGS/unit.log" "$LOGS/unit-make.log"
		rc=0; step unit unit_run unit "${BUILD:-build}/tests" || rc=$?
		row unit-build FAILED "" "see ${LOGS#$ROOT/}/unit-make.log (tests not built count below)"
	fi
	unit_step unit $rc
fi

if enabled asan; then
	rc=0; step asan-build make -k -j2 asan || rc=$?
	count_step asan-build $rc
	rc=0
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:strict_string_checks=1} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		step asan-unit unit_run asan-unit build/asan/tests || rc=$?
	unit_step asan-unit $rc
fi

# The stack: external if both endpoints are given, else ours (deploy/local/stack.sh).
STACK_OK=1
STARTED_STACK=0
if enabled stack || enabled integration; then
	if [[ -n ${KAFKA_BROKERS:-} && -n ${PGURL:-} ]]; then
		echo "== stack        external: KAFKA_BROKERS=$KAFKA_BROKERS PGURL=$PGURL (not started here)"
	elif enabled stack; then
		rc=0; step stack stack_cmd deploy/local/stack.sh up || rc=$?
		export KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-19092}
		PGURL=$(deploy/local/postgres.sh url)
		export PGURL
		if ((rc == 0)); then
			STARTED_STACK=1
			grep -E '^(kafka|postgres):' "$LOGS/stack.log" | sed 's/^/   /'
			count_step stack 0
		elif kcat -b "$KAFKA_BROKERS" -L -m 3 >/dev/null 2>&1 &&
			pg_isready -q -d "$PGURL"; then
			# Ports held by another stack that works (e.g. a shared dev stack): use it, say so loudly.
			echo "   WARNING: could not start our own stack, but $KAFKA_BROKERS and $PGURL answer: using them"
			echo "            (set KAFKA_PORT/KAFKA_CONTROLLER_PORT/PG_PORT for a private stack)"
			row stack "ok (external)" "$STEP_SECS" "$KAFKA_BROKERS, $PGURL"
		else
			STACK_OK=0
			count_step stack 1
		fi
	fi
fi
export KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:19092}
export PGURL=${PGURL:-postgresql://postgres@127.0.0.1:15432/postgres}
export BIN=${BIN:-$ROOT/${BUILD:-build}/bin}

# Integration tests: sorted, filtered by TESTS, each with a timeout and its own log.
if enabled integration; then
	mapfile -t tests < <(find "${INTEGRATION_DIR:-tests/integration}" -maxdepth 1 -name 'test_*.sh' -type f | LC_ALL=C sort)
	selected=()
	for t in "${tests[@]}"; do
		name=$(basename "$t" .sh)
		[[ -z $TESTS ]] || grep -qE -- "$TESTS" <<<"$name" || continue
		selected+=("$t")
	done
	echo "== integration ${#selected[@]} test(s)${TESTS:+ matching '$TESTS'}, timeout $TEST_TIMEOUT s each," \
		"KAFKA_BROKERS=$KAFKA_BROKERS PGURL=$PGURL"
	for t in "${selected[@]}"; do
		name=$(basename "$t" .sh)
		log=$LOGS/$name.log
		if ((STACK_OK == 0)); then
			printf '   %-44s SKIPPED (stack not up)\n' "$name"
			row "$name" "FAILED" 0 "not run: stack not up"
			FAILED=$((FAILED + 1))
			continue
		fi
		t0=$(now_ms)
		rc=0
		limit=$(sed -n 's/^# test-timeout: *\([0-9][0-9]*\).*/\1/p' "$t" | head -n 1)
		((${limit:-0} > TEST_TIMEOUT)) || limit=$TEST_TIMEOUT
		# (the outer 2>/dev/null silences bash's own "Killed" job notice)
		{ LIB_PIDFILE=$LOGS/$name.pids timeout -k 10 "$limit" bash "$t" >"$log" 2>&1 </dev/null; } 2>/dev/null || rc=$?
		secs=$(since "$t0")
		# Whatever a killed test could not clean up itself (lib.sh's start_bg records the pids).
		if [[ -s $LOGS/$name.pids ]]; then
			mapfile -t left < <(while read -r p; do pid_alive "$p" && echo "$p"; done <"$LOGS/$name.pids")
			((${#left[@]})) && kill -KILL "${left[@]}" 2>/dev/null
		fi
		if ((rc == 0)); then
			printf '   %-44s PASS    %7s s\n' "$name" "$secs"
			row "$name" PASS "$secs"
			PASSED=$((PASSED + 1))
		else
			result=FAIL
			((rc == 124 || rc == 137)) && result=TIMEOUT
			why=$(grep -E '^FAIL: ' "$log" | tail -n 1 | cut -c1-200)
			printf '   %-44s %-7s %7s s  (exit %d)\n' "$name" "$result" "$secs" "$rc"
			echo "   last lines of ${log#$ROOT/}:"
			tail -n 30 "$log" | sed 's/^/   | /'
			row "$name" "$result" "$secs" "${why:-exit $rc}"
			FAILED=$((FAILED + 1))
		fi
	done
fi

if ((STARTED_STACK)); then
	if [[ $KEEP_STACK == 0 ]]; then
		rc=0; step stack-down stack_cmd deploy/local/stack.sh down || rc=$?
		count_step stack-down $rc
	fi
fi

# ---------------------------------------------------------------------------------------------- summary

echo
echo "== summary (logs in ${LOGS#$ROOT/}/)"
printf '%-46s %-14s %9s  %s\n' STEP RESULT SECONDS DETAIL
for r in "${ROWS[@]}"; do
	IFS=$'\t' read -r n res s d <<<"$r"
	printf '%-46s %-14s %9s  %s\n' "$n" "$res" "$s" "$d"
done
printf '%-46s %-14s %9s\n' total "" "$(since "$T_ALL")"
if ((STARTED_STACK)) && [[ $KEEP_STACK != 0 ]]; then
	echo "stack left running (KAFKA_BROKERS=$KAFKA_BROKERS PGURL=$PGURL); stop it: deploy/local/stack.sh down" \
		"(or run with KEEP_STACK=0)"
fi
# CI shows only the end of this output: the failures, with the end of their logs, come last.
if ((FAILED)); then
	echo
	echo "== failures (the last lines of each log; whole logs in ${LOGS#$ROOT/}/)"
	for r in "${ROWS[@]}"; do
		IFS=$'\t' read -r n res s d <<<"$r"
		[[ $res == PASS || $res == ok ]] && continue
		echo "-- $n: $res after $s s: $d"
		[[ -f $LOGS/$n.log ]] && tail -n "${FAIL_TAIL:-12}" "$LOGS/$n.log" | cut -c1-300 | sed 's/^/   | /'
	done
	printf 'failed:'
	for r in "${ROWS[@]}"; do
		IFS=$'\t' read -r n res _ <<<"$r"
		[[ $res == PASS || $res == ok ]] || printf ' %s' "$n"
	done
	echo
fi
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
