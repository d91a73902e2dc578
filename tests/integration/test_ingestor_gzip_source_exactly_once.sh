#!/usr/bin/env bash
# test_ingestor_gzip_source_exactly_once: with ACCEPT_ENCODING=gzip the source really sends gzip (the
# replay's wire bytes are a fraction of the decoded bytes the ingestor counts) and every one of 5,000
# RSVPs still lands once, byte for byte; with the default (identity) the wire carries plain bytes.
set -euo pipefail
. "$(dirname "$0")/ingestor_lib.sh"
ingestor_init test_ingestor_gzip_source_exactly_once

replay_bytes() {
    curl -sf "http://127.0.0.1:$REPLAY_METRICS/metrics" 2>/dev/null |
        awk '$1 == "rsvp_replay_bytes_sent_total" { v = $2 } END { printf "%d\n", v + 0 }'
}

ARGS=(--file "$DATA" --loop --count 5000)

# default (identity): no compression asked for, the wire carries every decoded byte plus chunk framing
start_replay "${ARGS[@]}"
start_ingestor
wait_topic_count 5000 60 || fail "identity: topic has $(topic_count) of 5000 messages after 60 s"
decoded=$(metric rsvp_ingestor_bytes_total)
wire=$(replay_bytes)
echo "identity: decoded $decoded bytes, $wire on the wire"
((decoded > 0 && wire >= decoded)) || fail "identity: $wire wire bytes for $decoded decoded"
stop_ingestor
compare_with_dump "${ARGS[@]}"
stop_bg replay >/dev/null 2>&1 || true

# ACCEPT_ENCODING=gzip on a fresh topic: compressed on the wire, still exactly once
TOPIC=$TOPIC.gz
start_replay "${ARGS[@]}"
start_ingestor ACCEPT_ENCODING=gzip
wait_topic_count 5000 60 || fail "gzip: topic has $(topic_count) of 5000 messages after 60 s"
decoded=$(metric rsvp_ingestor_bytes_total)
wire=$(replay_bytes)
echo "gzip: decoded $decoded bytes, $wire on the wire"
((decoded > 0 && wire * 2 < decoded)) || fail "gzip not used: $wire wire bytes for $decoded decoded"
stop_ingestor
compare_with_dump "${ARGS[@]}"
pass
