#!/usr/bin/env bash
# test_ingestor_unsorted_stream_exactly_once: what docs/architecture.md ("Resuming") promises for a
# source that sends lines out of mtime order. The stream: 4,000 RSVPs one millisecond apart, every
# 7th moved back by 1-400 ms (late lines), played by rsvp-replay in that order (--file-order; on a
# reconnect it sends every line with mtime >= since_mtime, in the same order).
#  1. within a connection: no reconnect, every line once (RESUME_WINDOW=0: the window plays no part);
#  2. across reconnects: every connection closed after 800 messages; with RESUME_WINDOW=500ms (more
#     than any line is late; each reconnect gets ~500 lines again, so a connection must carry more)
#     every line once; the same stream with RESUME_WINDOW=0 loses the late
#     lines the source had not sent at a disconnect (the stated bound, and proof that the window is
#     what saves them), and duplicates none;
#  3. across restarts: a paced stream (1,000 lines/s), the ingestor killed with SIGKILL twice and
#     restarted (state rebuilt from the topic): every line once.
set -euo pipefail
. "$(dirname "$0")/ingestor_lib.sh"
ingestor_init test_ingestor_unsorted_stream_exactly_once
command -v python3 >/dev/null || fail "python3 not installed"

"$BIN/rsvp-replay" --dump --synthetic --seed 11 --count 4000 --per-ms 1 --start-mtime "$START_MTIME" \
    >"$TEST_DIR/base.ndjson" 2>/dev/null
python3 - "$TEST_DIR/base.ndjson" "$TEST_DIR/stream.ndjson" <<'PY'
import json, random, sys
rnd = random.Random(7)
out = []
for k, l in enumerate(open(sys.argv[1], "rb").read().splitlines()):
    if k % 7 == 6:
        d = json.loads(l)
        d["mtime"] -= rnd.randint(1, 400)
        l = json.dumps(d).encode()
    out.append(l)
open(sys.argv[2], "wb").write(b"\n".join(out) + b"\n")
PY
N=4000
LC_ALL=C sort "$TEST_DIR/stream.ndjson" >"$TEST_DIR/want"

# check_topic CASE: the topic against the stream; sets MISSING and EXTRA.
check_topic() {
    topic_dump "$TEST_DIR/got.raw"
    LC_ALL=C sort "$TEST_DIR/got.raw" >"$TEST_DIR/got"
    MISSING=$(LC_ALL=C comm -23 "$TEST_DIR/want" "$TEST_DIR/got" | wc -l)
    EXTRA=$(LC_ALL=C comm -13 "$TEST_DIR/want" "$TEST_DIR/got" | wc -l)
    echo "# $1: $(wc -l <"$TEST_DIR/got") lines, $MISSING missing, $EXTRA extra" >&2
}

# 1. within one connection
BASE_TOPIC=$TOPIC
TOPIC=$BASE_TOPIC.one
start_replay --file "$TEST_DIR/stream.ndjson" --file-order
start_ingestor RESUME_WINDOW=0 INITIAL_SINCE_MTIME=0
wait_topic_count "$N" 60 || fail "case 1: topic has $(topic_count) of $N"
[ "$(metric rsvp_ingestor_reconnects_total)" -eq 0 ] || fail "case 1: reconnected"
stop_ingestor
check_topic "within a connection"
((MISSING == 0 && EXTRA == 0)) || fail "case 1: $MISSING missing, $EXTRA extra"
stop_bg replay 5 || true

# 2. across reconnects, with and without the window
start_replay --file "$TEST_DIR/stream.ndjson" --file-order --fault-close-after 800
TOPIC=$BASE_TOPIC.window
start_ingestor RESUME_WINDOW=500ms INITIAL_SINCE_MTIME=0
wait_topic_count "$N" 60 || fail "case 2: topic has $(topic_count) of $N"
[ "$(metric rsvp_ingestor_reconnects_total)" -ge 10 ] || fail "case 2: too few reconnects"
stop_ingestor
check_topic "across reconnects, RESUME_WINDOW=500ms"
((MISSING == 0 && EXTRA == 0)) || fail "case 2: $MISSING missing, $EXTRA extra"
TOPIC=$BASE_TOPIC.nowindow
start_ingestor RESUME_WINDOW=0 INITIAL_SINCE_MTIME=0
# the end of the stream: its last line (the newest: never lost) is in the topic
has_last() {
    topic_dump "$TEST_DIR/now.raw"
    grep -qxF -- "$(tail -n 1 "$TEST_DIR/stream.ndjson")" "$TEST_DIR/now.raw"
}
wait_for has_last 60 || fail "case 2 without window: the stream did not end"
stop_ingestor
check_topic "across reconnects, RESUME_WINDOW=0"
((EXTRA == 0)) || fail "case 2 without window: $EXTRA duplicated"
((MISSING > 0)) || fail "case 2 without window: nothing lost: the stream does not test the window"
stop_bg replay 5 || true

# 3. across restarts (SIGKILL), paced
TOPIC=$BASE_TOPIC.restart
start_replay --file "$TEST_DIR/stream.ndjson" --file-order --rate 1000
for kill_at in 1200 2600; do
    start_ingestor RESUME_WINDOW=500ms INITIAL_SINCE_MTIME=0 COMMIT_INTERVAL=300ms
    wait_for "[ \$(metric rsvp_ingestor_produced_total) -ge $((kill_at - ${committed:-0})) ]" 30 ||
        fail "case 3: run $ING_RUN produced $(metric rsvp_ingestor_produced_total)"
    kill -9 "$ING_PID"
    wait "$ING_PID" 2>/dev/null || true
    committed=$(topic_count)
done
start_ingestor RESUME_WINDOW=500ms INITIAL_SINCE_MTIME=0
wait_topic_count "$N" 60 || fail "case 3: topic has $(topic_count) of $N"
grep -q '"msg":"resume state recovered".*"resume_mtime":1700' "$TEST_DIR/ingestor$ING_RUN.log" ||
    fail "case 3: no resume point recovered"
stop_ingestor
check_topic "across restarts"
((MISSING == 0 && EXTRA == 0)) || fail "case 3: $MISSING missing, $EXTRA extra"
pass
