#!/usr/bin/env bash
# bench_writer.sh: rows/s rsvp-writer commits into PostgreSQL. Starts a writer on a fresh
# database and sends BATCHES batches of ROWS distinct keys through rsvp-writer-client bench:
# once with the same keys every batch (upserts: the steady state of a live pipeline) and once
# with new keys every batch (inserts). Prints a Markdown table with the CPU time per million rows
# of the writer process and of its PostgreSQL backends (/proc, so PostgreSQL must run on this
# host; 0 otherwise); the database is dropped after. PERF_OUT=file also records `perf record -g`
# of the writer for both runs.
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
PERF_OUT=${PERF_OUT:-}
pid= perf_pid=
cleanup() {
    [ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null && wait "$perf_pid" 2>/dev/null
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
# CPU ticks (user + system) of a process; of the writer's backend sessions together.
ticks() { [ -r "/proc/$1/stat" ] && sed -e 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }' || echo 0; }
pg_ticks() {
    local t=0 p
    for p in $(psql -XAtq "$PGURL" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$DB' AND application_name = 'rsvp-writer'"); do
        # only a local PostgreSQL's processes (a remote server's pid may be anything here)
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = postgres ] && t=$((t + $(ticks "$p")))
    done
    echo "$t"
}
HZ=$(getconf CLK_TCK)
# bench_run ARGS...: one client bench run; prints its JSON line extended with the CPU figures.
bench_run() {
    local w0 p0 out
    w0=$(ticks "$pid") p0=$(pg_ticks)
    out=$("${C[@]}" bench "$@")
    jq -c --argjson w "$(($(ticks "$pid") - w0))" --argjson p "$(($(pg_ticks) - p0))" --argjson hz "$HZ" \
        '.writer_cpu_s_per_m = ($w / $hz / .rows * 1e6 * 100 | round / 100) | .pg_cpu_s_per_m = ($p / $hz / .rows * 1e6 * 100 | round / 100)' <<<"$out"
}
if [ -n "$PERF_OUT" ]; then
    perf record -q -F 999 -g -p "$pid" -o "$PERF_OUT" >/dev/null 2>&1 &
    perf_pid=$!
fi
C=("$BIN/rsvp-writer-client" --url "tcp://127.0.0.1:$PORT" --timeout 120000)
up=$(bench_run --topic bench.upsert --partition 0 --batches "$BATCHES" --rows "$ROWS")
ins=$(bench_run --topic bench.insert --partition 0 --batches "$BATCHES" --rows "$ROWS" --fresh-keys)
if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" && wait "$perf_pid" || true
    perf_pid=
fi
mean_ms=$(curl -s "http://127.0.0.1:$MPORT/metrics" | awk '$1 == "rsvp_writer_batch_seconds_sum" { s = $2 } $1 == "rsvp_writer_batch_seconds_count" { n = $2 } END { if (n) printf "%.1f", 1000 * s / n }')
echo "| benchmark | batches x rows | seconds | rows/s | writer CPU s / M rows | PostgreSQL backend CPU s / M rows |"
echo "|---|---|---|---|---|---|"
for r in "$up" "$ins"; do
    jq -r --arg name "$([ "$(jq -r .fresh_keys <<<"$r")" = true ] && echo 'writer insert (new keys)' || echo 'writer upsert (same keys)')" \
        '"| \($name) | \(.batches) x \(.rows_per_batch) | \(.seconds) | \(.rows_per_s) | \(.writer_cpu_s_per_m) | \(.pg_cpu_s_per_m) |"' <<<"$r"
done
echo
echo "mean batch apply time: ${mean_ms} ms (rsvp_writer_batch_seconds); PostgreSQL $(psql -XAt "$DBURL" -c 'SHOW server_version'), fsync as configured on the server"
