#!/usr/bin/env bash
# The writer listens on tls+tcp:// (nng built with mbedTLS): a client that trusts the writer's
# certificate gets answers; with TLS_CA set, a client without a certificate gets none.
set -euo pipefail
source "$(dirname "$0")/writer_lib.sh"
w_init test_writer_serves_tls
command -v openssl >/dev/null || w_fail "openssl not found"

cd "$W_TMP"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout server.key -out server.crt >/dev/null 2>&1 || w_fail "openssl server cert"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=aggregator \
    -keyout client.key -out client.crt >/dev/null 2>&1 || w_fail "openssl client cert"
cd - >/dev/null

tport=$(w_free_port)
w_start_writer W LISTEN="tls+tcp://127.0.0.1:$tport" TLS_CERT="$W_TMP/server.crt" TLS_KEY="$W_TMP/server.key"
mport=${W##*:}
w_wait_ready "$mport" || w_fail "TLS writer not ready"
tls_client() { "$BIN/rsvp-writer-client" --url "tls+tcp://127.0.0.1:$1" --timeout "${TO:-10000}" \
    --tls-ca "$W_TMP/server.crt" --tls-server-name localhost "${@:2}"; }
r=$(tls_client "$tport" batch --topic t --partition 0 --from -1 --to 1)
[ "$(w_field "$r" status)" = OK ] || w_fail "batch over TLS: $r"
r=$(tls_client "$tport" query --topic t --partitions 0)
[ "$(jq -c '.offsets[0].next_offset' <<<"$r")" = 1 ] || w_fail "query over TLS: $r"

# Mutual TLS: the writer requires a client certificate signed by TLS_CA.
mtport=$(w_free_port)
w_start_writer W2 LISTEN="tls+tcp://127.0.0.1:$mtport" TLS_CERT="$W_TMP/server.crt" TLS_KEY="$W_TMP/server.key" TLS_CA="$W_TMP/client.crt"
w_wait_ready "${W2##*:}" || w_fail "mTLS writer not ready"
r=$(tls_client "$mtport" --tls-cert "$W_TMP/client.crt" --tls-key "$W_TMP/client.key" query --topic t --partitions 0)
[ "$(w_field "$r" status)" = OK ] || w_fail "mTLS with a client certificate: $r"
r=$(TO=1500 tls_client "$mtport" query --topic t --partitions 0 || true)
[ "$(w_field "$r" error)" = "no reply" ] || w_fail "mTLS without a client certificate should get no reply: $r"

# Misconfiguration is a config error (exit 2), not a crash.
set +e
LISTEN="tls+tcp://127.0.0.1:$(w_free_port)" METRICS_ADDR= PG_URL="$DBURL" "$BIN/rsvp-writer" >"$W_TMP/writer-bad.log" 2>&1
rc=$?
set -e
[ $rc = 2 ] || w_fail "tls+tcp:// without TLS_CERT should exit 2, got $rc"
grep -q 'TLS_CERT' "$W_TMP/writer-bad.log" || w_fail "missing TLS_CERT not explained"
rm -f "$W_TMP/writer-bad.log"
w_pass
