#!/usr/bin/env bash
# test_fuzz_regressions.sh: every saved fuzz input (tests/fuzz/regressions/<target>/: crashes found earlier and
# edge cases) still runs clean under ASan+UBSan in its libFuzzer target (tests/fuzz/run.sh --regress: builds
# fuzz_parser, fuzz_writer, fuzz_linesplit and fuzz_agg_rsvpwire with clang, replays, no fuzzing).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_fuzz_regressions
command -v clang >/dev/null || fail "clang not installed"
out=$TEST_DIR/fuzz.out
rc=0
FUZZ_BUILD=$TEST_DIR/build tests/fuzz/run.sh --regress >"$out" 2>&1 || rc=$?
cat "$out"
((rc == 0)) || fail "a regression input fails (exit $rc)"
n=$(grep -c '^PASS: fuzz_.* regressions' "$out" || true)
((n == 4)) || fail "$n of 4 targets replayed their regressions"
pass
