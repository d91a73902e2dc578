#!/usr/bin/env bash
# bench_writer.sh: rows/s rsvp-writer commits into PostgreSQL. Starts a writer on a fresh
# database and sends BATCHES batches of ROWS distinct keys through rsvp-writer-client bench:
# once with the same keys every batch (upserts: the steady state of a live pipeline) and once
# with new keys every batch (inserts). Prints a Markdown table; the database is dropped after.
#   BIN=build/bin PGURL=postgresql://postgres@127.0.0.1:15432/postgres BATCHES=100 ROWS=10000
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
PGURL=${PGURL:-postgresql://postgres@127.0.0.1:15432/postgres}
BATCHES=${BATCHES:-100}
ROWS=${ROWS:-10000}
PORT=${PORT:-31398}
MPORT=${MPORT:-31399}
DB="writer_bench_$$_$RANDOM"
DBURL="${PGURL%/*}/$DB"
LOG=$(mktemp /tmp/writer-bench.XXXXXX.log)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    psql -q "$PGURL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -f "$LOG"
}
trap cleanup EXIT
psql -q "$PGURL" -c "CREATE DATABASE $DB" >/dev/null
PG_URL="$DBURL" LISTEN="tcp://127.0.0.1:$PORT" METRICS_ADDR="127.0.0.1:$MPORT" "$BIN/rsvp-writer" 2>"$LOG" &
pid=$!
deadline=$((SECONDS + 20))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/readyz")" = 200 ]; do
    [ $SECONDS -lt $deadline ] || { echo "writer not ready" >&2; tail "$LOG" >&2; exit 1; }
    sleep 0.1
done
C=("$BIN/rsvp-writer-client" --url "tcp://127.0.0.1:$PORT" --timeout 120000)
up=$("${C[@]}" bench --topic bench.upsert --partition 0 --batches "$BATCHES" --rows "$ROWS")
ins=$("${C[@]}" bench --topic bench.insert --partition 0 --batches "$BATCHES" --rows "$ROWS" --fresh-keys)
mean_ms=$(curl -s "http://127.0.0.1:$MPORT/metrics" | awk '$1 == "rsvp_writer_batch_seconds_sum" { s = $2 } $1 == "rsvp_writer_batch_seconds_count" { n = $2 } END { if (n) printf "%.1f", 1000 * s / n }')
echo "| benchmark | batches x rows | seconds | rows/s |"
echo "|---|---|---|---|"
for r in "$up" "$ins"; do
    jq -r --arg name "$([ "$(jq -r .fresh_keys <<<"$r")" = true ] && echo 'writer insert (new keys)' || echo 'writer upsert (same keys)')" \
        '"| \($name) | \(.batches) x \(.rows_per_batch) | \(.seconds) | \(.rows_per_s) |"' <<<"$r"
done
echo
echo "mean batch apply time: ${mean_ms} ms (rsvp_writer_batch_seconds); PostgreSQL $(psql -XAt "$DBURL" -c 'SHOW server_version'), fsync as configured on the server"
