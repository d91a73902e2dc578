#!/usr/bin/env bash
# test-timeout: 600
# test_chaos_short_asan.sh: the short chaos run (30k RSVPs, every fault kind) with every service and rsvpctl
# built with AddressSanitizer + UndefinedBehaviorSanitizer (build/asan/bin, from `make asan`, which `make test`
# runs first): no sanitizer report in any child's output, clean stop, and 0 mismatches against the truth.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_chaos_short_asan
ASAN_BIN=${ASAN_BIN:-$LIB_ROOT/build/asan/bin}
for b in rsvp-replay rsvp-ingestor rsvp-parser rsvp-aggregator rsvp-writer rsvpctl; do
	[[ -x $ASAN_BIN/$b ]] || fail "missing $ASAN_BIN/$b (run make asan)"
done
out=$TEST_DIR/chaos.out
rc=0
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	BIN=$ASAN_BIN CHAOS_VAR=$TEST_DIR/var tests/chaos/run.sh --short --count 30000 --duration 45 \
	--seed "${CHAOS_SEED:-9}" >"$out" 2>&1 || rc=$?
cat "$out"
((rc == 0)) || fail "chaos run under ASan+UBSan failed (exit $rc; logs in ${TEST_DIR#$LIB_ROOT/}/var)"
grep -q '^PASS: chaos short' "$out" || fail "no PASS line from tests/chaos/run.sh"
pass
