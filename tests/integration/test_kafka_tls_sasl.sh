#!/usr/bin/env bash
# test_kafka_tls_sasl: the services reach a Kafka broker that only speaks SASL_SSL (TLS + SCRAM-SHA-512) with
# nothing but librdkafka's pass-through settings (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_CA_LOCATION).
# 1. A throwaway CA and broker certificate (openssl, SAN IP:127.0.0.1 + DNS:localhost), the broker's keystore
#    and truststore (keytool), SCRAM users written at format time, and our own single-node Kafka 3.9.1 (KRaft)
#    whose only client listener is SASL_SSL (the controller listener is PLAINTEXT on loopback).
# 2. Refused: ingestors with a wrong password (the broker fails the SCRAM exchange), without
#    KAFKA_SSL_CA_LOCATION or with another CA (certificate verify failed), or left at plaintext, and a parser and
#    an aggregator with a wrong password, each log librdkafka's reason, answer 503 on /readyz, produce nothing,
#    and no topic appears; the broker logs the failed authentication; kcat with the wrong password fails to
#    produce and exits 1. Such a service retries forever, counts the errors in kafka_errors_total, and stops at
#    once (< 3 s, exit 0) on SIGTERM.
# 3. Accepted: rsvp-replay -> rsvp-ingestor -> rsvp-parser -> rsvp-aggregator -> rsvp-writer -> PostgreSQL,
#    every Kafka client over SASL_SSL (ingestor and parser configured by KAFKA_* variables, the aggregator by
#    -X flags): the raw topic equals `rsvp-replay --dump` (2,865 lines, once each), all 2,865 are parsed,
#    rsvp_counts equals the reference key by key, no service logs an error or the password (it is masked), and
#    every service exits 0 on SIGTERM.
# The broker (~3 s to start, 384 MB heap) is stopped by lib.sh's EXIT trap like every other process.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agg_lib.sh"
lib_init test_kafka_tls_sasl
need_bin rsvp-replay rsvp-ingestor rsvp-parser rsvp-aggregator rsvp-writer
for c in openssl keytool java kcat curl; do command -v "$c" >/dev/null || fail "$c not found"; done
EXPECTED=$(($(wc -l <"$AGG_RECORDED")))
((EXPECTED == 2865)) || fail "recorded file has $EXPECTED lines, expected 2865"

# Every service and kcat below gets its Kafka settings from these variables only; the broker list of the shared
# stack (lib.sh exports it) must not leak into them.
unset KAFKA_BROKERS KAFKA_BOOTSTRAP_SERVERS
JARS=$(realpath -m "${KAFKA_LIBS:-$LIB_ROOT/var/kafka/libs}")
unset KAFKA_LIBS
T0=$SECONDS
STOREPASS=store-$SUFFIX
USER_PASS=rsvp-secret-$SUFFIX
BROKER_PASS=broker-secret-$SUFFIX
KDIR=$TEST_DIR/kafka
mkdir -p "$KDIR/data" "$KDIR/logs"

# --- 1. PKI: CA, broker certificate, keystore + truststore ---
cd "$TEST_DIR"
# ossl / ktool ARGS...: openssl / keytool with their output in TEST_DIR, failing the test with its tail
ossl() { openssl "$@" >>"$TEST_DIR/openssl.log" 2>&1 || fail "openssl $1: $(tail -n 3 "$TEST_DIR/openssl.log")"; }
ktool() { keytool "$@" >>"$TEST_DIR/keytool.log" 2>&1 || fail "keytool $1: $(tail -n 3 "$TEST_DIR/keytool.log")"; }
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=rsvp kafka test CA" -keyout ca.key -out ca.crt \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
printf '%s\n' subjectAltName=IP:127.0.0.1,DNS:localhost extendedKeyUsage=serverAuth,clientAuth \
	basicConstraints=CA:FALSE >broker.ext
ossl req -new -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key -out broker.csr
ossl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile broker.ext -out broker.crt
# keytool cannot import a PEM key: openssl packs key + chain into PKCS12, keytool turns that into the JKS keystore
ossl pkcs12 -export -in broker.crt -inkey broker.key -certfile ca.crt -name broker -out broker.p12 \
	-passout "pass:$STOREPASS"
ktool -importkeystore -noprompt -srckeystore broker.p12 -srcstoretype PKCS12 -srcstorepass "$STOREPASS" \
	-destkeystore broker.keystore.jks -deststoretype JKS -deststorepass "$STOREPASS" -destkeypass "$STOREPASS"
ktool -importcert -noprompt -alias ca -file ca.crt -keystore broker.truststore.p12 -storetype PKCS12 \
	-storepass "$STOREPASS"
cd "$LIB_ROOT"
echo "ok: CA, broker certificate, JKS keystore and PKCS12 truststore ($((SECONDS - T0)) s)"

# --- 1b. our own broker: SASL_SSL for clients (and between brokers), PLAINTEXT controller on loopback ---
PORT=$(port_reserve) && CPORT=$(port_reserve) || fail "no free port"
BOOT=127.0.0.1:$PORT
cat >"$KDIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=SASL_SSL://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=SASL_SSL://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$BROKER_PASS";
ssl.keystore.type=JKS
ssl.keystore.location=$TEST_DIR/broker.keystore.jks
ssl.keystore.password=$STOREPASS
ssl.key.password=$STOREPASS
ssl.truststore.type=PKCS12
ssl.truststore.location=$TEST_DIR/broker.truststore.p12
ssl.truststore.password=$STOREPASS
ssl.client.auth=none
log.dirs=$KDIR/data
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
EOF
cat >"$KDIR/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
EOF
# deploy/local/kafka.sh resolves the jars (once, shared with the dev stack) and runs the storage tool; the SCRAM
# credentials of the broker and the test user go into the metadata log at format time (KRaft has no ZooKeeper).
env KAFKA_LIBS="$JARS" deploy/local/kafka.sh libs >"$TEST_DIR/format.log" 2>&1 ||
	fail "resolving the Kafka jars: $(tail -n 3 "$TEST_DIR/format.log")"
env KAFKA_LIBS="$JARS" deploy/local/kafka.sh tool kafka.tools.StorageTool format -t "$(head -c 16 /dev/urandom |
	base64 | tr '+/' '-_' | tr -d '=' | sed 's/^-/A/')" -c "$KDIR/server.properties" \
	--add-scram "SCRAM-SHA-512=[name=broker,password=$BROKER_PASS]" \
	--add-scram "SCRAM-SHA-512=[name=rsvp,password=$USER_PASS]" >>"$TEST_DIR/format.log" 2>&1 ||
	fail "formatting the broker's storage: $(tail -n 3 "$TEST_DIR/format.log")"
start_bg broker java -Xmx384m -Xms384m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
	-Dlog4j.configuration="file:$KDIR/log4j.properties" -Dkafka.logs.dir="$KDIR/logs" \
	-cp "$JARS/*" kafka.Kafka "$KDIR/server.properties"
BROKER_PID=$BG_PID

# The client side, exactly as docs/operations.md tells an operator to configure a service.
SEC=(KAFKA_BOOTSTRAP_SERVERS="$BOOT" KAFKA_SECURITY_PROTOCOL=SASL_SSL KAFKA_SASL_MECHANISMS=SCRAM-SHA-512
	KAFKA_SASL_USERNAME=rsvp KAFKA_SASL_PASSWORD="$USER_PASS" KAFKA_SSL_CA_LOCATION="$TEST_DIR/ca.crt")
# kcat with the same settings as -X flags
KC=(-b "$BOOT" -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=rsvp
	-X sasl.password="$USER_PASS" -X ssl.ca.location="$TEST_DIR/ca.crt")
# until it answers over SASL_SSL, or dies
wait_for "! kill -0 $BROKER_PID || kcat ${KC[*]@Q} -L -m 2 | grep -q '1 brokers:'" 60 ||
	fail "broker did not answer over SASL_SSL on $BOOT within 60 s"
kill -0 "$BROKER_PID" 2>/dev/null ||
	fail "broker exited during start: $(grep -m 3 -E 'ERROR|Exception' "$KDIR/logs/server.log")"
echo "ok: broker up on SASL_SSL://$BOOT, controller PLAINTEXT://127.0.0.1:$CPORT ($((SECONDS - T0)) s)"

# count TOPIC: committed messages in TOPIC over SASL_SSL (0 if the topic does not exist yet)
count() {
	local out
	out=$(timeout 30 kcat -C "${KC[@]}" -t "$1" -o beginning -e -q -X isolation.level=read_committed \
		-f '%p\n' 2>/dev/null) || { echo 0; return; }
	[[ -z $out ]] && echo 0 || wc -l <<<"$out"
}
topics() { kcat -L "${KC[@]}" -m 5 2>/dev/null | sed -n 's/^ *topic "\([^"]*\)".*/\1/p'; }
ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz") == 200 ]]; }
# metric PORT REGEX: sum of the samples whose name matches ^REGEX (0 if unreachable)
metric() {
	{ curl -s "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } |
		awk -v re="^$2" '$1 ~ re { s += $2 } END { printf "%d\n", s }'
}

# --- the stream source ---
RPORT=$(port_reserve) && RMPORT=$(port_reserve) || fail "no free port"
start_bg replay "$BIN/rsvp-replay" --listen "127.0.0.1:$RPORT" --metrics-addr "127.0.0.1:$RMPORT" \
	--file "$AGG_RECORDED" --start-mtime 1700000000000
wait_for "curl -sf -o /dev/null http://127.0.0.1:$RMPORT/healthz" 10 || fail "replay did not come up"
SOURCE=http://127.0.0.1:$RPORT/2/rsvps

# --- 2. refused clients ---
# NAME -> what is wrong | the text librdkafka logs for it | service. Without KAFKA_SSL_CA_LOCATION librdkafka
# trusts the system's CA store, which does not hold our CA.
declare -A BAD_WHAT=([badpass]="a wrong password" [noca]="no KAFKA_SSL_CA_LOCATION"
	[wrongca]="another CA in KAFKA_SSL_CA_LOCATION" [plain]="KAFKA_SECURITY_PROTOCOL=PLAINTEXT"
	[pbadpass]="a wrong password" [abadpass]="a wrong password")
declare -A BAD_WHY=([badpass]="Authentication failed" [noca]="certificate verify failed"
	[wrongca]="certificate verify failed" [plain]="incorrect security.protocol"
	[pbadpass]="Authentication failed" [abadpass]="Authentication failed")
declare -A BAD_SVC=([badpass]=ingestor [noca]=ingestor [wrongca]=ingestor [plain]=ingestor
	[pbadpass]=parser [abadpass]=aggregator)
BAD_NAMES=(badpass noca wrongca plain pbadpass abadpass)
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" -keyout "$TEST_DIR/other.key" \
	-out "$TEST_DIR/other.crt" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
NOCA=()
for v in "${SEC[@]}"; do [[ $v == KAFKA_SSL_CA_LOCATION=* ]] || NOCA+=("$v"); done
declare -A BAD_PORT=()
for n in "${BAD_NAMES[@]}"; do
	BAD_PORT[$n]=$(port_reserve) || fail "no free port"
	case $n in # env: the last assignment of a variable wins
	noca) e=("${NOCA[@]}") ;;
	wrongca) e=("${SEC[@]}" KAFKA_SSL_CA_LOCATION="$TEST_DIR/other.crt") ;;
	plain) e=("${SEC[@]}" KAFKA_SECURITY_PROTOCOL=PLAINTEXT) ;;
	*) e=("${SEC[@]}" KAFKA_SASL_PASSWORD="wrong-$SUFFIX") ;;
	esac
	e+=(METRICS_ADDR="127.0.0.1:${BAD_PORT[$n]}" INSTANCE_ID="tls-$n-$SUFFIX")
	case ${BAD_SVC[$n]} in
	ingestor) e+=(SOURCE_URL="$SOURCE" RAW_TOPIC="tls.$SUFFIX.$n" BACKOFF_BASE=50ms BACKOFF_MAX=1s) ;;
	parser) e+=(RAW_TOPIC="tls.$SUFFIX.$n.raw" PARSED_TOPIC="tls.$SUFFIX.$n.parsed" DLQ_TOPIC="tls.$SUFFIX.$n.dlq"
		GROUP_ID="tls-$n-$SUFFIX") ;;
	aggregator) e+=(PARSED_TOPIC="tls.$SUFFIX.$n.parsed" GROUP_ID="tls-$n-$SUFFIX" WRITER_URL="ipc://$TEST_DIR/none") ;;
	esac
	start_bg "$n" env "${e[@]}" "$BIN/rsvp-${BAD_SVC[$n]}"
done
for n in "${BAD_NAMES[@]}"; do
	wait_for "grep -q '${BAD_WHY[$n]}' '$TEST_DIR/$n.log'" 30 ||
		fail "${BAD_SVC[$n]} with ${BAD_WHAT[$n]} never logged '${BAD_WHY[$n]}'"
done
# What an operator sees: librdkafka's own reason in an error-level log line (info level for plaintext, where
# librdkafka only suspects the protocol), counted in rsvp_<service>_kafka_log_total and
# rsvp_<service>_kafka_errors_total, and a /readyz that answers 503.
for n in "${BAD_NAMES[@]}"; do
	svc=${BAD_SVC[$n]} what="${BAD_SVC[$n]} with ${BAD_WHAT[$n]}"
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${BAD_PORT[$n]}/readyz")
	[[ $code == 503 ]] || fail "$what: /readyz answers $code, expected 503"
	errs=$(agg_metric "${BAD_PORT[$n]}" "rsvp_${svc}_kafka_log_total{level=\"error\"}")
	[[ $n == plain ]] || ((errs >= 1)) || fail "$what: rsvp_${svc}_kafka_log_total{level=error} is $errs"
	# (the error callback is served between init_transactions steps, a moment after the log line)
	errs_of() {
		curl -fsS "http://127.0.0.1:${BAD_PORT[$1]}/metrics" 2>/dev/null |
			awk -v s="rsvp_$2_kafka_errors_total" 'index($1, s) == 1 { n += $2 } END { print n + 0 }'
	}
	[[ $n == plain ]] || wait_for "(( \$(errs_of $n $svc) >= 1 ))" 15 ||
		fail "$what: rsvp_${svc}_kafka_errors_total is $(errs_of "$n" "$svc") after 15 s"
	if [[ $svc == ingestor ]]; then
		got=$(metric "${BAD_PORT[$n]}" rsvp_ingestor_produced_total)
		((got == 0)) || fail "$what produced $got messages"
	fi
	echo "ok: $what: /readyz 503, logs: $(grep -m 1 -o "${BAD_WHY[$n]}[^\"]*" "$TEST_DIR/$n.log" | cut -c1-100)"
done
# SIGTERM stops each of them at once, exit 0, though it never got past connecting
for n in "${BAD_NAMES[@]}"; do
	t0=$(date +%s%N) rc=0
	stop_bg "$n" 3 || rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	((rc == 0 && ms < 3000)) || fail "${BAD_SVC[$n]} with ${BAD_WHAT[$n]}: SIGTERM -> exit $rc after $ms ms"
	echo "ok: ${BAD_SVC[$n]} with ${BAD_WHAT[$n]}: SIGTERM -> exit 0 after $ms ms"
done
# kcat with the wrong password: the produce fails, with librdkafka's reason, and kcat exits non-zero
rc=0
echo probe | timeout 30 kcat -P "${KC[@]}" -X sasl.password="wrong-$SUFFIX" -X message.timeout.ms=3000 \
	-t "tls.$SUFFIX.kcat" >"$TEST_DIR/kcat-badpass.log" 2>&1 || rc=$?
((rc != 0)) || fail "kcat with a wrong password exited 0"
grep -q "Authentication failed" "$TEST_DIR/kcat-badpass.log" || fail "kcat with a wrong password: no reason given"
grep -q "Failed authentication.*invalid credentials with SASL mechanism SCRAM-SHA-512" "$KDIR/logs/server.log" ||
	fail "the broker did not log the failed SCRAM authentication"
bad=$(topics | grep -c "^tls\.$SUFFIX\." || true)
((bad == 0)) || fail "a refused client created $bad topic(s): $(topics | grep "^tls\.$SUFFIX\." | tr '\n' ' ')"
echo "ok: kcat with a wrong password exits $rc; no topic created by a refused client ($((SECONDS - T0)) s)"

# --- 3. the pipeline over SASL_SSL ---
RAW=tls.$SUFFIX.raw PARSED=tls.$SUFFIX.parsed DLQ=tls.$SUFFIX.dlq
DB=$(pg_createdb kafka_tls) || fail "cannot create a database on $PGURL"
IMPORT=$(port_reserve) && PMPORT=$(port_reserve) && AMPORT=$(port_reserve) && WPORT=$(port_reserve) &&
	WMPORT=$(port_reserve) || fail "no free port"
start_bg writer env PG_URL="$DB" LISTEN="tcp://127.0.0.1:$WPORT" METRICS_ADDR="127.0.0.1:$WMPORT" \
	INSTANCE_ID="tls-writer-$SUFFIX" "$BIN/rsvp-writer"
# The ingestor creates the raw topic; the parser's transactional produce auto-creates the parsed one. Each
# consumer starts once its topic exists (a subscription to a missing topic is only retried every few minutes).
start_bg ingestor env "${SEC[@]}" SOURCE_URL="$SOURCE" RAW_TOPIC="$RAW" METRICS_ADDR="127.0.0.1:$IMPORT" \
	INSTANCE_ID="tls-ingestor-$SUFFIX" BACKOFF_BASE=50ms BACKOFF_MAX=1s "$BIN/rsvp-ingestor"
wait_for "ready $IMPORT" 45 || fail "ingestor over SASL_SSL never ready"
start_bg parser env "${SEC[@]}" RAW_TOPIC="$RAW" PARSED_TOPIC="$PARSED" DLQ_TOPIC="$DLQ" \
	GROUP_ID="tls-parser-$SUFFIX" INSTANCE_ID="tls-parser-$SUFFIX" METRICS_ADDR="127.0.0.1:$PMPORT" \
	"$BIN/rsvp-parser"
wait_for "topics | grep -qxF '$PARSED'" 60 || fail "parsed topic never appeared"
# the aggregator gets the same settings the other way: -X flags, as kcat
start_bg aggregator env PARSED_TOPIC="$PARSED" GROUP_ID="tls-agg-$SUFFIX" \
	WRITER_URL="tcp://127.0.0.1:$WPORT" TRIGGER_INTERVAL=500ms START_OFFSET=earliest \
	METRICS_ADDR="127.0.0.1:$AMPORT" INSTANCE_ID="tls-agg-$SUFFIX" "$BIN/rsvp-aggregator" \
	-X bootstrap.servers="$BOOT" "${KC[@]:2}" # KC without its -b
wait_for "[[ \$(agg_total '$DB') -ge $EXPECTED ]]" 90 ||
	fail "sum(response_count) stuck at $(agg_total "$DB") (raw $(count "$RAW"), parsed $(count "$PARSED"))"
wait_for "[[ \$(agg_metric $AMPORT rsvp_aggregator_consumer_lag) == 0 &&
	\$(agg_metric $AMPORT rsvp_aggregator_pending_batches) == 0 &&
	\$(agg_metric $AMPORT rsvp_aggregator_keys) == 0 ]]" 30 || fail "aggregator not idle"
raw=$(count "$RAW") parsed=$(count "$PARSED") dlq=$(count "$DLQ") total=$(agg_total "$DB")
((raw == EXPECTED)) || fail "raw topic holds $raw messages, expected $EXPECTED"
"$BIN/rsvp-replay" --dump --file "$AGG_RECORDED" --start-mtime 1700000000000 2>/dev/null |
	LC_ALL=C sort >"$TEST_DIR/want.raw"
timeout 30 kcat -C "${KC[@]}" -t "$RAW" -o beginning -e -q -X isolation.level=read_committed -f '%s\n' \
	2>/dev/null | LC_ALL=C sort >"$TEST_DIR/got.raw"
cmp -s "$TEST_DIR/want.raw" "$TEST_DIR/got.raw" ||
	fail "raw topic differs from rsvp-replay --dump: $(LC_ALL=C comm -3 "$TEST_DIR/want.raw" "$TEST_DIR/got.raw" |
		wc -l) lines differ"
((parsed == EXPECTED && dlq == 0)) || fail "parsed $parsed + dead-lettered $dlq, expected $EXPECTED + 0"
((total == EXPECTED)) || fail "sum(response_count) = $total, expected $EXPECTED"
agg_compare "$DB" 1 || fail "rsvp_counts over SASL_SSL differs from the reference"
for svc in ingestor parser aggregator; do
	! grep -F -e "$USER_PASS" "$TEST_DIR/$svc.log" >/dev/null || fail "$svc logged the SASL password"
	grep -q '"kafka.sasl.password":"\*\*\*"' "$TEST_DIR/$svc.log" || fail "$svc: no masked sasl.password in its log"
	! grep '"level":"error"' "$TEST_DIR/$svc.log" >/dev/null ||
		fail "$svc logged errors: $(grep -m 2 '"level":"error"' "$TEST_DIR/$svc.log")"
done
for svc in ingestor parser aggregator writer; do
	rc=0
	stop_bg "$svc" 20 || rc=$?
	((rc == 0)) || fail "$svc exited $rc on SIGTERM"
done
echo "ok: replay -> ingestor -> parser -> aggregator over SASL_SSL -> writer: raw $raw, parsed $parsed," \
	"rsvp_counts sum $total equal to the reference; SIGTERM exit 0 ($((SECONDS - T0)) s)"
pass
