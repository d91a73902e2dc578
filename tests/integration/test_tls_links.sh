#!/usr/bin/env bash
# test_tls_links.sh: secure transport with a test CA made by openssl.
# 1. PostgreSQL with ssl=on (a throwaway cluster of our own, initdb'd as user postgres by
#    deploy/local/postgres.sh on 127.0.0.1:31880, server certificate for CN/SAN 127.0.0.1 + localhost signed
#    by the CA): the writer applies a batch with PG_URL=...?sslmode=verify-full&sslrootcert=ca.crt and its
#    connections show ssl in pg_stat_ssl; with a CA that did not sign the server it never connects (RETRY).
# 2. The aggregator -> writer link over tls+tcp://: the writer serves a CA-signed certificate and requires
#    a CA-signed client certificate (TLS_CA); checked with rsvp-writer-client (CA-signed client answered; no
#    certificate, wrong CA, plain tcp refused).
# 3. The real pipeline over that link: the recorded RSVPs go raw (kcat) -> rsvp-parser -> rsvp-aggregator
#    -> tls+tcp:// (mutual TLS, TLS_CA/TLS_CERT/TLS_KEY/TLS_SERVER_NAME) -> rsvp-writer -> PostgreSQL
#    verify-full, and rsvp_counts equals the reference (sum 2865). Before that, an aggregator trusting
#    another CA, and one expecting another server name, get nothing through: their offset queries are
#    retried (metric grows), rsvp_counts stays empty. An aggregator given a tls+tcp:// URL without TLS_CA, or an unreadable CA, exits 2.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agg_lib.sh"
lib_init test_tls_links
need_bin rsvp-writer rsvp-writer-client rsvp-parser rsvp-aggregator
command -v openssl >/dev/null || fail "openssl not found"
command -v kcat >/dev/null || fail "kcat not installed"
PGPORT=31880 W1=31881 W1M=31882 W2=31883 W2M=31884 W3M=31886
W4=32001 W4M=32002 PM=32003 AM=32004 AM2=32005 AM3=32006
PGVAR=$TEST_DIR/pg
PENV=(env "PG_VAR=$PGVAR" "PG_PORT=$PGPORT")
pg_cleanup() {
	local rc=$?
	"${PENV[@]}" deploy/local/postgres.sh clean >/dev/null 2>&1 || true
	(exit $rc)
	lib_cleanup
}
trap pg_cleanup EXIT

# --- the test PKI: CA, PostgreSQL server, writer server, aggregator client, and an unrelated CA ---
cd "$TEST_DIR"
ossl() { openssl "$@" >>openssl.log 2>&1 || fail "openssl $1 failed: $(tail -n 3 openssl.log)"; }
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=rsvp test CA" -keyout ca.key -out ca.crt \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" -keyout other.key -out other.crt \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
# signed NAME CN SAN [EKU]: NAME.key + NAME.crt signed by ca
signed() {
	printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$3" "${4:-serverAuth}" >"$1.ext"
	ossl req -new -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1.key" -out "$1.csr"
	ossl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt"
}
signed pg 127.0.0.1 "IP:127.0.0.1,DNS:localhost"
signed writer localhost "DNS:localhost,IP:127.0.0.1"
signed aggregator aggregator "DNS:aggregator" clientAuth
cd "$LIB_ROOT"

# --- 1. PostgreSQL ssl=on, writer with sslmode=verify-full ---
"${PENV[@]}" deploy/local/postgres.sh up >"$TEST_DIR/pg.log" 2>&1 || fail "postgres up: $(tail -n 5 "$TEST_DIR/pg.log")"
PGREAL=$(readlink -f "$PGVAR")
install -m 0600 "$TEST_DIR/pg.key" "$PGREAL/server.key"
install -m 0644 "$TEST_DIR/pg.crt" "$PGREAL/server.crt"
((EUID == 0)) && chown postgres:postgres "$PGREAL/server.key" "$PGREAL/server.crt"
PLAIN="postgresql://postgres@127.0.0.1:$PGPORT/postgres"
psql_q "$PLAIN" "ALTER SYSTEM SET ssl_cert_file = '$PGREAL/server.crt'" >/dev/null
psql_q "$PLAIN" "ALTER SYSTEM SET ssl_key_file = '$PGREAL/server.key'" >/dev/null
psql_q "$PLAIN" "ALTER SYSTEM SET ssl = on" >/dev/null
psql_q "$PLAIN" "SELECT pg_reload_conf()" >/dev/null
wait_for "[[ \$(psql_q '$PLAIN' 'SHOW ssl') == on ]]" 10 || fail "ssl not on after reload"
SSLURL="postgresql://postgres@127.0.0.1:$PGPORT/postgres?sslmode=verify-full&sslrootcert=$TEST_DIR/ca.crt"
[[ $(psql_q "$SSLURL" "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == t ]] ||
	fail "psql with verify-full over 127.0.0.1 did not get TLS"
[[ $(psql_q "postgresql://postgres@localhost:$PGPORT/postgres?sslmode=verify-full&sslrootcert=$TEST_DIR/ca.crt" \
	"SELECT 1") == 1 ]] || fail "verify-full against host localhost failed (SAN DNS:localhost)"

writer_env=(env "METRICS_ADDR=127.0.0.1:$W1M" "LISTEN=tls+tcp://127.0.0.1:$W1" "INSTANCE_ID=tls-w1"
	"TLS_CERT=$TEST_DIR/writer.crt" "TLS_KEY=$TEST_DIR/writer.key" "TLS_CA=$TEST_DIR/ca.crt")
start_bg writer1 "${writer_env[@]}" "PG_URL=$SSLURL" "$BIN/rsvp-writer"
wait_for "[[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$W1M/readyz) == 200 ]]" 30 ||
	fail "writer with sslmode=verify-full not ready"
client() { # client PORT [tls options...] -- COMMAND...
	local port=$1
	shift
	"$BIN/rsvp-writer-client" --url "tls+tcp://127.0.0.1:$port" --timeout "${TO:-10000}" \
		--tls-ca "$TEST_DIR/ca.crt" --tls-server-name localhost "$@"
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2"; }
printf '%s\n' '{"event_name":"tls","event_time":"1","group_lat":1.5,"response":"yes","delta":3}' >"$TEST_DIR/rows.jsonl"
r=$(client "$W1" --tls-cert "$TEST_DIR/aggregator.crt" --tls-key "$TEST_DIR/aggregator.key" \
	batch --topic tls.t --partition 0 --from -1 --to 5 --rows-file "$TEST_DIR/rows.jsonl" --messages 3)
[[ $(field "$r" status) == OK ]] || fail "batch over tls+tcp to a writer on PostgreSQL verify-full: $r"
[[ $(psql_q "$PLAIN" "SELECT response_count FROM rsvp_counts WHERE event_name = 'tls'") == 3 ]] ||
	fail "row not in rsvp_counts"
n=$(psql_q "$PLAIN" "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
	WHERE a.datname = 'postgres' AND s.ssl AND a.pid <> pg_backend_pid()")
((n >= 1)) || fail "no TLS connection from the writer in pg_stat_ssl"
plain_conns=$(psql_q "$PLAIN" "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
	WHERE a.backend_type = 'client backend' AND NOT s.ssl AND a.pid <> pg_backend_pid()")
[[ $plain_conns == 0 ]] || fail "$plain_conns client connection(s) without TLS"
echo "ok: writer -> PostgreSQL sslmode=verify-full ($n TLS connection(s), 0 plain), batch applied over tls+tcp"

# wrong CA: verify-full must refuse the server, the writer never becomes ready and answers RETRY
BADURL="postgresql://postgres@127.0.0.1:$PGPORT/postgres?sslmode=verify-full&sslrootcert=$TEST_DIR/other.crt"
start_bg writer3 env "METRICS_ADDR=127.0.0.1:$W3M" "LISTEN=ipc://$TEST_DIR/w3.sock" "INSTANCE_ID=tls-w3" \
	"PG_URL=$BADURL" "$BIN/rsvp-writer"
wait_for "grep -qi 'certificate verify failed' '$TEST_DIR/writer3.log'" 20 ||
	fail "writer with a wrong sslrootcert did not report the certificate failure"
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$W3M/readyz") != 200 ]] ||
	fail "writer with a wrong sslrootcert says ready"
r=$("$BIN/rsvp-writer-client" --url "ipc://$TEST_DIR/w3.sock" --timeout 5000 query --topic tls.t --partitions 0 || true)
[[ $(field "$r" status) == RETRY ]] || fail "writer without a verified database should answer RETRY: $r"
echo "ok: a server certificate from another CA is refused (RETRY, not ready)"

# --- 2. tls+tcp:// with client certificates (mutual TLS) ---
start_bg writer2 env "METRICS_ADDR=127.0.0.1:$W2M" "LISTEN=tls+tcp://127.0.0.1:$W2" "INSTANCE_ID=tls-w2" \
	"TLS_CERT=$TEST_DIR/writer.crt" "TLS_KEY=$TEST_DIR/writer.key" "TLS_CA=$TEST_DIR/ca.crt" \
	"PG_URL=$SSLURL" "$BIN/rsvp-writer"
wait_for "[[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$W2M/readyz) == 200 ]]" 30 ||
	fail "mTLS writer not ready"
r=$(client "$W2" --tls-cert "$TEST_DIR/aggregator.crt" --tls-key "$TEST_DIR/aggregator.key" \
	query --topic tls.t --partitions 0)
[[ $(field "$r" status) == OK ]] || fail "mTLS with a CA-signed client certificate: $r"
r=$(TO=2000 client "$W2" query --topic tls.t --partitions 0 || true)
[[ $(field "$r" status) != OK ]] || fail "mTLS writer answered a client without a certificate: $r"
r=$(TO=2000 "$BIN/rsvp-writer-client" --url "tls+tcp://127.0.0.1:$W2" --timeout 2000 --tls-ca "$TEST_DIR/other.crt" \
	--tls-server-name localhost --tls-cert "$TEST_DIR/aggregator.crt" --tls-key "$TEST_DIR/aggregator.key" \
	query --topic tls.t --partitions 0 || true)
[[ $(field "$r" status) != OK ]] || fail "a client trusting another CA got an answer: $r"
r=$(TO=2000 "$BIN/rsvp-writer-client" --url "tcp://127.0.0.1:$W2" --timeout 2000 query --topic tls.t --partitions 0 || true)
[[ $(field "$r" status) != OK ]] || fail "plain tcp:// answered on the TLS port: $r"
echo "ok: tls+tcp:// mutual TLS: CA-signed client answered; no certificate, wrong CA, plain tcp refused"

# --- 3. the real aggregator over tls+tcp:// (mutual TLS) ---
n=0
for bad in "" "TLS_CA=$TEST_DIR/missing.crt" "TLS_CA=$TEST_DIR/ca.crt TLS_CERT=$TEST_DIR/aggregator.crt"; do
	rc=0 n=$((n + 1))
	# shellcheck disable=SC2086 # $bad is a list of NAME=value words
	env $bad WRITER_URL="tls+tcp://127.0.0.1:$W4" METRICS_ADDR="127.0.0.1:$AM2" \
		timeout 10 "$BIN/rsvp-aggregator" >"$TEST_DIR/agg-config$n.log" 2>&1 || rc=$?
	((rc == 2)) || fail "aggregator with a tls+tcp:// url and '${bad:-no TLS_CA}' exited $rc, expected 2"
done
grep -q 'needs --tls-ca' "$TEST_DIR/agg-config1.log" || fail "no error saying TLS_CA is needed"
grep -q 'TLS_CA: .*missing.crt' "$TEST_DIR/agg-config2.log" ||
	fail "no error naming the unreadable TLS_CA file: $(tail -n 2 "$TEST_DIR/agg-config2.log")"
echo "ok: tls+tcp:// without TLS_CA, with an unreadable CA, or a certificate without key: exit 2"

RAW=tls.$SUFFIX.raw PARSED=tls.$SUFFIX.parsed DLQ=tls.$SUFFIX.dlq
for t in "$RAW" "$PARSED" "$DLQ"; do kafka_topic "$t" 4 || fail "cannot create topic $t"; done
EXPECTED=$(($(wc -l <"$AGG_RECORDED")))
((EXPECTED == 2865)) || fail "recorded file has $EXPECTED lines, expected 2865"
kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -l "$AGG_RECORDED" || fail "kcat produce failed"
psql_q "$PLAIN" "CREATE DATABASE agg" >/dev/null
AGGDB="postgresql://postgres@127.0.0.1:$PGPORT/agg?sslmode=verify-full&sslrootcert=$TEST_DIR/ca.crt"
start_bg writer4 env METRICS_ADDR="127.0.0.1:$W4M" LISTEN="tls+tcp://127.0.0.1:$W4" INSTANCE_ID=tls-w4 \
	TLS_CERT="$TEST_DIR/writer.crt" TLS_KEY="$TEST_DIR/writer.key" TLS_CA="$TEST_DIR/ca.crt" \
	PG_URL="$AGGDB" "$BIN/rsvp-writer"
wait_for "[[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$W4M/readyz) == 200 ]]" 30 ||
	fail "writer for the aggregator not ready"
start_bg parser env RAW_TOPIC="$RAW" PARSED_TOPIC="$PARSED" DLQ_TOPIC="$DLQ" GROUP_ID="tls-parser-$SUFFIX" \
	METRICS_ADDR="127.0.0.1:$PM" INSTANCE_ID="tls-parser-$SUFFIX" KAFKA_AUTO_OFFSET_RESET=earliest \
	"$BIN/rsvp-parser"
wait_for "[[ \$(kafka_count $PARSED) -ge $EXPECTED ]]" 60 || fail "parsed topic holds $(kafka_count "$PARSED")"
agg_env=(env PARSED_TOPIC="$PARSED" WRITER_URL="tls+tcp://127.0.0.1:$W4" TLS_SERVER_NAME=localhost
	TLS_CERT="$TEST_DIR/aggregator.crt" TLS_KEY="$TEST_DIR/aggregator.key" TRIGGER_INTERVAL=500ms
	START_OFFSET=earliest REQUEST_TIMEOUT=1s BACKOFF_BASE=100ms BACKOFF_MAX=500ms)

# an aggregator trusting another CA, and one expecting another name: the handshake fails, nothing gets through
start_bg aggbad "${agg_env[@]}" TLS_CA="$TEST_DIR/other.crt" GROUP_ID="tls-aggbad-$SUFFIX" \
	METRICS_ADDR="127.0.0.1:$AM2" INSTANCE_ID="tls-aggbad-$SUFFIX" "$BIN/rsvp-aggregator"
start_bg aggname "${agg_env[@]}" TLS_CA="$TEST_DIR/ca.crt" TLS_SERVER_NAME=wrong.example \
	GROUP_ID="tls-aggname-$SUFFIX" METRICS_ADDR="127.0.0.1:$AM3" INSTANCE_ID="tls-aggname-$SUFFIX" \
	"$BIN/rsvp-aggregator"
RETRIES=rsvp_aggregator_offset_query_retries_total
for port in $AM2 $AM3; do
	wait_for "(( \$(agg_metric $port $RETRIES) >= 3 ))" 60 ||
		fail "aggregator on :$port with the wrong CA or name: $RETRIES = $(agg_metric "$port" "$RETRIES"), expected it to grow"
	[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz") != 200 ]] ||
		fail "aggregator on :$port with the wrong CA or name says ready"
	[[ $(agg_metric "$port" 'rsvp_aggregator_batches_total{result="ok"}') == 0 ]] ||
		fail "aggregator on :$port with the wrong CA or name got a batch applied"
done
[[ $(agg_total "$AGGDB") == 0 ]] || fail "rsvp_counts not empty after the refused aggregators: $(agg_total "$AGGDB")"
[[ $(psql_q "$AGGDB" "SELECT count(*) FROM rsvp_offsets") == 0 ]] || fail "rsvp_offsets written by a refused aggregator"
retries="$(agg_metric "$AM2" "$RETRIES") and $(agg_metric "$AM3" "$RETRIES")"
for name in aggbad aggname; do
	rc=0
	stop_bg $name 15 || rc=$?
	((rc == 0)) || fail "$name exited $rc on SIGTERM"
done
echo "ok: aggregators trusting another CA / expecting another server name: $retries offset query retries, nothing in rsvp_counts"

# the right CA and a client certificate: every RSVP lands, exactly
start_bg aggregator "${agg_env[@]}" TLS_CA="$TEST_DIR/ca.crt" GROUP_ID="tls-agg-$SUFFIX" \
	METRICS_ADDR="127.0.0.1:$AM" INSTANCE_ID="tls-agg-$SUFFIX" "$BIN/rsvp-aggregator"
wait_for "curl -fsS http://127.0.0.1:$AM/readyz" 60 || fail "aggregator over tls+tcp never ready"
wait_for "[[ \$(agg_total '$AGGDB') -ge $EXPECTED ]]" 90 || fail "sum(response_count) stuck at $(agg_total "$AGGDB")"
wait_for "[[ \$(agg_metric $AM rsvp_aggregator_consumer_lag) == 0 &&
	\$(agg_metric $AM rsvp_aggregator_pending_batches) == 0 &&
	\$(agg_metric $AM rsvp_aggregator_keys) == 0 ]]" 30 || fail "aggregator not idle"
total=$(agg_total "$AGGDB")
((total == EXPECTED)) || fail "sum(response_count) = $total, expected $EXPECTED"
agg_compare "$AGGDB" 1 || fail "rsvp_counts over tls+tcp differs from the reference"
ok=$(agg_metric "$AM" 'rsvp_aggregator_batches_total{result="ok"}')
((ok > 0)) || fail "no batch acknowledged over tls+tcp"
rc=0
stop_bg aggregator 15 || rc=$?
((rc == 0)) || fail "aggregator exited $rc on SIGTERM"
echo "ok: rsvp-aggregator -> tls+tcp:// (mutual TLS) -> writer -> verify-full: $total RSVPs in $ok batches, equal to the reference"
pass
