#!/usr/bin/env bash
# Exactly-once at the writer: a batch whose from_offset is not the stored next offset is answered
# STALE with the stored offset and changes nothing; replaying an applied batch (a lost reply) is
# STALE with stored_offset == its to_offset; offset queries tell the truth (-1 when nothing). The
# 300 rows claim 392 messages, so every range spans 1000 offsets (500 for partition 1).
set -euo pipefail
source "$(dirname "$0")/writer_lib.sh"
w_init test_writer_rejects_stale_and_replayed_batches

head -n 300 "$TESTDATA_REFERENCE" >"$W_TMP/rows.jsonl"
w_start_writer W
port=${W%%:*} mport=${W##*:}
w_wait_ready "$mport" || w_fail "writer not ready"
T=rsvps.parsed

snapshot() { w_sql "SELECT (SELECT coalesce(sum(response_count), 0) FROM rsvp_counts) || '/' || (SELECT count(*) FROM meetup_table) || '/' || (SELECT count(*) FROM rsvp_batches) || '/' || (SELECT coalesce(string_agg(partition || '=' || next_offset, ',' ORDER BY partition), '') FROM rsvp_offsets)"; }
expect() { # expect REPLY STATUS [STORED]
    [ "$(w_field "$1" status)" = "$2" ] || w_fail "expected $2: $1"
    [ -z "${3:-}" ] || [ "$(w_field "$1" stored_offset)" = "$3" ] || w_fail "expected stored_offset $3: $1"
}
batch() { w_client "$port" batch --topic $T --partition "$1" --from "$2" --to "$3" --rows-file "$W_TMP/rows.jsonl"; }

r=$(w_client "$port" query --topic $T --partitions 0,1,7)
[ "$(jq -c '[.offsets[].next_offset]' <<<"$r")" = '[-1,-1,-1]' ] || w_fail "fresh offsets: $r"

# A first batch that claims something is stored is stale.
expect "$(batch 0 1000 2000)" STALE -1
[ "$(snapshot)" = "0/0/0/" ] || w_fail "stale first batch changed something: $(snapshot)"

expect "$(batch 0 -1 1000)" OK
s1=$(snapshot)
expect "$(batch 0 -1 1000)" STALE 1000   # the same batch again: its reply was "lost"
expect "$(batch 0 500 1500)" STALE 1000   # overlaps what is stored
expect "$(batch 0 990 1500)" STALE 1000
expect "$(batch 0 1010 1500)" STALE 1000  # a gap is stale too
[ "$(snapshot)" = "$s1" ] || w_fail "stale batches changed something: $s1 -> $(snapshot)"

expect "$(batch 0 1000 2000)" OK
s2=$(snapshot)
expect "$(batch 0 1000 2000)" STALE 2000  # replay: stored == to_offset means already applied
[ "$(snapshot)" = "$s2" ] || w_fail "replay changed something: $s2 -> $(snapshot)"
sum=$(w_sql "SELECT sum(response_count) FROM rsvp_counts")
ref=$(jq -s 'map(.response_count) | add' "$W_TMP/rows.jsonl")
[ "$sum" = $((2 * ref)) ] || w_fail "sum $sum != 2 x $ref"

# Partitions and topics are independent.
expect "$(batch 1 -1 500)" OK
expect "$(w_client "$port" batch --topic other.topic --partition 0 --from -1 --to 3)" OK
r=$(w_client "$port" query --topic $T --partitions 7,1,0)
[ "$(jq -c '[.offsets[] | [.partition, .next_offset]]' <<<"$r")" = '[[7,-1],[1,500],[0,2000]]' ] || w_fail "offsets: $r"

[ "$(w_metric "$mport" 'rsvp_writer_batches_total{result="stale"}')" = 6 ] || w_fail "stale metric"
[ "$(w_metric "$mport" 'rsvp_writer_batches_total{result="ok"}')" = 4 ] || w_fail "ok metric"
w_pass
