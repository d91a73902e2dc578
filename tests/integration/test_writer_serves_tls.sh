#!/usr/bin/env bash
# A writer on tls+tcp:// trusts only clients whose certificate its CA signed (mutual TLS, nng with
# mbedTLS): a client with such a certificate is answered and its batch applied; the same valid
# batch sent without a certificate, with a certificate of another CA, or over plain TCP to the TLS
# port gets no answer and changes nothing in the database, and each refusal is counted in
# rsvp_writer_transport_errors_total. tls+tcp:// without TLS_CERT, TLS_KEY or TLS_CA, or with a CA
# file that is not PEM, is a configuration error (exit 2) that names the option.
set -euo pipefail
source "$(dirname "$0")/writer_lib.sh"
w_init test_writer_serves_tls
command -v openssl >/dev/null || w_fail "openssl not found"
w_pki "$W_TMP/pki"
K=$W_TMP/pki

tport=$(w_free_port)
w_start_writer W LISTEN="tls+tcp://127.0.0.1:$tport" TLS_CERT="$K/writer.crt" TLS_KEY="$K/writer.key" TLS_CA="$K/ca.crt"
mport=${W##*:}
w_wait_ready "$mport" || w_fail "TLS writer not ready"
# tls_client PORT [client options] COMMAND ...: trusts the writer's CA, checks its name
tls_client() { "$BIN/rsvp-writer-client" --url "tls+tcp://127.0.0.1:$1" --timeout "${TO:-10000}" \
    --tls-ca "$K/ca.crt" --tls-server-name localhost "${@:2}"; }
echo '{"event_name":"tls","response":"yes","delta":1}' >"$W_TMP/row.jsonl"
state() { w_sql "SELECT (SELECT count(*) FROM rsvp_counts) || ':' || (SELECT count(*) FROM rsvp_offsets) || ':' || (SELECT count(*) FROM rsvp_batches)"; }

r=$(tls_client "$tport" --tls-cert "$K/agg.crt" --tls-key "$K/agg.key" batch --topic t --partition 0 --from -1 --to 1 --rows-file "$W_TMP/row.jsonl")
[ "$(w_field "$r" status)" = OK ] || w_fail "batch over mutual TLS: $r"
r=$(tls_client "$tport" --tls-cert "$K/agg.crt" --tls-key "$K/agg.key" query --topic t --partitions 0)
[ "$(jq -c '.offsets[0].next_offset' <<<"$r")" = 1 ] || w_fail "query over mutual TLS: $r"
before=$(state)
[ "$before" = 1:1:1 ] || w_fail "after one batch: $before"

# The next valid batch (it would apply), sent by clients the writer must not trust.
next=(batch --topic t --partition 0 --from 1 --to 2 --rows-file "$W_TMP/row.jsonl")
r=$(TO=2000 tls_client "$tport" "${next[@]}" || true)
[ "$(w_field "$r" error)" = "no reply" ] || w_fail "no client certificate: expected no reply, got: $r"
r=$(TO=2000 tls_client "$tport" --tls-cert "$K/intruder.crt" --tls-key "$K/intruder.key" "${next[@]}" || true)
[ "$(w_field "$r" error)" = "no reply" ] || w_fail "a certificate of another CA: expected no reply, got: $r"
r=$(TO=2000 w_client "$tport" "${next[@]}" || true)
[ "$(w_field "$r" error)" = "no reply" ] || w_fail "plain tcp to the TLS port: expected no reply, got: $r"
[ "$(state)" = "$before" ] || w_fail "a refused client changed the database: $(state)"
w_wait_metric "$mport" 'rsvp_writer_transport_errors_total{kind="auth"}' -ge 2 10 ||
    w_fail "refused TLS clients not counted: $(curl -s "http://127.0.0.1:$mport/metrics" | grep transport_errors)"
grep -q '"msg":"connections failed"' "$W_TMP/writer-0.log" || w_fail "refused TLS clients not logged"
[ "$(w_metric "$mport" 'rsvp_writer_batches_total{result="ok"}')" = 1 ] || w_fail "batches_total ok"

# Misconfiguration is a config error (exit 2) that names what is missing, not a crash.
bad_config() { # WHAT ENV...: the writer must exit 2 and name WHAT
    local what=$1 rc=0
    shift
    env LISTEN="tls+tcp://127.0.0.1:$(w_free_port)" METRICS_ADDR= PG_URL="$DBURL" "$@" "$BIN/rsvp-writer" \
        >"$W_TMP/writer-bad.log" 2>&1 || rc=$?
    [ $rc = 2 ] || w_fail "$*: expected exit 2, got $rc"
    grep -q "$what" "$W_TMP/writer-bad.log" || w_fail "$*: $what not named: $(tail -n 2 "$W_TMP/writer-bad.log")"
}
bad_config TLS_CERT
bad_config TLS_CA TLS_CERT="$K/writer.crt" TLS_KEY="$K/writer.key"
bad_config TLS_CA TLS_CERT="$K/writer.crt" TLS_KEY="$K/writer.key" TLS_CA="$K/openssl.log"
bad_config TLS_KEY TLS_CERT="$K/writer.crt" TLS_KEY="$K/missing.key" TLS_CA="$K/ca.crt"
rm -f "$W_TMP/writer-bad.log"
w_pass
