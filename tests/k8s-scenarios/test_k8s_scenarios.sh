#!/usr/bin/env bash
# test-timeout: 3600
# `make k8s-scenarios`: the long runs of the chart on the test cluster (tools/k8s-node.sh), each ending with exact
# counts and printing its times and replica counts. Not part of `make test` (tens of minutes on 2 cores).
#   backlog  1,000,000 RSVPs already in the raw topic when the pipeline is installed (ingestor off): caught up with
#            the chart's computed memory limits, no container restarted or OOM-killed (restart counts and reasons
#            asserted), peak RSS of each service printed
#   drain    kubectl drain of a node while the stream runs (every service with replicas on it, an aggregator beyond
#            the partition count standing by): the drain is not blocked by a PodDisruptionBudget, pods move, counts
#            exact
#   hpa      metrics-server + the parser's HPA on CPU: a load step scales the parser up, the quiet after it back to
#            its minimum
#   keda     KEDA's Kafka scaler on consumer lag: a backlog scales the parser and the aggregator up, never past the
#            partition count (maxReplicas is above it), and back down once caught up
#   tls      Kafka over TLS (a broker of its own with only an SSL listener) and PostgreSQL with sslmode=verify-full
#            (a cluster of its own with ssl=on), set through the chart's values alone (kafka.config, extraVolumes,
#            postgres.url): exact counts key by key, every writer connection encrypted
# SCENARIOS="backlog drain hpa keda tls" picks some (default: all); BACKLOG_N (1000000) sizes the backlog.
# metrics-server and KEDA are built once into ${RSVP_CACHE}/addons (tools/k8s-node.sh build-addons) and run beside
# the control plane (tools/k8s-node.sh addons). Fixed ports: those of test_k8s_cluster.sh (one run at a time).
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../integration/agg_lib.sh"
source "$(dirname "$0")/../integration/k8s_lib.sh"
# The run is one function, read whole before it starts: editing this file never disturbs a run in progress (bash
# reads a script as it goes).
main() {
k8s_lock k8s_cluster # the same cluster and ports as test_k8s_cluster.sh
lib_init k8s_scenarios

SCENARIOS=" ${SCENARIOS:-tls backlog drain hpa keda} "
BACKLOG_N=${BACKLOG_N:-1000000}
CHART=$LIB_ROOT/deploy/helm/rsvp-pipeline
IMAGE=$K8S_IMAGE
P_INGESTOR=32201 P_PARSER=32202 P_AGG=32203 P_WRITER=32204 P_REPLAY=32205 P_REPLAY_M=32206 P_NNG=32240
SEL=app.kubernetes.io/instance
WRITERS="tls+tcp://127.0.0.1:$P_NNG,tls+tcp://127.0.0.2:$P_NNG,tls+tcp://127.0.0.3:$P_NNG"
RECORDED=$(wc -l <"$AGG_RECORDED")
SUMMARY=()

INSTALLED=() CONTAINERS=() BG_READERS=()
sc_cleanup() {
	local rc=$? c
	set +e
	for c in "${BG_READERS[@]}"; do kill "$c" 2>/dev/null; done
	for c in "${INSTALLED[@]}"; do helm uninstall "$c" --wait --timeout 60s >/dev/null 2>&1; done
	for c in "${CONTAINERS[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
	kubectl uncordon k8s-node-2 k8s-node-3 k8s-node >/dev/null 2>&1
	kubectl delete secret k8ssc-kafka-ca k8ssc-pg-ca --ignore-not-found >/dev/null 2>&1
	k8s_down >/dev/null
	[[ -n ${TLS_PG:-} ]] && env "PG_VAR=$TLS_PG" "PG_PORT=$TLS_PGPORT" "$LIB_ROOT/deploy/local/postgres.sh" clean >/dev/null 2>&1
	(exit "$rc")
	lib_cleanup
}
trap sc_cleanup EXIT
die() { k8s_dump; fail "$@"; }
phase() { k8s_phase "$@"; }
note() { SUMMARY+=("$*"); phase "$*"; }

# replicas REL COMPONENT: the workload's current replica count (spec), for the time lines
replicas() { kubectl get "statefulset/$1-rsvp-pipeline-$2" -o jsonpath='{.spec.replicas}' 2>/dev/null || echo "?"; }

# values FILE REL RAW_PARTS PARSED_PARTS: topics (created here), database and the cluster's addresses/ports;
# sets RAW PARSED DLQ DB. The caller appends its scenario's values.
values() {
	local f=$1 rel=$2 t
	RAW=$rel.$SUFFIX.raw PARSED=$rel.$SUFFIX.parsed DLQ=$rel.$SUFFIX.dlq
	kafka_topic "$RAW" "$3" && kafka_topic "$PARSED" "$4" && kafka_topic "$DLQ" 1 || fail "cannot create topics"
	DB=$(pg_createdb "$rel") || fail "cannot create database"
	cat >"$f" <<EOV
image: {repository: local/rsvp-pipeline, tag: dev, pullPolicy: Never}
kafka: {bootstrapServers: "$KAFKA_BROKERS"}
topics: {raw: $RAW, parsed: $PARSED, dlq: $DLQ, rawPartitions: $3, parsedPartitions: $4}
postgres: {url: "$DB"}
EOV
}
# ports_of SERVICE REL: the service's ports and groups as flow-mapping entries ("metricsPort: P, groupId: G"); a
# scenario writes each service's values once (a key given twice in one YAML file is an error)
ports_of() {
	case $1 in
	ingestor) echo "metricsPort: $P_INGESTOR" ;;
	parser) echo "metricsPort: $P_PARSER, groupId: $2-parser-$SUFFIX" ;;
	aggregator) echo "metricsPort: $P_AGG, groupId: $2-aggregator-$SUFFIX, triggerInterval: 1s, writerUrl: \"$WRITERS\"" ;;
	writer) echo "metricsPort: $P_WRITER, port: $P_NNG, strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}" ;;
	esac
}
release_install() { # release_install REL VALUES [TIMEOUT [helm options...]]
	local t0=$SECONDS rel=$1 values=$2 timeout=${3:-180s}
	shift $(($# < 3 ? $# : 3))
	helm install "$rel" "$CHART" -f "$values" --wait --timeout "$timeout" "$@" >"$TEST_DIR/helm-$rel.log" 2>&1 ||
		{ cat "$TEST_DIR/helm-$rel.log"; die "helm install $rel failed"; }
	INSTALLED+=("$rel")
	phase "$rel: helm install --wait $((SECONDS - t0)) s"
}
release_uninstall() {
	helm uninstall "$1" --wait --timeout 120s >/dev/null || die "helm uninstall $1 failed"
	local c
	INSTALLED=($(for c in "${INSTALLED[@]}"; do [[ $c == "$1" ]] || echo "$c"; done))
	wait_for "k8s_nothing_left $1" 90 || die "left after helm uninstall $1"
}
start_replay() { # start_replay NAME COUNT RATE: rsvp-replay of the recorded file in a loop, beside the cluster
	local name=k8ssc-replay-$1-$SUFFIX
	CONTAINERS+=("$name")
	docker run -d --name "$name" --network host --read-only --cap-drop ALL -v "$(dirname "$AGG_RECORDED"):/data:ro" \
		-e REPLAY_LISTEN="127.0.0.1:$P_REPLAY" -e REPLAY_FILE="/data/$(basename "$AGG_RECORDED")" -e REPLAY_LOOP=true \
		-e REPLAY_COUNT="$2" -e REPLAY_RATE="$3" -e METRICS_ADDR=127.0.0.1:$P_REPLAY_M "$IMAGE" rsvp-replay >/dev/null ||
		fail "cannot start rsvp-replay"
	wait_for "curl -fsS http://127.0.0.1:$P_REPLAY_M/healthz" 20 || fail "rsvp-replay not up"
}
stop_replay() { docker rm -f "k8ssc-replay-$1-$SUFFIX" >/dev/null; }
# exact REL DB N [LOOPS]: waits until N RSVPs are counted and the aggregators are idle; with LOOPS, key by key
exact() {
	wait_for "[[ \$(agg_total '$2') -ge $3 ]]" "${5:-600}" || die "$1: sum(response_count) stuck at $(agg_total "$2") of $3"
	local n
	idle() { for n in 1 2 3; do [[ $(k8s_metric 127.0.0.$n $P_AGG rsvp_aggregator_pending_batches) == 0 ]] || return 1; done; }
	wait_for idle 60 || die "$1: aggregators not idle"
	local total
	total=$(agg_total "$2")
	((total == $3)) || die "$1: sum(response_count) = $total, expected $3"
	if [[ -n ${4:-} ]]; then agg_compare "$2" "$4" || die "$1: rsvp_counts differs from the reference x $4"; fi
}
# no_oom REL: every container of the release: 0 restarts, never OOM-killed
no_oom() {
	local r
	r=$(k8s_restarts "$1")
	! grep -w OOMKilled <<<"$r" || die "$1: a container was OOM-killed: $r"
	awk '$2 != 0 { bad = 1 } END { exit bad }' <<<"$r" || die "$1: containers restarted: $r"
}
# peak_rss PORT...: VmHWM of the process listening on each metrics port of each node ("port:MiB ...")
peak_rss() {
	local p n pid out=
	for p in "$@"; do for n in 1 2 3; do
		pid=$(ss -Hltnp "src 127.0.0.$n:$p" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
		[[ -n $pid ]] && out+="$p@.$n:$(awk '/^VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$pid/status")MiB "
	done; done
	echo "$out"
}

ADDONS=
[[ $SCENARIOS == *" hpa "* ]] && ADDONS=metrics-server
[[ $SCENARIOS == *" keda "* ]] && { [[ -n $ADDONS ]] && ADDONS=all || ADDONS=keda; }
if [[ -n $ADDONS ]]; then
	t0=$SECONDS
	"$LIB_ROOT/tools/k8s-node.sh" build-addons "$ADDONS" >"$TEST_DIR/addons-build.log" 2>&1 ||
		{ tail -n 20 "$TEST_DIR/addons-build.log"; fail "building the add-ons ($ADDONS) failed"; }
	phase "add-on binaries ready: $ADDONS ($((SECONDS - t0)) s)"
fi
k8s_up $P_INGESTOR $P_PARSER $P_AGG $P_WRITER $P_NNG $P_REPLAY $P_REPLAY_M
if [[ -n $ADDONS ]]; then
	t0=$SECONDS
	"$LIB_ROOT/tools/k8s-node.sh" addons "$ADDONS" >"$TEST_DIR/addons.log" 2>&1 9>&- ||
		{ tail -n 20 "$TEST_DIR/addons.log"; fail "the add-ons ($ADDONS) did not start"; }
	phase "$(tr '\n' ' ' <"$TEST_DIR/addons.log")($((SECONDS - t0)) s)"
fi

# --- tls: Kafka over TLS and PostgreSQL verify-full through values alone ---
if [[ $SCENARIOS == *" tls "* ]]; then
	t0=$SECONDS
	D=$TEST_DIR/tls
	mkdir -p "$D/kafka/data" "$D/kafka/logs"
	ossl() { openssl "$@" >>"$D/openssl.log" 2>&1 || fail "openssl $1: $(tail -n 3 "$D/openssl.log")"; }
	ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=rsvp k8s tls CA" -keyout "$D/ca.key" -out "$D/ca.crt" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
	printf '%s\n' subjectAltName=IP:127.0.0.1,DNS:localhost extendedKeyUsage=serverAuth basicConstraints=CA:FALSE >"$D/srv.ext"
	ossl req -new -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$D/srv.key" -out "$D/srv.csr"
	ossl x509 -req -in "$D/srv.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial -days 2 -extfile "$D/srv.ext" -out "$D/srv.crt"
	ossl pkcs8 -topk8 -nocrypt -in "$D/srv.key" -out "$D/srv.pk8"
	cat "$D/srv.pk8" "$D/srv.crt" "$D/ca.crt" >"$D/broker.pem" # Kafka's PEM keystore: key, then the chain
	# a broker of its own whose only client listener is SSL (controller PLAINTEXT on loopback)
	KPORT=$(port_reserve) && KCPORT=$(port_reserve) && TLS_PGPORT=$(port_reserve) || fail "no free port"
	cat >"$D/kafka/server.properties" <<EOP
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KCPORT
listeners=SSL://127.0.0.1:$KPORT,CONTROLLER://127.0.0.1:$KCPORT
advertised.listeners=SSL://127.0.0.1:$KPORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SSL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SSL:SSL
ssl.keystore.type=PEM
ssl.keystore.location=$D/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$D/ca.crt
ssl.client.auth=none
log.dirs=$D/kafka/data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
EOP
	JARS=$(realpath -m "${KAFKA_LIBS:-$LIB_ROOT/var/kafka/libs}")
	env -u KAFKA_BOOTSTRAP_SERVERS KAFKA_LIBS="$JARS" deploy/local/kafka.sh libs >"$D/format.log" 2>&1 || fail "Kafka jars: $(tail -n 3 "$D/format.log")"
	env -u KAFKA_BOOTSTRAP_SERVERS KAFKA_LIBS="$JARS" deploy/local/kafka.sh tool kafka.tools.StorageTool format \
		-t "$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | sed 's/^-/A/')" -c "$D/kafka/server.properties" \
		>>"$D/format.log" 2>&1 || fail "formatting the TLS broker: $(tail -n 3 "$D/format.log")"
	start_bg tls-broker java -Xmx384m -Xms384m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
		-Dkafka.logs.dir="$D/kafka/logs" -cp "$JARS/*" kafka.Kafka "$D/kafka/server.properties"
	KC=(-b "127.0.0.1:$KPORT" -X security.protocol=ssl -X ssl.ca.location="$D/ca.crt")
	wait_for "kcat ${KC[*]@Q} -L -m 2 | grep -q '1 brokers:'" 90 || fail "the TLS broker did not answer on SSL://127.0.0.1:$KPORT"
	# PostgreSQL of its own with ssl=on and a certificate for 127.0.0.1
	TLS_PG=$D/pg
	PENV=(env "PG_VAR=$TLS_PG" "PG_PORT=$TLS_PGPORT")
	"${PENV[@]}" deploy/local/postgres.sh up >"$D/pg.log" 2>&1 || fail "postgres up: $(tail -n 5 "$D/pg.log")"
	PGREAL=$(readlink -f "$TLS_PG")
	install -m 0600 -o postgres -g postgres "$D/srv.key" "$PGREAL/server.key"
	install -m 0644 -o postgres -g postgres "$D/srv.crt" "$PGREAL/server.crt"
	PLAIN=postgresql://postgres@127.0.0.1:$TLS_PGPORT/postgres
	for q in "ALTER SYSTEM SET ssl_cert_file = '$PGREAL/server.crt'" "ALTER SYSTEM SET ssl_key_file = '$PGREAL/server.key'" \
		"ALTER SYSTEM SET ssl = on" "SELECT pg_reload_conf()"; do psql_q "$PLAIN" "$q" >/dev/null; done
	wait_for "[[ \$(psql_q '$PLAIN' 'SHOW ssl') == on ]]" 10 || fail "ssl not on after reload"
	phase "tls: a broker with only an SSL listener and PostgreSQL with ssl=on ready ($((SECONDS - t0)) s)"
	kubectl create secret generic k8ssc-kafka-ca --from-file=ca.crt="$D/ca.crt" >/dev/null
	kubectl create secret generic k8ssc-pg-ca --from-file=ca.crt="$D/ca.crt" >/dev/null
	RAW=k8stls.$SUFFIX.raw PARSED=k8stls.$SUFFIX.parsed DLQ=k8stls.$SUFFIX.dlq
	cat >"$TEST_DIR/tls.yaml" <<EOV
# TLS to Kafka and verify-full to PostgreSQL, through values alone (docs/deploy.md)
image: {repository: local/rsvp-pipeline, tag: dev, pullPolicy: Never}
kafka:
  bootstrapServers: "127.0.0.1:$KPORT"
  config: {security.protocol: ssl, ssl.ca.location: /etc/kafka-ca/ca.crt}
topics: {raw: $RAW, parsed: $PARSED, dlq: $DLQ, rawPartitions: 3, parsedPartitions: 3}
postgres: {url: "postgresql://postgres@127.0.0.1:$TLS_PGPORT/postgres?sslmode=verify-full&sslrootcert=/etc/pg-ca/ca.crt"}
ingestor:
  $(ports_of ingestor)
  sourceUrl: "http://127.0.0.1:$P_REPLAY/2/rsvps"
  initialSinceMtime: 0
  extraVolumes: &kv [{name: kafka-ca, secret: {secretName: k8ssc-kafka-ca}}]
  extraVolumeMounts: &km [{name: kafka-ca, mountPath: /etc/kafka-ca, readOnly: true}]
parser:
  $(ports_of parser k8stls | sed 's/, /\n  /g')
  extraVolumes: *kv
  extraVolumeMounts: *km
aggregator:
  $(ports_of aggregator k8stls | sed 's/, /\n  /g')
  extraVolumes: *kv
  extraVolumeMounts: *km
writer:
  $(ports_of writer | sed 's/, strategy/\n  strategy/; s/, port/\n  port/')
  extraVolumes: [{name: pg-ca, secret: {secretName: k8ssc-pg-ca}}]
  extraVolumeMounts: [{name: pg-ca, mountPath: /etc/pg-ca, readOnly: true}]
EOV
	start_replay tls "$RECORDED" 500
	release_install k8stls "$TEST_DIR/tls.yaml"
	TDB="$PLAIN"
	exact k8stls "$TDB" "$RECORDED" 1
	enc=$(psql_q "$PLAIN" "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
		WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() AND a.application_name NOT LIKE 'psql%'")
	[[ ${enc%|*} -ge 1 && ${enc%|*} == "${enc#*|}" ]] || die "tls: writer connections encrypted/all: $enc"
	note "tls: Kafka over SSL only and PostgreSQL verify-full through values: $RECORDED RSVPs exact key by key; writer connections encrypted: ${enc%|*} of ${enc#*|} ($((SECONDS - t0)) s)"
	stop_replay tls
	release_uninstall k8stls
fi

# --- backlog: 1M RSVPs waiting, memory limits from the queues, no OOM kill ---
if [[ $SCENARIOS == *" backlog "* ]]; then
	values "$TEST_DIR/backlog.yaml" k8sbl 3 3
	t0=$SECONDS
	"$BIN/rsvp-replay" --synthetic --seed 7 --count "$BACKLOG_N" --dump 2>/dev/null |
		kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -z lz4 -X queue.buffering.max.kbytes=65536 -X linger.ms=20 ||
		fail "could not fill the backlog"
	note "backlog: $BACKLOG_N synthetic RSVPs written to $RAW in $((SECONDS - t0)) s"
	cat >>"$TEST_DIR/backlog.yaml" <<EOV
ingestor: {enabled: false}
parser: {replicas: 1, $(ports_of parser k8sbl)}
aggregator: {replicas: 1, $(ports_of aggregator k8sbl)}
writer: {$(ports_of writer)}
EOV
	t0=$SECONDS
	release_install k8sbl "$TEST_DIR/backlog.yaml"
	lim=$(kubectl get sts k8sbl-rsvp-pipeline-parser k8sbl-rsvp-pipeline-aggregator -o jsonpath='{range .items[*]}{.spec.template.spec.containers[0].resources.limits.memory} {end}')
	exact k8sbl "$DB" "$BACKLOG_N" "" 1800
	note "backlog: $BACKLOG_N RSVPs caught up in $((SECONDS - t0)) s (1 parser, 1 aggregator, 1 writer; limits parser/aggregator $lim)"
	note "backlog: peak RSS $(peak_rss $P_PARSER $P_AGG $P_WRITER) (ports $P_PARSER parser, $P_AGG aggregator, $P_WRITER writer)"
	no_oom k8sbl
	note "backlog: restarts and reasons: $(k8s_restarts k8sbl | tr '\n' ';')"
	release_uninstall k8sbl
fi

# --- drain: a node drained mid-stream ---
if [[ $SCENARIOS == *" drain "* ]]; then
	values "$TEST_DIR/drain.yaml" k8sdr 3 2
	N=$((6 * RECORDED))
	cat >>"$TEST_DIR/drain.yaml" <<EOV
ingestor: {$(ports_of ingestor), sourceUrl: "http://127.0.0.1:$P_REPLAY/2/rsvps", initialSinceMtime: 0}
parser: {replicas: 2, $(ports_of parser k8sdr)}
# one aggregator more than the parsed topic's partitions: it stands by
aggregator: {replicas: 3, $(ports_of aggregator k8sdr)}
writer: {replicas: 2, $(ports_of writer)}
EOV
	start_replay drain "$N" 200
	release_install k8sdr "$TEST_DIR/drain.yaml"
	wait_for "[[ \$(agg_total '$DB') -gt 0 ]]" 60 || die "drain: nothing counted"
	# the node of the ingestor: it holds the one ingestor and one replica of other services
	node=$(kubectl get pods -l "$SEL=k8sdr,app.kubernetes.io/component=ingestor" -o jsonpath='{.items[0].spec.nodeName}')
	on_node() { kubectl get pods -l "$SEL=k8sdr" --field-selector "spec.nodeName=$node" -o name | sed 's|pod/k8sdr-rsvp-pipeline-||' | tr '\n' ' '; }
	before=$(on_node)
	ready_before=$(for c in parser aggregator writer; do echo -n "$c $(k8s_ready k8sdr $c)/$(kubectl get pods -l "$SEL=k8sdr,app.kubernetes.io/component=$c" --no-headers | wc -l) "; done)
	# the aggregator beyond the partitions stands by Ready (it could take over: in the group, the writer answers)
	standby=
	wait_for "for n in 1 2 3; do curl -fsS -m 2 http://127.0.0.\$n:$P_AGG/readyz | grep -q standby && standby=\$n && break; done; [[ -n \$standby ]]" 60 ||
		die "drain: no aggregator stands by Ready with the reason in /readyz"
	standby_why=$(curl -fsS -m 2 "http://127.0.0.$standby:$P_AGG/readyz")
	at=$(agg_total "$DB")
	t0=$SECONDS
	kubectl drain "$node" --ignore-daemonsets --delete-emptydir-data --timeout=180s >"$TEST_DIR/drain.log" 2>&1 ||
		{ cat "$TEST_DIR/drain.log"; die "kubectl drain $node failed (a PodDisruptionBudget forbade it?)"; }
	T_DRAIN=$((SECONDS - t0))
	[[ -z $(on_node) ]] || die "pods left on the drained node: $(on_node)"
	wait_for "[[ \$(k8s_ready k8sdr ingestor) == 1 && \$(k8s_ready k8sdr writer) == 2 && \$(k8s_ready k8sdr parser) == 2 ]]" 120 ||
		die "drain: the moved pods did not become Ready elsewhere"
	note "drain: standby aggregator on 127.0.0.$standby: /readyz 200 '$standby_why'"
	note "drain: $node (held: $before; Ready before: $ready_before) drained in $T_DRAIN s at $at of $N counted; ingestor, 2 parsers, 2 writers Ready on the other nodes after $((SECONDS - t0)) s"
	kubectl uncordon "$node" >/dev/null
	exact k8sdr "$DB" "$N" 6
	note "drain: exact counts after the drain: $N RSVPs, reference x 6 key by key"
	stop_replay drain
	release_uninstall k8sdr
fi

# --- hpa: the parser's HPA on CPU, up under a load step and back down ---
if [[ $SCENARIOS == *" hpa "* ]]; then
	values "$TEST_DIR/hpa.yaml" k8shpa 3 3
	N=$((60 * RECORDED))
	cat >>"$TEST_DIR/hpa.yaml" <<EOV
ingestor: {$(ports_of ingestor), sourceUrl: "http://127.0.0.1:$P_REPLAY/2/rsvps", initialSinceMtime: 0}
parser:
  $(ports_of parser k8shpa | sed 's/, /\n  /g')
  resources: {requests: {cpu: 20m, memory: 96Mi}}
  autoscaling:
    enabled: true
    minReplicas: 1
    maxReplicas: 3
    targetCPUUtilizationPercentage: 50
    behavior:
      scaleUp: {stabilizationWindowSeconds: 0}
      scaleDown: {stabilizationWindowSeconds: 30, policies: [{type: Pods, value: 1, periodSeconds: 15}]}
aggregator: {$(ports_of aggregator k8shpa)}
writer: {$(ports_of writer)}
EOV
	# installed without its ingestor, which is Ready only once its source answers: the load step starts later
	release_install k8shpa "$TEST_DIR/hpa.yaml" 180s --set ingestor.enabled=false
	wait_for "kubectl get --raw /apis/metrics.k8s.io/v1beta1/namespaces/default/pods | grep -q k8shpa-rsvp-pipeline-parser" 120 ||
		die "hpa: metrics-server has no metrics of the parser"
	wait_for "[[ \$(kubectl get hpa k8shpa-rsvp-pipeline-parser -o jsonpath='{.status.currentMetrics[0].resource.current.averageUtilization}') =~ ^[0-9]+$ ]]" 120 ||
		die "hpa: the HPA reads no CPU utilization: $(kubectl get hpa -o wide | tail -n 1)"
	t0=$SECONDS
	start_replay hpa "$N" 4000 # the load step: ~43 s of RSVPs at 4,000/s
	helm upgrade k8shpa "$CHART" --reuse-values --set ingestor.enabled=true --wait --timeout 120s >/dev/null ||
		die "hpa: helm upgrade turning the ingestor on failed"
	wait_for "(( \$(replicas k8shpa parser) >= 2 ))" 240 || die "hpa: the parser was not scaled up (HPA: $(kubectl get hpa -o wide | tail -n 1))"
	T_UP=$((SECONDS - t0))
	up_n=$(replicas k8shpa parser)
	exact k8shpa "$DB" "$N" 60 900
	T_DONE=$((SECONDS - t0))
	wait_for "[[ \$(replicas k8shpa parser) == 1 ]]" 300 || die "hpa: the parser was not scaled back to 1 (HPA: $(kubectl get hpa -o wide | tail -n 1))"
	note "hpa: load step at 4,000 RSVPs/s: parser 1 -> $up_n replicas after $T_UP s; $N RSVPs counted exactly (key by key) at $T_DONE s; back to 1 replica at $((SECONDS - t0)) s"
	stop_replay hpa
	no_oom k8shpa
	release_uninstall k8shpa
fi

# --- keda: scaled on consumer lag, capped at the partition count ---
if [[ $SCENARIOS == *" keda "* ]]; then
	values "$TEST_DIR/keda.yaml" k8skd 2 2
	N=300000
	cat >>"$TEST_DIR/keda.yaml" <<EOV
keda: {enabled: true, pollingInterval: 5, cooldownPeriod: 30, lagThreshold: 2000}
ingestor: {enabled: false}
# a consumer held to 10m of CPU keeps a 300k backlog for about a minute: long enough for KEDA to see the lag
parser:
  $(ports_of parser k8skd | sed 's/, /\n  /g')
  resources: {requests: {cpu: 10m, memory: 96Mi}, limits: {cpu: 10m}}
  autoscaling:
    enabled: true
    minReplicas: 1
    maxReplicas: 3      # above the 2 partitions: the cap is the partition count
    behavior: {scaleDown: {stabilizationWindowSeconds: 20, policies: [{type: Pods, value: 1, periodSeconds: 10}]}}
aggregator:
  $(ports_of aggregator k8skd | sed 's/, /\n  /g')
  resources: {requests: {cpu: 10m, memory: 48Mi}, limits: {cpu: 10m}}
  autoscaling:
    enabled: true
    minReplicas: 1
    maxReplicas: 3
    behavior: {scaleDown: {stabilizationWindowSeconds: 20, policies: [{type: Pods, value: 1, periodSeconds: 10}]}}
writer: {$(ports_of writer)}
EOV
	release_install k8skd "$TEST_DIR/keda.yaml"
	for c in parser aggregator; do
		[[ $(kubectl get scaledobject "k8skd-rsvp-pipeline-$c" -o jsonpath='{.spec.maxReplicaCount}') == 2 ]] || die "keda: $c maxReplicaCount is not the partition count 2"
	done
	wait_for "[[ \$(kubectl get scaledobject k8skd-rsvp-pipeline-parser -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}') == True ]]" 120 ||
		die "keda: ScaledObject not Ready: $(kubectl get scaledobject -o wide)"
	# watch the replica counts every 2 s, to show that neither ever passes 2
	(while :; do echo "$SECONDS $(replicas k8skd parser) $(replicas k8skd aggregator)"; sleep 2; done) >"$TEST_DIR/keda-replicas" 2>/dev/null &
	BG_READERS+=($!)
	t0=$SECONDS
	"$BIN/rsvp-replay" --synthetic --seed 11 --count "$N" --dump 2>/dev/null |
		kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -z lz4 || fail "could not write the backlog"
	wait_for "(( \$(replicas k8skd parser) == 2 ))" 180 || die "keda: the parser was not scaled up on lag"
	T_PUP=$((SECONDS - t0))
	wait_for "(( \$(replicas k8skd aggregator) == 2 ))" 240 || die "keda: the aggregator was not scaled up on lag"
	T_AUP=$((SECONDS - t0))
	exact k8skd "$DB" "$N" "" 900
	T_DONE=$((SECONDS - t0))
	wait_for "[[ \$(replicas k8skd parser) == 1 && \$(replicas k8skd aggregator) == 1 ]]" 300 ||
		die "keda: not scaled back to 1 (parser $(replicas k8skd parser), aggregator $(replicas k8skd aggregator))"
	T_DOWN=$((SECONDS - t0))
	max=$(awk '{ if ($2 > m) m = $2; if ($3 > m) m = $3 } END { print m + 0 }' "$TEST_DIR/keda-replicas")
	((max == 2)) || die "keda: $max replicas seen, the partition count is 2"
	note "keda: $N RSVPs of backlog: parser 1 -> 2 at $T_PUP s, aggregator 1 -> 2 at $T_AUP s (never above 2 = partitions, maxReplicas 3); counted exactly at $T_DONE s; both back to 1 at $T_DOWN s"
	no_oom k8skd
	release_uninstall k8skd
fi

echo "  summary:"
printf '    %s\n' "${SUMMARY[@]}"
echo "  whole run $((SECONDS - K8S_T0)) s (cluster $(k8s_down))"
pass
}
main "$@"; exit
