# writer_lib.sh: helpers for the rsvp-writer integration tests (sourced, not run). Each test gets
# a fresh database, a temp dir and free ports (ports.sh); everything it
# started is killed and dropped on exit.
#   w_init NAME                 set up (call first); NAME is the test name printed by PASS/FAIL
#   w_start_writer VAR [ENV=V]  start rsvp-writer on $DBURL; VAR receives "port:metrics_port"
#   w_wait_ready MPORT [SECS]   poll /readyz until 200
#   w_client PORT ARGS...       rsvp-writer-client --url tcp://127.0.0.1:PORT ARGS...
#   w_sql SQL                   psql on the test database, unaligned tuples only
#   w_metric MPORT SERIES       value of one series from /metrics (0 when absent)
#   w_wait_metric MPORT SERIES OP N [SECS]  poll until the series compares (test OP: -ge, -eq...) to N
#   w_pki DIR                   a test PKI in DIR (pki.sh: ca, writer, agg, other-ca, intruder)
#   w_fail WHY / w_pass

W_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${BIN:-build/bin}
case "$BIN" in /*) ;; *) BIN="$W_REPO/$BIN" ;; esac
PGURL=${PGURL:-postgresql://postgres@127.0.0.1:15432/postgres}
W_PIDS=()
source "$W_REPO/tests/integration/ports.sh"
source "$W_REPO/tests/integration/testdata.sh"
source "$W_REPO/tests/integration/pki.sh"

w_fail() {
    echo "FAIL: $W_NAME: $*"
    if [ -n "${W_TMP:-}" ]; then
        for f in "$W_TMP"/writer-*.log; do
            [ -f "$f" ] && { echo "--- $f (tail)"; tail -n 15 "$f"; }
        done
    fi
    exit 1
}

# w_pass: stop the writers still running with SIGTERM (they must exit 0) and make sure no
# sanitizer (make SAN=1 builds) reported anything, then print PASS.
w_pass() {
    local pid rc
    for pid in "${W_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid"
        rc=0
        wait "$pid" || rc=$?
        [ $rc = 0 ] || w_fail "writer $pid exited $rc on SIGTERM"
    done
    if grep -lE 'AddressSanitizer|LeakSanitizer|runtime error:' "$W_TMP"/writer-*.log >/dev/null 2>&1; then
        w_fail "sanitizer report in $(grep -lE 'AddressSanitizer|LeakSanitizer|runtime error:' "$W_TMP"/writer-*.log | head -n 1)"
    fi
    echo "PASS: $W_NAME"
}

w_cleanup() {
    local pid
    for pid in "${W_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    for pid in "${W_PIDS[@]:-}"; do
        [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
    done
    if [ -n "${W_DB:-}" ]; then
        psql -q "$PGURL" -c "DROP DATABASE IF EXISTS $W_DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    if [ -n "${W_EXTRA_CLEANUP:-}" ]; then eval "$W_EXTRA_CLEANUP" || true; fi
    port_release_all
    [ -n "${W_TMP:-}" ] && rm -rf "$W_TMP"
}

w_init() {
    W_NAME=$1
    for b in rsvp-writer rsvp-writer-client; do
        [ -x "$BIN/$b" ] || { echo "FAIL: $W_NAME: $BIN/$b not built"; exit 1; }
    done
    W_TMP=$(mktemp -d /tmp/writer-test.XXXXXX)
    W_DB="writer_t_$(date +%s)_$$_$RANDOM"
    DBURL="${PGURL%/*}/$W_DB"
    trap w_cleanup EXIT
    psql -q "$PGURL" -c "CREATE DATABASE $W_DB" >/dev/null || w_fail "cannot create database"
}

# A free port reserved for this test (ports.sh).
w_free_port() { port_reserve; }

w_start_writer() {
    local var=$1
    shift
    local port mport n
    port=$(w_free_port) && mport=$(w_free_port) || w_fail "no free port"
    n=${#W_PIDS[@]}
    env PG_URL="$DBURL" LISTEN="tcp://127.0.0.1:$port" METRICS_ADDR="127.0.0.1:$mport" \
        INSTANCE_ID="w$n" "$@" "$BIN/rsvp-writer" >"$W_TMP/writer-$n.log" 2>&1 &
    W_PIDS+=($!)
    printf -v "$var" '%s:%s' "$port" "$mport"
}

w_wait_ready() {
    local mport=$1 secs=${2:-20} deadline
    deadline=$((SECONDS + secs))
    while [ $SECONDS -lt $deadline ]; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/readyz")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

w_client() {
    local port=$1
    shift
    "$BIN/rsvp-writer-client" --url "tcp://127.0.0.1:$port" --timeout "${W_CLIENT_TIMEOUT:-10000}" "$@"
}

w_sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$DBURL" -c "$1"; }

w_metric() {
    curl -s "http://127.0.0.1:$1/metrics" | awk -v s="$2" '$1 == s { print $2; f = 1 } END { if (!f) print 0 }'
}

w_wait_metric() {
    local mport=$1 series=$2 op=$3 want=$4 deadline=$((SECONDS + ${5:-20}))
    while [ $SECONDS -lt $deadline ]; do
        [ "$(w_metric "$mport" "$series")" "$op" "$want" ] && return 0
        sleep 0.1
    done
    return 1
}

w_pki() { pki_make "$1" || w_fail "openssl failed"; }

# w_field JSON KEY: a top-level field of the client's one-line reply.
w_field() { jq -r ".$2 // empty" <<<"$1"; }

# The 12 key columns, for SQL.
W_KEYS="event_name, event_url, event_time, group_name, group_country, group_state, group_city, group_lat, group_lon, lat, lon, response"
