#!/usr/bin/env bash
# test-timeout: 600
# test_chaos_short.sh: the short chaos run in `make test`: 100k synthetic RSVPs through replay -> ingestor ->
# parser x2 -> aggregator x2 -> writer x2 under rsvpctl, on its own Kafka and PostgreSQL (ports 31820-31864),
# while replicas are kill -9'd, a writer is SIGSTOPped past the aggregator's timeout, PostgreSQL and the broker
# are restarted once. Passes when every key's total in rsvp_counts and the newest meetup_table row equal the
# truth from `rsvp-replay --dump` (tests/chaos/run.sh --short; ~2-3 minutes on 2 cores).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_chaos_short
need_bin rsvp-replay rsvp-ingestor rsvp-parser rsvp-aggregator rsvp-writer rsvpctl
out=$TEST_DIR/chaos.out
rc=0
BIN=$BIN CHAOS_VAR=$TEST_DIR/var tests/chaos/run.sh --short --seed "${CHAOS_SEED:-8}" >"$out" 2>&1 || rc=$?
cat "$out"
((rc == 0)) || fail "chaos run failed (exit $rc; logs in ${TEST_DIR#$LIB_ROOT/}/var)"
grep -q '^PASS: chaos short' "$out" || fail "no PASS line from tests/chaos/run.sh"
pass
