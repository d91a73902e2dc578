#!/usr/bin/env bash
# test_ingestor_far_future_mtime_does_not_stop_ingestion: rsvp-replay (--file-order) sends 3,000
# RSVPs of 2023 with two lines from the year 2100 among them (an unsorted stream: a line's mtime
# corrupted at the source) and one from a minute ago (within the clock, but years above the stream),
# and closes every connection after 400 messages, so the ingestor resumes from since_mtime again and
# again. Before the fix the first line from 2100 became the resume point: the source, honouring
# since_mtime, then sent only the lines above it, and everything else was lost while the ingestor
# stayed ready. Now all three are produced exactly once (the source sends them again after every
# reconnect: they are remembered), counted and logged, the resume point stays in 2023, and every
# other line arrives exactly once.
# Phase 2: a source whose every mtime is a day ahead of the clock, more lines than RESUME_MAX_HELD:
# the resume point cannot move, /readyz says why, and still nothing is lost or duplicated.
set -euo pipefail
. "$(dirname "$0")/ingestor_lib.sh"
ingestor_init test_ingestor_far_future_mtime_does_not_stop_ingestion
command -v python3 >/dev/null || fail "python3 not installed"

FAR=4102444800000 # 2100-01-01
"$BIN/rsvp-replay" --dump --synthetic --seed 3 --count 3000 --per-ms 1 --start-mtime "$START_MTIME" \
    >"$TEST_DIR/base.ndjson" 2>/dev/null
python3 - "$TEST_DIR/base.ndjson" "$TEST_DIR/stream.ndjson" "$FAR" <<'PY'
import json, sys, time
lines = open(sys.argv[1], "rb").read().splitlines()
far = int(sys.argv[3])
def moved(k, mtime):
    d = json.loads(lines[k])
    d["rsvp_id"], d["mtime"] = 900000000 + k, mtime
    return json.dumps(d).encode()
recent = int(time.time() * 1000) - 60000
out = (lines[:500] + [moved(500, recent)] + lines[500:1000] + [moved(1000, far)] + lines[1000:2000] +
       [moved(2000, far + 1)] + lines[2000:])
open(sys.argv[2], "wb").write(b"\n".join(out) + b"\n")
PY
N=3003
start_replay --file "$TEST_DIR/stream.ndjson" --file-order --fault-close-after 400
start_ingestor RESUME_WINDOW=20ms INITIAL_SINCE_MTIME=0
wait_topic_count "$N" 60 || fail "topic has $(topic_count) of $N lines after 60 s: ingestion stopped"
future=$(metric rsvp_ingestor_future_mtime_lines_total)
[ "$future" -eq 2 ] || fail "future_mtime_lines_total=$future, want 2"
grep -q '"msg":"line beyond the clock.*"rsvp_id":900001000,"mtime":'"$FAR" "$TEST_DIR/ingestor1.log" ||
    fail "the line beyond the clock was not logged with its rsvp_id and mtime"
[ "$(metric rsvp_ingestor_mtime_outliers_total)" -eq 1 ] ||
    fail "mtime_outliers_total=$(metric rsvp_ingestor_mtime_outliers_total), want 1 (the line of a minute ago)"
grep -q '"msg":"line far above the stream.*"rsvp_id":900000500' "$TEST_DIR/ingestor1.log" ||
    fail "the line far above the stream was not logged"
resume_s=$(metric rsvp_ingestor_last_mtime_seconds)
[ "$resume_s" -le $((START_MTIME / 1000 + 3)) ] || fail "resume point moved to $resume_s s"
[ "$(metric rsvp_ingestor_reconnects_total)" -ge 7 ] || fail "too few reconnects"
wait_for "curl -sf http://127.0.0.1:$ING_METRICS/readyz" 10 || fail "not ready: $(curl -s "http://127.0.0.1:$ING_METRICS/readyz")"
stop_ingestor
topic_dump "$TEST_DIR/got.raw"
LC_ALL=C sort "$TEST_DIR/got.raw" >"$TEST_DIR/got"
LC_ALL=C sort "$TEST_DIR/stream.ndjson" >"$TEST_DIR/want"
cmp -s "$TEST_DIR/want" "$TEST_DIR/got" ||
    fail "topic differs: $(LC_ALL=C comm -13 "$TEST_DIR/want" "$TEST_DIR/got" | wc -l) extra," \
        "$(LC_ALL=C comm -23 "$TEST_DIR/want" "$TEST_DIR/got" | wc -l) missing"

# Phase 2: 300 lines a day ahead of the clock, RESUME_MAX_HELD=100.
stop_bg replay 5 || true
TOPIC="$TOPIC.ahead"
python3 - "$TEST_DIR/base.ndjson" "$TEST_DIR/ahead.ndjson" <<'PY'
import json, sys, time
lines = open(sys.argv[1], "rb").read().splitlines()[:300]
t = int(time.time() * 1000) + 86400000
out = []
for k, l in enumerate(lines):
    d = json.loads(l)
    d["mtime"] = t + k
    out.append(json.dumps(d).encode())
open(sys.argv[2], "wb").write(b"\n".join(out) + b"\n")
PY
start_replay --file "$TEST_DIR/ahead.ndjson" --file-order
start_ingestor RESUME_MAX_HELD=100 STALL_TIMEOUT=1s INITIAL_SINCE_MTIME=0
wait_topic_count 300 30 || fail "phase 2: topic has $(topic_count) of 300"
wait_for "curl -s http://127.0.0.1:$ING_METRICS/readyz | grep -q 'resume point stuck'" 10 ||
    fail "phase 2: /readyz does not say the resume point is stuck: $(curl -s "http://127.0.0.1:$ING_METRICS/readyz")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ING_METRICS/readyz")" = 503 ] || fail "phase 2: ready"
# the quiet stream reconnects: all 300 come again (since_mtime cannot move), none is produced twice
r0=$(metric rsvp_ingestor_reconnects_total)
wait_for "[ \$(metric rsvp_ingestor_reconnects_total) -ge $((r0 + 2)) ]" 30 || fail "phase 2: no reconnect"
[ "$(metric rsvp_ingestor_future_mtime_lines_total)" -eq 300 ] ||
    fail "phase 2: future_mtime_lines_total=$(metric rsvp_ingestor_future_mtime_lines_total), want 300"
[ "$(metric rsvp_ingestor_resume_held_lines)" -eq 300 ] || fail "phase 2: held lines $(metric rsvp_ingestor_resume_held_lines)"
stop_ingestor
[ "$(topic_count)" -eq 300 ] || fail "phase 2: topic has $(topic_count) lines after the reconnects, want 300"
grep -q '"msg":"not ready".*resume point stuck' "$TEST_DIR/ingestor2.log" || fail "phase 2: not logged"
pass
