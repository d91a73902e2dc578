#!/usr/bin/env bash
# test_ingestor_reconnect_resumes_without_duplicates: the source closes every connection after 500
# messages and stalls once for 5 s (ingestor STALL_TIMEOUT=2s): the ingestor reconnects with
# since_mtime each time, drops what the source sends again, and the topic still holds every message
# of the timeline exactly once. RESUME_WINDOW=10ms: the stream has 10 messages per millisecond, and
# a connection must carry more than the window it sends again to make progress.
set -euo pipefail
. "$(dirname "$0")/ingestor_lib.sh"
ingestor_init test_ingestor_reconnect_resumes_without_duplicates

ARGS=(--file "$DATA" --loop --count 10000)
start_replay "${ARGS[@]}" --fault-close-after 500 --fault-stall-after 300 --fault-stall-seconds 5
start_ingestor STALL_TIMEOUT=2s RESUME_WINDOW=10ms
wait_topic_count 10000 90 || fail "topic has $(topic_count) of 10000 messages after 90 s"
[ "$(replay_faults stall)" = 1 ] || fail "replay injected no stall"
grep -q '"reason":"stalled' "$TEST_DIR/ingestor1.log" || fail "ingestor did not detect the stall"
reconnects=$(metric rsvp_ingestor_reconnects_total)
dups=$(metric rsvp_ingestor_duplicates_dropped_total)
[ "$reconnects" -ge 19 ] || fail "reconnects_total $reconnects, want >= 19 (10000 / 500 - 1)"
[ "$dups" -ge 1 ] || fail "duplicates_dropped_total $dups: the boundary was never replayed?"
stop_ingestor
compare_with_dump "${ARGS[@]}"
echo "# reconnects=$reconnects duplicates_dropped=$dups" >&2
pass
