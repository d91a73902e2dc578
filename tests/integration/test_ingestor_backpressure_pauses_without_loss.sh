#!/usr/bin/env bash
# test_ingestor_backpressure_pauses_without_loss: with librdkafka's local queue limited to 200
# messages and transactions of at most 1,000, an unpaced source overruns the producer: the ingestor
# pauses the HTTP transfer (keeping the unread bytes) until the queue drains, never drops, and the
# topic holds the timeline exactly once.
set -euo pipefail
. "$(dirname "$0")/ingestor_lib.sh"
ingestor_init test_ingestor_backpressure_pauses_without_loss

ARGS=(--file "$DATA" --loop --count 10000)
start_replay "${ARGS[@]}"
start_ingestor KAFKA_QUEUE_BUFFERING_MAX_MESSAGES=200 COMMIT_MESSAGES=1000
wait_topic_count 10000 60 || fail "topic has $(topic_count) of 10000 messages after 60 s"
pauses=$(metric rsvp_ingestor_backpressure_pauses_total)
txns=$(metric rsvp_ingestor_transactions_total)
[ "$pauses" -ge 1 ] || fail "the transfer was never paused (backpressure_pauses_total 0)"
[ "$txns" -ge 10 ] || fail "transactions_total $txns, want >= 10 (COMMIT_MESSAGES=1000)"
[ "$(metric rsvp_ingestor_reconnects_total)" -eq 0 ] || fail "pausing caused a reconnect"
stop_ingestor
compare_with_dump "${ARGS[@]}"
echo "# pauses=$pauses transactions=$txns" >&2
pass
