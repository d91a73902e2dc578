#!/usr/bin/env bash
# SIGTERM while a batch is being applied: the writer commits and answers that batch, then exits 0;
# a later replay of the batch is STALE with stored_offset == its to_offset (nothing lost, nothing
# twice). The batch (200,000 rows, ~9 MB) is over the default limits, so they are raised here.
set -euo pipefail
source "$(dirname "$0")/writer_lib.sh"
w_init test_writer_finishes_batch_on_sigterm

N=200000
awk -v n=$N 'BEGIN { for (i = 0; i < n; i++) printf "{\"event_name\":\"big-%d\",\"group_lat\":%d.5,\"response\":\"yes\",\"delta\":1}\n", i, i % 90 }' >"$W_TMP/big.jsonl"
LIMITS=(MAX_BATCH_ROWS=$N MAX_REQUEST_BYTES=16M MAX_DECODE_BYTES=96M MAX_MEMORY=512M)
w_start_writer W "${LIMITS[@]}"
port=${W%%:*} mport=${W##*:}
pid=${W_PIDS[0]}
w_wait_ready "$mport" || w_fail "writer not ready"

w_client "$port" batch --topic t --partition 0 --from -1 --to $N --rows-file "$W_TMP/big.jsonl" >"$W_TMP/reply" &
client=$!
# Wait until the batch is inside PostgreSQL (COPY or the apply statement running).
deadline=$((SECONDS + 30))
until [ "$(psql -X -At "$PGURL" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$W_DB' AND state = 'active' AND (query LIKE 'COPY%' OR query LIKE 'WITH b AS%')")" != 0 ]; do
    [ $SECONDS -lt $deadline ] || w_fail "batch never reached the database"
    kill -0 $client 2>/dev/null || w_fail "client finished before SIGTERM could land: $(cat "$W_TMP/reply")"
    sleep 0.02
done
kill -TERM "$pid"
wait $client || true
set +e
wait "$pid"
rc=$?
set -e
[ "$(w_field "$(cat "$W_TMP/reply")" status)" = OK ] || w_fail "batch in flight not answered OK: $(cat "$W_TMP/reply")"
[ $rc = 0 ] || w_fail "writer exit code $rc after SIGTERM"
[ "$(w_sql "SELECT count(*) || '/' || sum(response_count) FROM rsvp_counts")" = "$N/$N" ] || w_fail "rows after SIGTERM"
grep -q '"msg":"down"' "$W_TMP/writer-0.log" || w_fail "no down log line"

w_start_writer W
port=${W%%:*}
r=$(w_client "$port" batch --topic t --partition 0 --from -1 --to $N)
[ "$(w_field "$r" status)/$(w_field "$r" stored_offset)" = "STALE/$N" ] || w_fail "replay after restart: $r"
w_pass
