#!/usr/bin/env bash
# test_parser_exactly_once.sh: rsvp-parser against Kafka. The raw topic holds all 2,865 recorded
# RSVPs plus injected bad messages (a known number per reason). The parser is kill -9'd twice
# mid-run and restarted with the same INSTANCE_ID (its transactional.id fences the zombie and
# aborts its open transaction); then it finishes and stops on SIGTERM. What a user must see:
#   parsed topic: exactly the valid messages, once each, keyed by event_id, with ingest_time_ms;
#   DLQ topic:    exactly the bad messages, unchanged, with the right reason/source_* headers;
#   raw = parsed + dead-lettered; the group's committed offsets at the end (lag 0);
#   the last run's metrics say consumed = parsed + dead-lettered; SIGTERM exits 0.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_parser_exactly_once
source tests/integration/parser_lib.sh

parser_setup
PORT=$(parser_free_port) || fail "no free port"
INSTANCE=eos-$SUFFIX

# Two runs killed with SIGKILL in the middle, each after committing a few hundred messages.
for run in 1 2; do
	parser_start "parser-$run" "$INSTANCE" "$PORT"
	wait_for "((\$(parser_metric $PORT rsvp_parser_consumed_total) >= 300))" 60 ||
		fail "run $run: no progress"
	sleep "0.0$((RANDOM % 9 + 1))" # not a wait: lands the kill at a random point of a transaction
	kill -9 "$(bg_pid "parser-$run")"
	wait "$(bg_pid "parser-$run")" 2>/dev/null || true
	done_now=$(parser_committed_total)
	((done_now < TOTAL)) || fail "run $run finished before the kill: not a mid-run kill"
	echo "run $run: kill -9 with $done_now of $TOTAL committed ($(parser_written_total) written incl. open/aborted)"
done

# The third run finishes the job.
parser_start parser-3 "$INSTANCE" "$PORT"
wait_for "((\$(parser_committed_total) >= TOTAL))" 90 ||
	fail "timeout: $(parser_committed_total) of $TOTAL committed"
parser_invariant "$PORT"
(($(parser_metric "$PORT" rsvp_parser_consumed_total) > 0)) || fail "the last run consumed nothing"
rc=0
stop_bg parser-3 || rc=$?
((rc == 0)) || fail "SIGTERM: exit code $rc, want 0"

parser_verify
echo "$GOOD parsed + $BAD dead-lettered = $TOTAL after 2 kill -9 restarts"
pass
