#!/usr/bin/env bash
# test_parser_fenced_replica_exits_1.sh: a second rsvp-parser started with the same INSTANCE_ID
# (so the same transactional.id) fences the first one mid-run: the first exits 1 (fatal, nothing
# more committed), the second takes over and finishes; every message is on the topics exactly once.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_parser_fenced_replica_exits_1
source tests/integration/parser_lib.sh

parser_setup
PA=$(parser_free_port) || fail "no free port"
PB=$PA
while ((PB == PA)); do PB=$(parser_free_port) || fail "no free port"; done
INSTANCE=fence-$SUFFIX

parser_start old "$INSTANCE" "$PA" --txn-messages=10
wait_for "((\$(parser_metric $PA rsvp_parser_consumed_total) >= 200))" 60 || fail "no progress"
parser_start new "$INSTANCE" "$PB" --txn-messages=10
old_pid=$(bg_pid old)
wait_for "! kill -0 $old_pid" 60 || fail "the fenced replica is still running"
rc=0
wait "$old_pid" 2>/dev/null || rc=$?
((rc == 1)) || fail "the fenced replica exited $rc, want 1"
grep -q 'fatal' "$TEST_DIR/old.log" || fail "the fenced replica logged no fatal error"
mid=$(parser_committed_total)
((mid < TOTAL)) || fail "everything was done before the fencing: not a mid-run test"

wait_for "((\$(parser_committed_total) >= TOTAL))" 90 ||
	fail "timeout, $(parser_committed_total) of $TOTAL committed"
parser_invariant "$PB"
rc=0
stop_bg new || rc=$?
((rc == 0)) || fail "the new replica exited $rc on SIGTERM, want 0"
parser_verify
echo "fenced at $mid of $TOTAL; the old replica exited 1; exact"
pass
