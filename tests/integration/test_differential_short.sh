#!/usr/bin/env bash
# test-timeout: 600
# test_differential_short.sh: the short run of the differential test in `make test`: 1,500 lines generated
# from the recorded RSVPs with a fixed seed (every field perturbed: absent, null, other types, numeric strings,
# escapes, duplicate keys, single quotes, NaN tokens, truncated and non-JSON lines, ...) go through the whole
# pipeline (rsvp-replay -> ingestor -> parser -> aggregator -> writer under rsvpctl) and through the reference
# Spark job; rsvp_counts and the newest meetup_table row per key must equal the reference key by key, the raw
# topic must hold exactly the lines, the dead-letter topic exactly what the parser dead-letters
# (tests/differential/run.sh; `make differential` runs 10,000 lines). Installs PySpark outside the clone on first use
# (bench/spark.sh: SPARK_CACHE), so a fresh clone reuses it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_differential_short
need_bin rsvp-replay rsvp-ingestor rsvp-parser rsvp-aggregator rsvp-writer rsvpctl
out=$TEST_DIR/differential.out
rc=0
BIN=$BIN BUILD=${BUILD:-build} DIFF_DIR=$TEST_DIR/work tests/differential/run.sh --count "${DIFF_COUNT:-1500}" \
	--seed "${DIFF_SEED:-17}" >"$out" 2>&1 || rc=$?
cat "$out"
((rc == 0)) || fail "differential run failed (exit $rc; work directory ${TEST_DIR#$LIB_ROOT/}/work)"
grep -q '^PASS: differential' "$out" || fail "no PASS line from tests/differential/run.sh"
pass
