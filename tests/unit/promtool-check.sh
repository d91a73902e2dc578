#!/bin/bash
# promtool-check.sh: render the metrics text of common/metrics.c (via tests/unit/metrics_dump) and
# require `promtool check metrics` to accept it without a single complaint.
# Usage: tests/unit/promtool-check.sh [path/to/metrics_dump]   (default: $BUILD/tests/metrics_dump,
# built with make when missing; BUILD defaults to build)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
DUMP=${1:-$BUILD/tests/metrics_dump}
if [ $# -eq 0 ]; then
    make --no-print-directory BUILD="$BUILD" "$DUMP" >/dev/null
fi
PROMTOOL=${PROMTOOL:-promtool}
out=$("$DUMP") || { echo "FAIL: promtool-check: $DUMP exited non-zero"; exit 1; }
grep -q '^rsvp_dump_flush_duration_seconds_bucket{le="+Inf"} 100$' <<<"$out" ||
    { echo "FAIL: promtool-check: histogram missing from the output"; exit 1; }
set +e
complaints=$("$PROMTOOL" check metrics <<<"$out" 2>&1)
rc=$?
set -e
if [ $rc -ne 0 ] || [ -n "$complaints" ]; then
    echo "FAIL: promtool-check: promtool check metrics (rc $rc):"
    echo "$complaints"
    exit 1
fi
echo "PASS: promtool-check"
