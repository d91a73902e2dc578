#!/usr/bin/env bash
# test_ingestor_second_replica_fences_first: a second ingestor for the same source URL and topic
# gets the same transactional.id; its init_transactions fences the first one, which exits 1
# (fatal: fenced) while the second takes over from the committed resume point: the topic still
# holds the timeline exactly once.
set -euo pipefail
. "$(dirname "$0")/ingestor_lib.sh"
ingestor_init test_ingestor_second_replica_fences_first

ARGS=(--file "$DATA" --loop --count 8000 --rate 2000)
start_replay "${ARGS[@]}"
start_ingestor INITIAL_SINCE_MTIME=0
FIRST=$ING_PID
wait_for "[ \$(metric rsvp_ingestor_transactions_total) -ge 2 ]" 30 || fail "first replica commits nothing"
start_ingestor INITIAL_SINCE_MTIME=0
deadline=$((SECONDS + 30))
while kill -0 "$FIRST" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
kill -0 "$FIRST" 2>/dev/null && fail "first replica still running after the second started"
rc=0
wait "$FIRST" || rc=$?
[ "$rc" -eq 1 ] || fail "fenced replica exited $rc, want 1"
grep -qi 'fenced' "$TEST_DIR/ingestor1.log" || fail "first replica did not log the fencing"
wait_topic_count 8000 60 || fail "topic has $(topic_count) of 8000 messages"
stop_ingestor
compare_with_dump "${ARGS[@]}"
pass
