#!/usr/bin/env bash
# test_parser_commits_when_a_burst_is_done: raw messages come in bursts (one per ingestor commit).
# With TXN_INTERVAL and TXN_MESSAGES out of reach (10 minutes, a million), the parser still commits
# each burst as soon as no message came for TXN_IDLE (10 ms): a read_committed reader sees every
# message of the first burst, then of the second, well before the interval; consumed = parsed +
# dead-lettered; SIGTERM exits 0. Without the idle commit nothing is visible for 10 minutes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_parser_commits_when_a_burst_is_done
source tests/integration/parser_lib.sh

parser_setup 200
PORT=$(parser_free_port) || fail "no free port"
parser_start parser "idle-$SUFFIX" "$PORT" --txn-interval=600s --txn-messages=1000000 --txn-idle=10ms
wait_for "((\$(parser_committed_total) >= 200))" 60 ||
	fail "first burst: $(parser_committed_total) of 200 committed after 60 s (TXN_INTERVAL is 10 minutes)"
commits=$(parser_metric "$PORT" 'rsvp_parser_transactions_total\{result="commit"')
parser_produce 300
wait_for "((\$(parser_committed_total) >= 500))" 60 ||
	fail "second burst: $(parser_committed_total) of 500 committed after 60 s"
wait_for "((\$(parser_metric $PORT 'rsvp_parser_transactions_total\\{result=\"commit\"') > commits))" 30 ||
	fail "the second burst was not committed in a transaction of its own"
parser_invariant "$PORT"
rc=0
stop_bg parser || rc=$?
((rc == 0)) || fail "SIGTERM: exit code $rc, want 0"
pass
