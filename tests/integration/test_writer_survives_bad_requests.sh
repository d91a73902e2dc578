#!/usr/bin/env bash
# Bad requests get an ERROR reply naming the reason, are counted in
# rsvp_writer_bad_requests_total{reason} and never hurt the writer: random bytes, an empty message,
# an oversize message (ERROR up to MAX_REQUEST_BYTES + min(MAX_REQUEST_BYTES, 1M), dropped by nng
# beyond), invalid batch fields, an empty range, too many rows
# (counted before decoding), and a batch with the same key twice (PostgreSQL refuses it: ERROR,
# nothing committed). Good batches still work.
set -euo pipefail
source "$(dirname "$0")/writer_lib.sh"
w_init test_writer_survives_bad_requests

head -n 150 "$TESTDATA_REFERENCE" >"$W_TMP/rows.jsonl"
head -n 3 "$W_TMP/rows.jsonl" >"$W_TMP/dup.jsonl"
head -n 1 "$W_TMP/rows.jsonl" >>"$W_TMP/dup.jsonl"
sum() { jq -s 'map(.response_count) | add' "$1"; } # the messages a batch of these rows claims
w_start_writer W MAX_REQUEST_BYTES=64k MAX_BATCH_ROWS=100
port=${W%%:*} mport=${W##*:}
pid=${W_PIDS[0]}
w_wait_ready "$mport" || w_fail "writer not ready"
T=rsvps.parsed
expect_error() { # REPLY WHAT [REASON]: an ERROR whose message starts with REASON
    [ "$(w_field "$1" status)" = ERROR ] || w_fail "$2: expected ERROR, got: $1"
    [ -z "${3:-}" ] || [[ $(w_field "$1" message) == "$3: "* ]] || w_fail "$2: expected reason $3, got: $1"
}

for i in 1 2 3; do expect_error "$(w_client "$port" garbage --bytes 200)" "garbage" unpack; done
expect_error "$(w_client "$port" garbage --bytes 0)" "empty" empty
expect_error "$(w_client "$port" garbage --bytes 100000)" "oversize" oversize
# Far over the limit: nng drops the connection; the client times out, the writer lives on.
r=$(W_CLIENT_TIMEOUT=1500 w_client "$port" garbage --bytes 300000 || true)
[ "$(w_field "$r" error)" = "no reply" ] || w_fail "expected no reply for 300000 bytes: $r"
expect_error "$(w_client "$port" batch --topic $T --partition -3 --from -1 --to 5)" "negative partition" invalid_batch
expect_error "$(w_client "$port" batch --topic $T --partition 0 --from 5 --to 5)" "empty range" bad_range
expect_error "$(w_client "$port" batch --topic '' --partition 0 --from -1 --to 5)" "empty topic" invalid_batch
expect_error "$(w_client "$port" batch --topic $T --partition 0 --from -1 --to 5000 --rows-file "$W_TMP/rows.jsonl")" "too many rows" too_many_rows
expect_error "$(w_client "$port" query --topic $T --partitions -1)" "negative partition query" invalid_query

r=$(w_client "$port" batch --topic $T --partition 0 --from -1 --to "$(sum "$W_TMP/dup.jsonl")" --rows-file "$W_TMP/dup.jsonl")
expect_error "$r" "duplicate key"
grep -q "cannot affect row a second time" <<<"$r" || w_fail "duplicate key reply should carry PostgreSQL's reason: $r"
[ "$(w_sql "SELECT (SELECT count(*) FROM rsvp_counts) + (SELECT count(*) FROM rsvp_offsets) + (SELECT count(*) FROM rsvp_batches)")" = 0 ] ||
    w_fail "a refused batch left data behind"

kill -0 "$pid" 2>/dev/null || w_fail "writer died"
head -n 3 "$W_TMP/rows.jsonl" >"$W_TMP/ok.jsonl"
r=$(w_client "$port" batch --topic $T --partition 0 --from -1 --to "$(sum "$W_TMP/ok.jsonl")" --rows-file "$W_TMP/ok.jsonl")
[ "$(w_field "$r" status)" = OK ] || w_fail "good batch after bad ones: $r"

m() { w_metric "$mport" "rsvp_writer_bad_requests_total{reason=\"$1\"}"; }
[ "$(m unpack)" = 3 ] || w_fail "unpack count $(m unpack)"
[ "$(m empty)" = 1 ] || w_fail "empty count $(m empty)"
[ "$(m oversize)" = 1 ] || w_fail "oversize count $(m oversize)"
[ "$(m invalid_batch)" = 2 ] || w_fail "invalid_batch count $(m invalid_batch)"
[ "$(m bad_range)" = 1 ] || w_fail "bad_range count $(m bad_range)"
[ "$(m too_many_rows)" = 1 ] || w_fail "too_many_rows count $(m too_many_rows)"
[ "$(m invalid_query)" = 1 ] || w_fail "invalid_query count $(m invalid_query)"
[ "$(w_metric "$mport" 'rsvp_writer_batches_total{result="error"}')" = 5 ] || w_fail "batches error count"
if command -v promtool >/dev/null; then
    curl -s "http://127.0.0.1:$mport/metrics" | promtool check metrics >"$W_TMP/promtool.out" 2>&1 ||
        w_fail "promtool: $(cat "$W_TMP/promtool.out")"
fi
# Logs are rate-limited: a burst of bad requests is not a burst of log lines.
n=$(grep -c '"reason":"unpack"' "$W_TMP/writer-0.log" || true)
[ "$n" -le 2 ] || w_fail "$n log lines for 3 garbage requests in a burst"
w_pass
