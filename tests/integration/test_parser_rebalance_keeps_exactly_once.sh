#!/usr/bin/env bash
# test_parser_rebalance_keeps_exactly_once.sh: two rsvp-parser replicas in one group, with the eager
# and with the cooperative rebalance protocol. Replica A starts alone; B joins mid-run (A's
# rebalance callback commits its open transaction before giving partitions away); A is stopped
# with SIGTERM mid-run (it commits, leaves, exits 0) and B takes over and finishes. The topics must
# hold every message exactly once and the group's offsets must be at the end, as with one replica.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_parser_rebalance_keeps_exactly_once
source tests/integration/parser_lib.sh

BASE=$SUFFIX
for strategy in range cooperative-sticky; do
	SUFFIX=$BASE-${strategy%%-*}
	# The input comes in three parts, so that neither replica can finish early whatever the load:
	# 1000 lines for A alone, 1000 once B holds partitions, the rest once A has left.
	parser_setup 1000
	PA=$(parser_free_port) || fail "no free port"
	PB=$PA
	while ((PB == PA)); do PB=$(parser_free_port) || fail "no free port"; done
	args=(--txn-messages=10 -X partition.assignment.strategy="$strategy")

	parser_start "a-$strategy" "a-$SUFFIX" "$PA" "${args[@]}"
	wait_for "((\$(parser_metric $PA rsvp_parser_consumed_total) >= 200))" 60 ||
		fail "$strategy: A makes no progress"
	parser_start "b-$strategy" "b-$SUFFIX" "$PB" "${args[@]}"
	wait_for "grep -q '\"partitions assigned\",\"count\":[1-9]' '$TEST_DIR/b-$strategy.log'" 60 ||
		fail "$strategy: B got no partitions"
	parser_produce 1000
	wait_for "((\$(parser_metric $PB rsvp_parser_consumed_total) >= 200))" 60 ||
		fail "$strategy: B makes no progress"
	parser_invariant "$PA"
	a_done=$(parser_metric "$PA" rsvp_parser_consumed_total)
	rc=0
	stop_bg "a-$strategy" || rc=$?
	((rc == 0)) || fail "$strategy: A exited $rc on SIGTERM, want 0"
	mid=$(parser_committed_total)
	((mid < TOTAL)) || fail "$strategy: everything was done before A stopped: not a mid-run test"
	grep -q '"partitions revoked"' "$TEST_DIR/a-$strategy.log" || fail "$strategy: A never revoked"
	parser_produce # the rest: B redoes nothing of A's and takes A's partitions on from A's offsets

	wait_for "((\$(parser_committed_total) >= TOTAL))" 90 ||
		fail "$strategy: timeout, $(parser_committed_total) of $TOTAL committed"
	parser_invariant "$PB"
	b_done=$(parser_metric "$PB" rsvp_parser_consumed_total)
	rc=0
	stop_bg "b-$strategy" || rc=$?
	((rc == 0)) || fail "$strategy: B exited $rc on SIGTERM, want 0"
	parser_verify
	echo "$strategy: A committed $a_done+, B $b_done; $mid of $TOTAL done when A left; exact"
done
pass
