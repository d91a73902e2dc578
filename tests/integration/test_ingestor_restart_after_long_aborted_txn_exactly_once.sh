#!/usr/bin/env bash
# test_ingestor_restart_after_long_aborted_txn_exactly_once: a killed ingestor leaves an open
# transaction longer than RECOVER_TAIL per partition (the restart aborts it, so the tail window
# holds only aborted records). The restart must still find the committed resume point behind
# them, not fall back to INITIAL_SINCE_MTIME: the topic ends with every message exactly once.
set -euo pipefail
. "$(dirname "$0")/ingestor_lib.sh"
ingestor_init test_ingestor_restart_after_long_aborted_txn_exactly_once


ARGS=(--file "$DATA" --loop --count 5000 --rate 2000)
start_replay "${ARGS[@]}"
# run 1: commits normally, stopped cleanly with some committed data
start_ingestor COMMIT_INTERVAL=100ms INITIAL_SINCE_MTIME=0 RECOVER_TAIL=50
wait_for "[ \$(metric rsvp_ingestor_produced_total) -ge 1000 ]" 30 || fail "run 1 did not produce"
stop_ingestor
committed1=$(topic_count)
# run 2: one long transaction (never committed), killed: > RECOVER_TAIL aborted records/partition.
# Commits fall on the wall clock's multiples of COMMIT_INTERVAL: keep clear of a 10-minute boundary.
s=$(($(date +%s) % 600))
((s < 540)) || sleep $((601 - s))
start_ingestor COMMIT_INTERVAL=10m COMMIT_MESSAGES=1000000 INITIAL_SINCE_MTIME=0 RECOVER_TAIL=50
wait_for "[ \$(metric rsvp_ingestor_produced_total) -ge 1500 ]" 30 || fail "run 2 did not produce"
kill -9 "$ING_PID"
wait "$ING_PID" 2>/dev/null || true
echo "# committed after run 1: $committed1; run 2 killed with an open transaction" >&2
# run 3: must resume after run 1's committed data
start_ingestor COMMIT_INTERVAL=100ms INITIAL_SINCE_MTIME=0 RECOVER_TAIL=50
wait_topic_count 5000 60 || fail "topic has $(topic_count) of 5000 messages after 60 s"
# run 3 must produce at least the rest of the timeline; stopping commits whatever it produced,
# so a wrong resume point shows as duplicates below
wait_for "[ \$(metric rsvp_ingestor_produced_total) -ge $((5000 - committed1)) ]" 30 ||
    fail "run 3 produced $(metric rsvp_ingestor_produced_total) lines, want >= $((5000 - committed1))"
stop_ingestor
compare_with_dump "${ARGS[@]}"
pass
