#!/usr/bin/env bash
# test_chaos_truth_matches_reference.sh: the chaos runs' ground truth (tests/chaos/truth.py) extracts the same
# 12-column key as the reference Spark job: counting the recorded RSVPs reproduces
# reference-counts-recorded.jsonl key by key, and the comparison reports a lost, an extra and a wrong key.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_chaos_truth_matches_reference
REC=$TESTDATA_RECORDED REF=$TESTDATA_REFERENCE
[[ -f $REC && -f $REF ]] || fail "recorded data not found in $TESTDATA_DIR"
python3 tests/chaos/truth.py count "$REC" >"$TEST_DIR/truth.jsonl" 2>"$TEST_DIR/truth.log" || fail "truth.py count failed"
python3 tests/chaos/truth.py compare "$TEST_DIR/truth.jsonl" "$REF" "$REF" >"$TEST_DIR/cmp.txt" ||
	fail "truth differs from the reference: $(cat "$TEST_DIR/cmp.txt")"
grep -qx 'mismatches 0' "$TEST_DIR/cmp.txt" || fail "unexpected comparison: $(cat "$TEST_DIR/cmp.txt")"
# a broken store: one key dropped, one doubled, one invented -> 3 mismatches, exit 1
python3 - "$REF" >"$TEST_DIR/broken.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows = rows[1:]
rows[0]["response_count"] *= 2
extra = dict(rows[1]); extra["event_name"] = "invented"; rows.append(extra)
for r in rows: print(json.dumps(r))
PY
rc=0
python3 tests/chaos/truth.py compare "$TEST_DIR/truth.jsonl" "$TEST_DIR/broken.jsonl" "$REF" >"$TEST_DIR/cmp2.txt" || rc=$?
((rc == 1)) || fail "compare of a broken store exited $rc, want 1"
grep -qx 'mismatches 3' "$TEST_DIR/cmp2.txt" || fail "broken store: $(cat "$TEST_DIR/cmp2.txt")"
pass
