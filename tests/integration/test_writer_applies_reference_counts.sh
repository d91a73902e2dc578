#!/usr/bin/env bash
# The writer turns batches into the reference totals: the reference counts file is sent as two
# batches (every key once over the first 2265 offsets, then the remainders over the 600 after, so
# each batch's deltas add up to the messages its range holds), and rsvp_counts must equal it key by key (null
# keys included), while the newest meetup_table row of every key carries the same total. Strings
# with tab, newline, backslash and non-ASCII text survive the COPY path unchanged.
set -euo pipefail
source "$(dirname "$0")/writer_lib.sh"
w_init test_writer_applies_reference_counts

REF="$TESTDATA_REFERENCE"
[ -f "$REF" ] || w_fail "missing $REF"
jq -c '.response_count = 1' "$REF" >"$W_TMP/b1.jsonl"
jq -c 'select(.response_count > 1) | .response_count -= 1' "$REF" >"$W_TMP/b2.jsonl"
n_keys=$(wc -l <"$REF")
n_b2=$(wc -l <"$W_TMP/b2.jsonl")

w_start_writer W
port=${W%%:*} mport=${W##*:}
w_wait_ready "$mport" || w_fail "writer not ready"

r=$(w_client "$port" batch --topic rsvps.parsed --partition 0 --from -1 --to "$n_keys" --rows-file "$W_TMP/b1.jsonl" --newest-ingest-ms now)
[ "$(w_field "$r" status)" = OK ] || w_fail "first batch: $r"
r=$(w_client "$port" batch --topic rsvps.parsed --partition 0 --from "$n_keys" --to 2865 --rows-file "$W_TMP/b2.jsonl")
[ "$(w_field "$r" status)" = OK ] || w_fail "second batch: $r"

# Load the reference as jsonb (CSV with impossible quote/delimiter keeps backslashes intact).
w_sql "CREATE TABLE ref (j jsonb)"
psql -X -q -v ON_ERROR_STOP=1 "$DBURL" -c "\\copy ref FROM '$REF' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')"
REFCOLS="j->>'event_name', j->>'event_url', j->>'event_time', j->>'group_name', j->>'group_country', j->>'group_state', j->>'group_city', (j->>'group_lat')::float8, (j->>'group_lon')::float8, (j->>'lat')::float8, (j->>'lon')::float8, j->>'response', (j->>'response_count')::bigint"
diff=$(w_sql "SELECT count(*) FROM ((SELECT $REFCOLS FROM ref EXCEPT ALL SELECT $W_KEYS, response_count FROM rsvp_counts) UNION ALL (SELECT $W_KEYS, response_count FROM rsvp_counts EXCEPT ALL SELECT $REFCOLS FROM ref)) d")
[ "$diff" = 0 ] || w_fail "rsvp_counts differs from the reference in $diff rows"
[ "$(w_sql "SELECT count(*) || ' ' || sum(response_count) FROM rsvp_counts")" = "$n_keys 2865" ] ||
    w_fail "count/sum: $(w_sql "SELECT count(*) || ' ' || sum(response_count) FROM rsvp_counts")"
nulls=$(w_sql "SELECT count(*) FILTER (WHERE group_state IS NULL) > 0 AND count(*) FILTER (WHERE lat IS NULL) > 0 FROM rsvp_counts")
[ "$nulls" = t ] || w_fail "expected keys with NULL group_state and NULL lat"

# History: one row per key per batch, the newest per key equals the current total.
[ "$(w_sql "SELECT count(*) FROM meetup_table")" = $((n_keys + n_b2)) ] || w_fail "meetup_table row count"
diff=$(w_sql "SELECT count(*) FROM ((SELECT * FROM (SELECT DISTINCT ON ($W_KEYS) $W_KEYS, response_count FROM meetup_table ORDER BY $W_KEYS, batch_id DESC) l EXCEPT ALL SELECT $W_KEYS, response_count FROM rsvp_counts) UNION ALL (SELECT $W_KEYS, response_count FROM rsvp_counts EXCEPT ALL SELECT * FROM (SELECT DISTINCT ON ($W_KEYS) $W_KEYS, response_count FROM meetup_table ORDER BY $W_KEYS, batch_id DESC) l2)) d")
[ "$diff" = 0 ] || w_fail "latest meetup_table rows differ from rsvp_counts in $diff rows"
[ "$(w_sql "SELECT string_agg(batch_id || ':' || rows || ':' || messages || ':' || to_offset, ',' ORDER BY batch_id) FROM rsvp_batches")" = "1:$n_keys:$n_keys:$n_keys,2:$n_b2:$((2865 - n_keys)):2865" ] ||
    w_fail "rsvp_batches: $(w_sql "SELECT * FROM rsvp_batches")"
[ "$(w_sql "SELECT next_offset FROM rsvp_offsets WHERE topic = 'rsvps.parsed' AND partition = 0")" = 2865 ] || w_fail "offset"

# COPY escaping end to end.
cat >"$W_TMP/esc.jsonl" <<'ROWS'
{"event_name": "tab\there", "event_url": "line1\nline2", "event_time": "back\\slash", "group_name": "\\N", "group_country": "cr\rx", "group_city": "caf\u00e9 \ud83c\udf89", "group_lat": -0.0, "group_lon": 1e-300, "response": "no", "delta": 2}
{"event_name": "", "event_url": null, "delta": 1}
ROWS
r=$(w_client "$port" batch --topic rsvps.parsed --partition 1 --from -1 --to 3 --rows-file "$W_TMP/esc.jsonl")
[ "$(w_field "$r" status)" = OK ] || w_fail "escape batch: $r"
got=$(w_sql "SELECT count(*) FROM rsvp_counts WHERE event_name = E'tab\\there' AND event_url = E'line1\\nline2' AND event_time = E'back\\\\slash' AND group_name = E'\\\\N' AND group_country = E'cr\\rx' AND group_city = 'café 🎉' AND group_state IS NULL AND group_lat = 0 AND group_lon = 1e-300 AND lat IS NULL AND response = 'no' AND response_count = 2")
[ "$got" = 1 ] || w_fail "escaped strings did not round-trip: $(w_sql "SELECT * FROM rsvp_counts WHERE response = 'no' AND event_name LIKE 'tab%'")"
got=$(w_sql "SELECT count(*) FROM rsvp_counts WHERE event_name = '' AND event_url IS NULL AND response IS NULL AND response_count = 1")
[ "$got" = 1 ] || w_fail "empty string vs NULL"

# Metrics saw it.
[ "$(w_metric "$mport" 'rsvp_writer_batches_total{result="ok"}')" = 3 ] || w_fail "batches_total ok"
[ "$(w_metric "$mport" rsvp_writer_messages_total)" = 2868 ] || w_fail "messages_total"
[ "$(w_metric "$mport" rsvp_writer_freshness_seconds_count)" = 1 ] || w_fail "freshness histogram"
w_pass
