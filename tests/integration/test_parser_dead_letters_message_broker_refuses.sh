#!/usr/bin/env bash
# test_parser_dead_letters_message_broker_refuses: a raw message the broker accepted but whose
# dead letter it refuses (the dead-letter headers push a ~1 MB incompressible message over the
# broker's message.max.bytes) must not abort, rewind and abort the same transaction forever:
# the messages after it are still parsed, exactly once.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init test_parser_dead_letters_message_broker_refuses
. "$(dirname "$0")/parser_lib.sh"
need_bin rsvp-parser

RAW=parser-$SUFFIX.raw PARSED=parser-$SUFFIX.parsed DLQ=parser-$SUFFIX.dlq GROUP=parser-$SUFFIX
kafka_topic "$RAW" 1 || fail "creating $RAW"
RECORDED=$TESTDATA_RECORDED
head -5 "$RECORDED" >"$TEST_DIR/before.ndjson"
sed -n 6,10p "$RECORDED" >"$TEST_DIR/after.ndjson"
# the biggest incompressible value a single-record batch may carry (broker default 1048588),
# found by trying: kcat fails with "Message size too large" above it
python3 -c 'import os,sys; sys.stdout.buffer.write(os.urandom(1048600))' >"$TEST_DIR/rand"
kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -l "$TEST_DIR/before.ndjson" || fail "producing $RAW"
size=1048520
while :; do
    head -c "$size" "$TEST_DIR/rand" >"$TEST_DIR/big"
    if kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -X compression.codec=none -X message.max.bytes=2000000 "$TEST_DIR/big" 2>/dev/null; then
        [ "$(kafka_count "$RAW")" -ge 6 ] && break
    fi
    size=$((size - 8))
    [ "$size" -gt 1040000 ] || fail "the broker refuses every big message"
done
echo "# big raw message: $size bytes" >&2
kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -l "$TEST_DIR/after.ndjson" || fail "producing $RAW"
PORT=$(parser_free_port) || fail "no free port"
parser_start parser "p-$SUFFIX" "$PORT"
wait_for "[ \$(kafka_count $PARSED || echo 0) -ge 10 ]" 40 ||
    fail "parsed holds $(kafka_count "$PARSED" || echo 0) of 10 after 40 s (aborts: $(parser_metric "$PORT" 'rsvp_parser_transactions_total\{result="abort"'))"
wait_for "[ \$(kafka_count $DLQ || echo 0) -ge 1 ]" 20 || fail "the big message was not dead-lettered"
kcat -C -b "$KAFKA_BROKERS" -t "$DLQ" -o beginning -e -q -X isolation.level=read_committed \
    -f '%h|%S\n' >"$TEST_DIR/dlq.txt" 2>/dev/null || fail "reading $DLQ"
grep -Eq "payload_dropped=$size.*\|(0|-1)\$" "$TEST_DIR/dlq.txt" ||
    fail "dead letter without payload_dropped=$size: $(cut -c1-300 "$TEST_DIR/dlq.txt")"
parser_invariant "$PORT"
stop_bg parser 20 || fail "parser did not exit 0 on SIGTERM"
[ "$(kafka_count "$PARSED")" -eq 10 ] || fail "parsed holds $(kafka_count "$PARSED"), not 10"
pass
