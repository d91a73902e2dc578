#!/usr/bin/env bash
# The local stack works end to end for our client libraries: 10,000 keyed messages go through Kafka with
# librdkafka (kcat) and come back complete, unchanged and in order per partition; then they are loaded into
# PostgreSQL through libpq (psql) and a query over them returns the expected aggregates.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init stack_kafka_pg

N=10000
TOPIC=stack.selftest.$SUFFIX

# 1. A fresh topic with 4 partitions, created by TopicCommand.
kafka_topic "$TOPIC" 4 || fail "could not create topic $TOPIC"

# 2. Produce N keyed messages (key kI, value vI:<payload>) idempotently, acks=all.
seq 1 "$N" | awk '{ printf "k%d\tv%d:payload-%08d\n", $1, $1, $1 * 7 }' >"$TEST_DIR/sent.txt"
kcat -P -b "$KAFKA_BROKERS" -t "$TOPIC" -K $'\t' -X acks=all -X enable.idempotence=true -X linger.ms=5 \
	-l "$TEST_DIR/sent.txt" 2>"$TEST_DIR/produce.err" || fail "kcat produce failed: $(tail -n 3 "$TEST_DIR/produce.err")"

# 3. Count (read_committed) and read everything back with partition and offset.
count=$(kafka_count "$TOPIC") || fail "could not count $TOPIC"
[[ $count == "$N" ]] || fail "expected $N messages on $TOPIC, counted $count"
timeout 60 kcat -C -b "$KAFKA_BROKERS" -t "$TOPIC" -o beginning -e -q -f '%p\t%o\t%k\t%s\n' \
	>"$TEST_DIR/received.txt" || fail "kcat consume failed"

# Content: exactly the sent key/value pairs, each once.
diff <(sort "$TEST_DIR/sent.txt") <(cut -f3,4 "$TEST_DIR/received.txt" | sort) >"$TEST_DIR/diff.txt" ||
	fail "received messages differ from sent ones ($(wc -l <"$TEST_DIR/diff.txt") diff lines, see $TEST_DIR/diff.txt)"
# Keys spread over all 4 partitions, and within a partition the send order is kept (offset order = key order).
parts=$(cut -f1 "$TEST_DIR/received.txt" | sort -u | wc -l)
[[ $parts == 4 ]] || fail "keys landed on $parts partitions, expected 4"
unordered=$(sort -t$'\t' -k1,1n -k2,2n "$TEST_DIR/received.txt" |
	awk -F'\t' '{ n = substr($3, 2) + 0 } $1 == p && n <= last { bad++ } { p = $1; last = n } END { print bad + 0 }')
[[ $unordered == 0 ]] || fail "$unordered messages out of send order within their partition"

# 4. PostgreSQL through libpq: load what Kafka returned, query it.
url=$(pg_createdb stack) || fail "could not create a database on $PGURL"
psql_q "$url" "CREATE TABLE msgs (part int, off bigint, k text PRIMARY KEY, v text)" >/dev/null
psql "$url" -X -q -v ON_ERROR_STOP=1 -c "\\copy msgs FROM '$TEST_DIR/received.txt'" || fail "\\copy into msgs failed"
got=$(psql_q "$url" "SELECT count(*), count(DISTINCT k), sum(substr(k, 2)::bigint), count(DISTINCT part),
	bool_and(v = 'v' || substr(k, 2) || ':payload-' || lpad((substr(k, 2)::bigint * 7)::text, 8, '0')) FROM msgs")
want="$N|$N|$((N * (N + 1) / 2))|4|t"
[[ $got == "$want" ]] || fail "PostgreSQL aggregate: got '$got', want '$want'"
# Durability setting the writer relies on.
[[ $(psql_q "$url" "SHOW fsync") == on ]] || fail "fsync is off on $PGURL"

pass
