#!/usr/bin/env bash
# test_ingestor_one_millisecond_burst_stays_bounded (issue 18, hole 5): 30,000 RSVPs that all share
# one mtime, with RESUME_MAX_LINES=1000. The resume state remembers 1,000 of them one by one and the
# rest by number (rsvp_ingestor_resume_lines stays at 1,000; it held all 30,000, copied at every
# commit, before). The source stalls once after 12,000 (STALL_TIMEOUT=1s): on the reconnect it sends
# all of them again, 1,000 are recognised one by one and 11,000 by number; then the ingestor is
# restarted and rebuilds that state from the topic (all 30,000 in one millisecond: the recovery
# window widens to the whole topic) and the source sends all 30,000 again. The topic holds each
# exactly once.
set -euo pipefail
. "$(dirname "$0")/ingestor_lib.sh"
ingestor_init test_ingestor_one_millisecond_burst_stays_bounded

ARGS=(--synthetic --seed 5 --count 30000 --per-ms 1000000)
start_replay "${ARGS[@]}" --fault-stall-after 12000 --fault-stall-seconds 3
ENV=(RESUME_MAX_LINES=1000 STALL_TIMEOUT=1s INITIAL_SINCE_MTIME=0 COMMIT_MESSAGES=2000)
start_ingestor "${ENV[@]}"
wait_topic_count 30000 90 || fail "topic has $(topic_count) of 30000 after 90 s"
[ "$(replay_faults stall)" = 1 ] || fail "replay injected no stall"
lines=$(metric rsvp_ingestor_resume_lines)
counted=$(metric rsvp_ingestor_resume_counted_duplicates_total)
overflow=$(metric rsvp_ingestor_resume_overflow_lines_total)
[ "$lines" -eq 1000 ] || fail "resume_lines=$lines, want 1000 (RESUME_MAX_LINES)"
[ "$counted" -ge 11000 ] || fail "counted duplicates $counted after the reconnect, want >= 11000"
[ "$overflow" -ge 29000 ] || fail "overflow lines $overflow, want >= 29000"
grep -q '"msg":"resume state full: lines remembered by number only"' "$TEST_DIR/ingestor1.log" ||
    fail "the full resume state was not logged"
stop_ingestor
# restart: the state comes back from the topic; the source sends all 30,000 again
start_ingestor "${ENV[@]}"
wait_for "[ \$(metric rsvp_ingestor_duplicates_dropped_total) -ge 30000 ]" 60 ||
    fail "restart: $(metric rsvp_ingestor_duplicates_dropped_total) of 30000 dropped as sent again"
[ "$(metric rsvp_ingestor_produced_total)" -eq 0 ] || fail "restart produced $(metric rsvp_ingestor_produced_total) lines again"
[ "$(metric rsvp_ingestor_resume_lines)" -eq 1000 ] || fail "restart: resume_lines=$(metric rsvp_ingestor_resume_lines)"
grep -q '"msg":"resume state recovered".*"messages":30000' "$TEST_DIR/ingestor2.log" ||
    fail "recovery did not read the whole one-millisecond burst back"
stop_ingestor
compare_with_dump "${ARGS[@]}"
echo "# counted duplicates $counted, overflow lines $overflow" >&2
pass
