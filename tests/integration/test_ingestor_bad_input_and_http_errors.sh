#!/usr/bin/env bash
# test_ingestor_bad_input_and_http_errors: the source injects truncated, bad-UTF-8, huge (4 MB)
# and non-JSON lines and first answers 429 (then, on a second source, 503) with Retry-After: the
# ingestor backs off and reconnects, counts bad lines in /metrics (invalid ones still go to the
# raw topic for the parser to dead-letter, huge ones are skipped), and every real message of the
# timeline still lands exactly once.
set -euo pipefail
. "$(dirname "$0")/ingestor_lib.sh"
ingestor_init test_ingestor_bad_input_and_http_errors

# Phase 1: bad lines + 429.
ARGS=(--file "$DATA" --loop --count 3000)
start_replay "${ARGS[@]}" --fault-truncated-every 100 --fault-bad-utf8-every 150 \
    --fault-huge-every 1000 --fault-nonjson-every 200 --fault-status 429 --fault-status-count 2
start_ingestor
wait_for "[ \$(metric rsvp_ingestor_lines_total) -ge 3000 ]" 60 || fail "lines_total stuck at $(metric rsvp_ingestor_lines_total)"
bad_want=$(($(replay_faults truncated) + $(replay_faults bad_utf8) + $(replay_faults nonjson)))
huge_want=$(replay_faults huge)
[ "$bad_want" -gt 0 ] && [ "$huge_want" -gt 0 ] || fail "replay injected no faults"
wait_topic_count $((3000 + bad_want)) 30 || fail "topic has $(topic_count), want $((3000 + bad_want))"
wait_for "[ \$(metric rsvp_ingestor_invalid_lines_total) -eq $bad_want ]" 10 ||
    fail "invalid_lines_total $(metric rsvp_ingestor_invalid_lines_total), want $bad_want"
[ "$(metric rsvp_ingestor_oversize_lines_total)" -eq "$huge_want" ] ||
    fail "oversize_lines_total $(metric rsvp_ingestor_oversize_lines_total), want $huge_want"
[ "$(metric rsvp_ingestor_reconnects_total)" -ge 2 ] ||
    fail "reconnects_total $(metric rsvp_ingestor_reconnects_total) after two 429s"
grep -q '"http_status":429' "$TEST_DIR/ingestor1.log" || fail "no 429 in the log"
if command -v promtool >/dev/null; then
    curl -sf "http://127.0.0.1:$ING_METRICS/metrics" | promtool check metrics >"$TEST_DIR/promtool" 2>&1 ||
        fail "promtool check metrics: $(head -3 "$TEST_DIR/promtool")"
fi
stop_ingestor
# Every timeline message exactly once; the extras are exactly the injected invalid lines.
"$BIN/rsvp-replay" --dump --start-mtime "$START_MTIME" "${ARGS[@]}" 2>/dev/null | LC_ALL=C sort >"$TEST_DIR/want"
topic_dump "$TEST_DIR/got.raw"
LC_ALL=C sort "$TEST_DIR/got.raw" >"$TEST_DIR/got"
missing=$(LC_ALL=C comm -23 "$TEST_DIR/want" "$TEST_DIR/got" | wc -l)
LC_ALL=C comm -13 "$TEST_DIR/want" "$TEST_DIR/got" >"$TEST_DIR/extra"
[ "$missing" -eq 0 ] || fail "$missing timeline messages missing from the topic"
[ "$(wc -l <"$TEST_DIR/extra")" -eq "$bad_want" ] || fail "$(wc -l <"$TEST_DIR/extra") extra lines, want $bad_want"
[ -z "$(LC_ALL=C sort -u "$TEST_DIR/extra" | LC_ALL=C comm -12 - "$TEST_DIR/want")" ] ||
    fail "a timeline message was duplicated"
! grep -q '^{"huge' "$TEST_DIR/got" || fail "a huge line reached the topic"

# Phase 2: 503 with Retry-After on a fresh source and topic.
stop_bg replay 5 || true
TOPIC="$TOPIC.503"
start_replay --file "$DATA" --loop --count 500 --fault-status 503 --fault-status-count 3
start_ingestor
wait_topic_count 500 30 || fail "503 phase: topic has $(topic_count) of 500"
[ "$(metric rsvp_ingestor_reconnects_total)" -ge 3 ] ||
    fail "503 phase: reconnects_total $(metric rsvp_ingestor_reconnects_total)"
grep -q '"http_status":503' "$TEST_DIR/ingestor2.log" || fail "no 503 in the log"
stop_ingestor
pass
