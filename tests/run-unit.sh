#!/bin/bash
# run-unit.sh: run each unit-test binary given as an argument, print one result line per binary and
# a final "unit: N passed, M failed"; exit 1 if any failed.
# Usage: tests/run-unit.sh build/tests/test_config build/tests/test_log ...
set -uo pipefail
passed=0
failed=0
failed_names=()
for t in "$@"; do
    name=$(basename "$t")
    if [ ! -x "$t" ]; then
        echo "FAIL: $name (not built: $t)"
        failed=$((failed + 1))
        failed_names+=("$name")
        continue
    fi
    log=$(mktemp)
    "$t" >"$log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        echo "PASS: $name"
        passed=$((passed + 1))
    else
        echo "FAIL: $name (exit $rc)"
        sed 's/^/    /' "$log"
        failed=$((failed + 1))
        failed_names+=("$name")
    fi
    rm -f "$log"
done
echo "unit: $passed passed, $failed failed"
[ $failed -eq 0 ]
