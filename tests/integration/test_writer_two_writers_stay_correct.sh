#!/usr/bin/env bash
# Two writers on one database stay exactly-once: every batch of 4 partitions is sent to both
# writers at the same time (as two aggregators racing after a rebalance would); for each batch
# exactly one writer answers OK and the other STALE with stored_offset == to_offset, and the final
# totals equal the sum of all deltas, although the partitions share keys (concurrent upserts).
set -euo pipefail
source "$(dirname "$0")/writer_lib.sh"
w_init test_writer_two_writers_stay_correct

P=4 K=15 POOL=150 PER=60
# Batch files and the expected totals per key.
awk -v P=$P -v K=$K -v POOL=$POOL -v PER=$PER -v dir="$W_TMP" 'BEGIN {
    for (p = 0; p < P; p++) for (k = 0; k < K; k++) {
        f = sprintf("%s/p%d-b%d.jsonl", dir, p, k)
        for (j = 0; j < PER; j++) {
            i = (p * 37 + k * 11 + j * 2) % POOL
            d = 1 + (p + k + j) % 3
            sum[i] += d
            state = (i % 2) ? "null" : "\"TX\""
            lat = (i % 3 == 0) ? "null" : sprintf("%.1f", i * 0.1)
            printf "{\"event_name\":\"k-%d\",\"event_url\":\"u-%d\",\"event_time\":\"%d\",\"group_name\":\"g\",\"group_country\":\"us\",\"group_state\":%s,\"group_city\":\"c\",\"group_lat\":%.2f,\"group_lon\":%.2f,\"lat\":%s,\"lon\":%s,\"response\":\"%s\",\"delta\":%d}\n", i, i % 7, 1500000000000 + i, state, i * 0.5, -i * 0.25, lat, lat, (i % 4) ? "yes" : "no", d > f
        }
        close(f)
    }
    for (i in sum) printf "k-%d\t%d\n", i, sum[i] > (dir "/expected.tsv")
}'

w_start_writer W1
w_start_writer W2
p1=${W1%%:*} m1=${W1##*:} p2=${W2%%:*} m2=${W2##*:}
w_wait_ready "$m1" && w_wait_ready "$m2" || w_fail "writers not ready"

# send PORT P K OUT: one batch to one writer, resent while RETRY. Batch K covers offsets
# [200K, 200K + 200): room for its messages (at most 60 rows of delta 3).
send() {
    local r st deadline=$((SECONDS + 30))
    while :; do
        r=$(w_client "$1" batch --topic rsvps.parsed --partition "$2" --from "$(( $3 == 0 ? -1 : $3 * 200 ))" --to "$(( ($3 + 1) * 200 ))" --rows-file "$W_TMP/p$2-b$3.jsonl" || true)
        st=$(jq -r '.status // "none"' <<<"$r")
        [ "$st" = RETRY ] && [ $SECONDS -lt $deadline ] && { sleep 0.1; continue; }
        echo "$r" >"$4"
        return 0
    done
}
race_partition() {
    local p=$1 k a b
    for k in $(seq 0 $((K - 1))); do
        send "$p1" "$p" "$k" "$W_TMP/r-$p-$k-a" &
        a=$!
        send "$p2" "$p" "$k" "$W_TMP/r-$p-$k-b" &
        b=$!
        wait $a $b
        # one OK, one STALE(stored == to), in either order
        st=$(jq -rs 'map(.status + ":" + ((.stored_offset // "") | tostring)) | sort | join(",")' "$W_TMP/r-$p-$k-a" "$W_TMP/r-$p-$k-b")
        [ "$st" = "OK:,STALE:$(((k + 1) * 200))" ] || { echo "partition $p batch $k: $st" >>"$W_TMP/errors"; return 0; }
    done
}
pids=()
for p in $(seq 0 $((P - 1))); do race_partition "$p" & pids+=($!); done
wait "${pids[@]}"
[ ! -s "$W_TMP/errors" ] || w_fail "$(head -n 5 "$W_TMP/errors")"

w_sql "CREATE TABLE expected (event_name text, total bigint)"
psql -X -q -v ON_ERROR_STOP=1 "$DBURL" -c "\\copy expected FROM '$W_TMP/expected.tsv'"
diff=$(w_sql "SELECT count(*) FROM ((SELECT event_name, total FROM expected EXCEPT ALL SELECT event_name, response_count FROM rsvp_counts) UNION ALL (SELECT event_name, response_count FROM rsvp_counts EXCEPT ALL SELECT event_name, total FROM expected)) d")
[ "$diff" = 0 ] || w_fail "totals differ from the expected sums in $diff keys"
[ "$(w_sql "SELECT count(*) FROM rsvp_batches")" = $((P * K)) ] || w_fail "batches applied: $(w_sql "SELECT count(*) FROM rsvp_batches")"
[ "$(w_sql "SELECT string_agg(next_offset::text, ',' ORDER BY partition) FROM rsvp_offsets")" = "$(printf '%s,' $(for p in $(seq 1 $P); do echo $((K * 200)); done) | sed 's/,$//')" ] ||
    w_fail "offsets: $(w_sql "SELECT * FROM rsvp_offsets")"
diff=$(w_sql "SELECT count(*) FROM ((SELECT * FROM (SELECT DISTINCT ON ($W_KEYS) $W_KEYS, response_count FROM meetup_table ORDER BY $W_KEYS, batch_id DESC) l EXCEPT ALL SELECT $W_KEYS, response_count FROM rsvp_counts) UNION ALL (SELECT $W_KEYS, response_count FROM rsvp_counts EXCEPT ALL SELECT * FROM (SELECT DISTINCT ON ($W_KEYS) $W_KEYS, response_count FROM meetup_table ORDER BY $W_KEYS, batch_id DESC) l2)) d")
[ "$diff" = 0 ] || w_fail "latest meetup_table rows differ from rsvp_counts in $diff rows"
ok=$(( $(w_metric "$m1" 'rsvp_writer_batches_total{result="ok"}') + $(w_metric "$m2" 'rsvp_writer_batches_total{result="ok"}') ))
[ "$ok" = $((P * K)) ] || w_fail "ok batches over both writers: $ok"
w_pass
