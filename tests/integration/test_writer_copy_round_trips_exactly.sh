#!/usr/bin/env bash
# What the binary COPY path stores is exactly what was sent: strings byte for byte (tab, newline,
# carriage return, backslash, "\N", "\.", quotes, non-ASCII, spaces kept), NULL distinct from the
# empty string, doubles bit for bit (float8send) with -0.0 stored as 0 and any NaN (-NaN here) as
# PostgreSQL's one NaN, extreme and subnormal doubles, int64 deltas beyond 2^53, a 2 KB key (the
# reference counts test covers batches of several COPY chunks). A second batch of the same rows
# must upsert onto the same keys (counts double, no new keys). The deltas add up past 2^53, so this
# writer accepts offsets up to 2^62 (MAX_OFFSET) for batches whose ranges hold that many messages.
set -euo pipefail
source "$(dirname "$0")/writer_lib.sh"
w_init test_writer_copy_round_trips_exactly

w_start_writer W MAX_OFFSET=4611686018427387904
port=${W%%:*} mport=${W##*:}
w_wait_ready "$mport" || w_fail "writer not ready"

# Hex floats, infinities and NaN as strings (JSON has no number for them): the client's strtod takes them
# exactly (decimal subnormals set ERANGE there).
big=$(printf '\u00fc%.0s' $(seq 1000))
cat >"$W_TMP/rows.jsonl" <<ROWS
{"event_name": "tab\\there", "event_url": "line1\\nline2\\r\\n", "event_time": "back\\\\slash\\\\", "group_name": "\\\\N", "group_country": "\\\\.", "group_state": "quote\\" and 'apostrophe'", "group_city": "caf\\u00e9 \\ud83c\\udf89 日本語", "group_lat": -0.0, "group_lon": "0x1p-1074", "lat": 1e308, "lon": -1.7976931348623157e308, "response": "  spaces  ", "delta": 1}
{"event_name": "", "event_url": "", "event_time": "", "group_name": "", "group_country": "", "group_state": "", "group_city": "", "group_lat": 2.2250738585072014e-308, "group_lon": "-0x1p-1074", "lat": "Infinity", "lon": "-Infinity", "response": "", "delta": 2}
{"delta": 3}
{"event_name": "nan", "group_lat": -123.379341, "group_lon": 0.1, "lat": "-NaN", "lon": 48.497765, "delta": 9007199254740993}
{"event_name": "${big}\\tend", "response": "yes", "delta": 5}
ROWS

S=$((1 + 2 + 3 + 9007199254740993 + 5)) # the messages of one batch: its range must hold them
r=$(w_client "$port" batch --topic t --partition 0 --from -1 --to $S --rows-file "$W_TMP/rows.jsonl")
[ "$(w_field "$r" status)" = OK ] || w_fail "batch: $r"

# Every row, every column: one line "delta|ok" per row; a NULL check is IS NULL, a string check
# is =, a double check compares the stored bits.
check_sql() {
    local c=$1 # response_count multiplier
    cat <<SQL
SELECT string_agg(ok, ',' ORDER BY ok) FROM (
SELECT '1' AS ok FROM rsvp_counts WHERE response_count = 1 * $c
  AND event_name = E'tab\\there' AND event_url = E'line1\\nline2\\r\\n' AND event_time = E'back\\\\slash\\\\'
  AND group_name = E'\\\\N' AND group_country = E'\\\\.' AND group_state = E'quote" and \\'apostrophe\\''
  AND group_city = 'café 🎉 日本語' AND response = '  spaces  '
  AND float8send(group_lat) = '\\x0000000000000000' AND float8send(group_lon) = '\\x0000000000000001'
  AND float8send(lat) = '\\x7fe1ccf385ebc8a0' AND float8send(lon) = '\\xffefffffffffffff'
UNION ALL
SELECT '2' FROM rsvp_counts WHERE response_count = 2 * $c
  AND event_name = '' AND event_url = '' AND event_time = '' AND group_name = '' AND group_country = ''
  AND group_state = '' AND group_city = '' AND response = ''
  AND float8send(group_lat) = '\\x0010000000000000' AND float8send(group_lon) = '\\x8000000000000001'
  AND float8send(lat) = '\\x7ff0000000000000' AND float8send(lon) = '\\xfff0000000000000'
UNION ALL
SELECT '3' FROM rsvp_counts WHERE response_count = 3 * $c AND num_nulls($W_KEYS) = 12
UNION ALL
SELECT '4' FROM rsvp_counts WHERE response_count = 9007199254740993 * $c
  AND event_name = 'nan' AND event_url IS NULL AND response IS NULL
  AND float8send(group_lat) = '\\xc05ed8471f79420b' AND float8send(group_lon) = '\\x3fb999999999999a'
  AND float8send(lat) = float8send('NaN'::float8) AND float8send(lon) = '\\x40483fb6c3760bf6'
UNION ALL
SELECT '5' FROM rsvp_counts WHERE response_count = 5 * $c
  AND event_name = repeat('ü', 1000) || E'\\tend' AND response = 'yes' AND num_nulls($W_KEYS) = 10
) r
SQL
}
got=$(w_sql "$(check_sql 1)")
[ "$got" = 1,2,3,4,5 ] || w_fail "rows that round-tripped: '$got' (want 1,2,3,4,5): $(w_sql "SELECT left(event_name, 20), response_count, float8send(group_lat), float8send(group_lon), float8send(lat), float8send(lon) FROM rsvp_counts")"
[ "$(w_sql "SELECT count(*) FROM rsvp_counts")" = 5 ] || w_fail "rsvp_counts has extra rows"

# Same keys again: the upsert must find every key (binary-loaded keys equal stored keys).
r=$(w_client "$port" batch --topic t --partition 0 --from $S --to $((2 * S)) --rows-file "$W_TMP/rows.jsonl")
[ "$(w_field "$r" status)" = OK ] || w_fail "second batch: $r"
got=$(w_sql "$(check_sql 2)")
[ "$got" = 1,2,3,4,5 ] || w_fail "after the upsert: '$got' (want 1,2,3,4,5)"
[ "$(w_sql "SELECT count(*) FROM rsvp_counts")" = 5 ] || w_fail "upsert made new keys"

# History rows carry the same values as the totals.
[ "$(w_sql "SELECT count(*) FROM meetup_table")" = 10 ] || w_fail "meetup_table row count"
diff=$(w_sql "SELECT count(*) FROM ((SELECT $W_KEYS, response_count FROM meetup_table WHERE batch_id = 2 EXCEPT SELECT $W_KEYS, response_count FROM rsvp_counts) UNION ALL (SELECT $W_KEYS, response_count FROM rsvp_counts EXCEPT SELECT $W_KEYS, response_count FROM meetup_table WHERE batch_id = 2)) d")
[ "$diff" = 0 ] || w_fail "meetup_table batch 2 differs from rsvp_counts in $diff rows"

w_pass
