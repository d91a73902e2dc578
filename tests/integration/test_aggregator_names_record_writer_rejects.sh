#!/usr/bin/env bash
# test_aggregator_names_record_writer_rejects (issue 18, hole 3): a record that the writer always rejects
# (another producer wrote an event name that is not UTF-8 to the parsed topic) must not spin unseen nor be
# skipped. The real aggregator and writer: records 0-4 are applied, the aggregator cuts smaller batches until
# the one record (offset 5) is named in /readyz (503), in rsvp_aggregator_rejected_partitions and in an error
# log line with the writer's message, and nothing after it is counted while the writer keeps rejecting it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agg_lib.sh"
lib_init test_aggregator_names_record_writer_rejects
need_bin rsvp-aggregator rsvp-writer
command -v kcat >/dev/null || fail "kcat not installed"

PARSED=agg_reject.$SUFFIX.parsed
kafka_topic "$PARSED" 1 || fail "cannot create topic $PARSED"
DB=$(pg_createdb agg_reject) || fail "cannot create database"
WPORT=$(agg_free_port) && WMPORT=$(agg_free_port) && AMPORT=$(agg_free_port) || fail "no free port"

# Twelve packed rsvp.v1.Rsvp, one file each (kcat sends a file as one message): event name "ok <i>",
# response yes; record 5's name starts with the bytes ff fe (not UTF-8).
python3 - "$TEST_DIR" <<'PY'
import sys
def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([v & 0x7f | 0x80]); v >>= 7
    return out + bytes([v])
def field(n, wire, payload):
    key = varint(n << 3 | wire)
    return key + (varint(len(payload)) + payload if wire == 2 else varint(payload))
for i in range(12):
    name = (b"\xff\xfe bad" if i == 5 else b"ok %d" % i)
    event = field(1, 2, name) + field(3, 0, 1490439600000)
    rsvp = field(3, 0, 1) + field(8, 2, event)
    open("%s/rsvp-%02d.bin" % (sys.argv[1], i), "wb").write(rsvp)
PY
kcat -P -b "$KAFKA_BROKERS" -t "$PARSED" -p 0 "$TEST_DIR"/rsvp-*.bin || fail "kcat produce failed"

start_bg writer env PG_URL="$DB" LISTEN="tcp://127.0.0.1:$WPORT" METRICS_ADDR="127.0.0.1:$WMPORT" \
	INSTANCE_ID="writer-$SUFFIX" "$BIN/rsvp-writer"
start_bg agg env PARSED_TOPIC="$PARSED" GROUP_ID="agg-$SUFFIX" WRITER_URL="tcp://127.0.0.1:$WPORT" \
	TRIGGER_INTERVAL=300ms REQUEST_TIMEOUT=2s BACKOFF_BASE=100ms BACKOFF_MAX=1s METRICS_ADDR="127.0.0.1:$AMPORT" \
	START_OFFSET=earliest INSTANCE_ID="agg-$SUFFIX" "$BIN/rsvp-aggregator"

readyz() { curl -s "http://127.0.0.1:$AMPORT/readyz" || true; }
wait_for "readyz | grep -q 'rejects the record at offset 5'" 60 ||
	fail "the record is not named in /readyz: '$(readyz)'"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AMPORT/readyz")
[[ $code == 503 ]] || fail "/readyz answers $code while a partition is stuck, want 503"
readyz | grep -q 'not UTF-8' || fail "/readyz does not carry the writer's error: '$(readyz)'"
[[ $(agg_metric "$AMPORT" rsvp_aggregator_rejected_partitions) == 1 ]] ||
	fail "rsvp_aggregator_rejected_partitions $(agg_metric "$AMPORT" rsvp_aggregator_rejected_partitions), want 1"
grep '"writer rejects a record' "$TEST_DIR/agg.log" | grep '"offset":5' | grep -q 'not UTF-8' ||
	fail "no log line naming offset 5 with the writer's error"
[[ $(agg_total "$DB") == 5 ]] || fail "counted $(agg_total "$DB") RSVPs, want the 5 before the record"

# It stays there: the record is resent (and rejected) again, nothing after it is counted.
ERRORS='rsvp_aggregator_batches_total{result="error"}'
n=$(agg_metric "$AMPORT" "$ERRORS")
wait_for "[[ \$(agg_metric $AMPORT '$ERRORS') -ge $((n + 2)) ]]" 30 || fail "the record is not resent"
[[ $(agg_total "$DB") == 5 ]] || fail "counted $(agg_total "$DB") RSVPs after resends, want 5 (nothing skipped)"
stored=$(psql_q "$DB" "SELECT next_offset FROM rsvp_offsets WHERE topic = '$PARSED' AND partition = 0")
[[ $stored == 5 ]] || fail "stored offset $stored, want 5 (the rejected record's)"
pass
