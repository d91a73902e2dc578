#!/usr/bin/env bash
# test_ingestor_exactly_once: 10,000 looped recorded RSVPs streamed unpaced land in the raw topic
# exactly once each, byte for byte equal to `rsvp-replay --dump` with the same flags; SIGTERM then
# exits 0 with everything committed.
set -euo pipefail
. "$(dirname "$0")/ingestor_lib.sh"
ingestor_init test_ingestor_exactly_once

ARGS=(--file "$DATA" --loop --count 10000)
start_replay "${ARGS[@]}"
start_ingestor
wait_topic_count 10000 60 || fail "topic has $(topic_count) of 10000 messages after 60 s"
wait_for "curl -sf http://127.0.0.1:$ING_METRICS/readyz" 10 || fail "/readyz not ready while streaming"
[ "$(metric rsvp_ingestor_produced_total)" = 10000 ] ||
    fail "produced_total $(metric rsvp_ingestor_produced_total), want 10000"
[ "$(metric rsvp_ingestor_transactions_total)" -ge 1 ] || fail "no transaction committed"
stop_ingestor
compare_with_dump "${ARGS[@]}"
pass
