#!/usr/bin/env bash
# test-timeout: 1200
# rsvp-pipeline on a real Kubernetes (tools/k8s-node.sh: etcd, apiserver, controller-manager, scheduler, kubelets
# on 127.0.0.1/.2/.3, host network) from the real image (deploy/docker/build.sh), against the local Kafka and
# PostgreSQL. Prints phase timings.
# 1. The chart README's first install: defaults plus source.replay.enabled (the demo stream in the cluster), with
#    only what this cluster needs on top (addresses, ports): ready under helm install --wait, its 3,000 RSVPs counted
#    exactly over the default mutual TLS between aggregator and writer; uninstall leaves nothing.
# 2. Helm with the recorded RSVPs (rsvp-replay beside the cluster): scale parser and aggregator to 3, writer to 2;
#    pods of another app are refused by the writer (plain TCP, TLS without a client certificate) while a client with
#    the aggregators' certificate is answered; a parser frozen in the middle of a transaction and force-deleted is
#    replaced under the same name (its transactional id) and read_committed readers stall only for that (the stall
#    is printed); hostile clients (tools/writer-client/hostile.sh, the aggregators' certificate from the chart's
#    Secret, over the host network) attack an installed writer at the pipeline's own partition while the stream
#    flows: every attack refused, no key of theirs and no offset past 2^53 in PostgreSQL, the writer's connections
#    within MAX_CONNECTIONS and its peak RSS (VmHWM of the container's process) under the chart's memory limit, the
#    same process throughout; a pod of each service deleted mid-stream comes back; the certificates rotated
#    mid-stream (Secrets deleted, helm upgrade: a new CA, every writer and aggregator rolled, the old aggregator
#    certificate refused); helm upgrade rolls the aggregators and keeps the certificates and the writers; counts
#    equal the reference x loops key by key; then, idle, the attacks again change nothing in the database; no
#    container OOM-killed; uninstall leaves nothing.
# 3. kubectl apply -k of the test overlay (certificates from deploy/k8s/writer-certs.sh, per-run names on top by
#    name): exact counts; kubectl delete -k leaves nothing.
# Starts (and then stops) the cluster and dockerd unless they already run. KEEP_CLUSTER=1 leaves them running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agg_lib.sh"
source "$(dirname "$0")/k8s_lib.sh"
# The test is one function, read whole before it runs: editing this file never disturbs a run in progress (bash
# reads a script as it goes).
main() {
k8s_lock k8s_cluster # one run at a time: the cluster, its ports and var/test-tmp/k8s_cluster are shared
lib_init k8s_cluster
need_bin rsvp-writer-client

IMAGE=$K8S_IMAGE
CHART=$LIB_ROOT/deploy/helm/rsvp-pipeline
REL=k8stest DEMO=k8sdemo
LOOPS=${LOOPS:-12}     # the recorded file this many times (ids and mtimes rewritten by rsvp-replay --loop)
RATE=${RATE:-300}      # messages/s: the stream lasts LOOPS*2865/RATE s, long enough to attack and act mid-stream
DEMO_N=3000            # RSVPs of the demo stream
# host network: every service has its own port (322xx), the same on every node
P_INGESTOR=32201 P_PARSER=32202 P_AGG=32203 P_WRITER=32204 P_REPLAY=32205 P_REPLAY_M=32206 P_DEMO=32207 P_DEMO_M=32208
P_NNG=32240
NAME=$REL-rsvp-pipeline
SEL=app.kubernetes.io/instance
RECORDED=$(wc -l <"$AGG_RECORDED")
WRITERS="tls+tcp://127.0.0.1:$P_NNG,tls+tcp://127.0.0.2:$P_NNG,tls+tcp://127.0.0.3:$P_NNG"

INSTALLED=() APPLIED= CONTAINERS=() PODS=()
k8s_cleanup() {
	local rc=$? c
	set +e # a cleanup step failing must not skip the others
	for c in "${INSTALLED[@]}"; do helm uninstall "$c" --wait --timeout 60s >/dev/null 2>&1; done
	[[ -n $APPLIED ]] && kubectl delete -f - --ignore-not-found --wait=true --timeout=60s <<<"$APPLIED" >/dev/null 2>&1
	for c in "${PODS[@]}"; do kubectl delete pod "$c" --ignore-not-found --wait=false >/dev/null 2>&1; done
	for c in "${CONTAINERS[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
	k8s_down >/dev/null
	(exit "$rc")
	lib_cleanup
}
trap k8s_cleanup EXIT
die() { k8s_dump; fail "$@"; }
phase() { k8s_phase "$@"; }
uninstalled() { local r=$1 c; INSTALLED=($(for c in "${INSTALLED[@]}"; do [[ $c == "$r" ]] || echo "$c"; done)); }

start_replay() { # start_replay NAME COUNT LOOP: rsvp-replay of the recorded file from the image, on the host network
	local name=k8stest-replay-$1-$SUFFIX
	CONTAINERS+=("$name")
	docker run -d --name "$name" --network host --read-only --cap-drop ALL -v "$(dirname "$AGG_RECORDED"):/data:ro" \
		-e REPLAY_LISTEN="127.0.0.1:$P_REPLAY" -e REPLAY_FILE="/data/$(basename "$AGG_RECORDED")" -e REPLAY_LOOP="$3" \
		-e REPLAY_COUNT="$2" -e REPLAY_RATE="$RATE" -e METRICS_ADDR=127.0.0.1:$P_REPLAY_M "$IMAGE" rsvp-replay >/dev/null ||
		fail "cannot start rsvp-replay"
	wait_for "curl -fsS http://127.0.0.1:$P_REPLAY_M/healthz" 20 || fail "rsvp-replay not up"
}
stop_replay() { docker rm -f "k8stest-replay-$1-$SUFFIX" >/dev/null; }

# cluster_values FILE RAW PARSED DLQ DB GROUP_SUFFIX: what this cluster needs on top of the chart's defaults: the
# image, Kafka and PostgreSQL on 127.0.0.1, a port of its own per service (host network), the writers by node address
# (no Service routing; the aggregators still check the writer Service's name in its certificate). The caller adds
# the ingestor's values (a key given twice in one YAML file is an error).
cluster_values() {
	cat >"$1" <<EOV
image: {repository: local/rsvp-pipeline, tag: dev, pullPolicy: Never}
kafka: {bootstrapServers: "$KAFKA_BROKERS"}
topics: {raw: $2, parsed: $3, dlq: $4, rawPartitions: 6, parsedPartitions: 6}
postgres: {url: "$5"}
parser: {metricsPort: $P_PARSER, groupId: k8stest-parser-$6}
aggregator: {metricsPort: $P_AGG, groupId: k8stest-aggregator-$6, triggerInterval: 1s, writerUrl: "$WRITERS"}
writer:
  metricsPort: $P_WRITER
  port: $P_NNG
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}   # host ports: no surge
EOV
}
topics() { local t; for t in "$@"; do kafka_topic "$t" 6 || fail "cannot create topic $t"; done; }
idle_aggregators() { # every aggregator on the nodes has no lag and no batch in flight
	local n
	for n in 1 2 3; do
		[[ $(k8s_metric 127.0.0.$n $P_AGG rsvp_aggregator_consumer_lag) == 0 &&
			$(k8s_metric 127.0.0.$n $P_AGG rsvp_aggregator_pending_batches) == 0 ]] || return 1
	done
}

k8s_up $P_INGESTOR $P_PARSER $P_AGG $P_WRITER $P_NNG $P_REPLAY $P_REPLAY_M $P_DEMO $P_DEMO_M
T_CLUSTER=$SECONDS

# 1. the chart README's first install: the demo stream in the cluster, mutual TLS on the writer link by default
DRAW=k8sdemo.$SUFFIX.raw DPARSED=k8sdemo.$SUFFIX.parsed DDLQ=k8sdemo.$SUFFIX.dlq
topics "$DRAW" "$DPARSED" "$DDLQ"
DDB=$(pg_createdb k8sdemo) || fail "cannot create database"
cluster_values "$TEST_DIR/demo-values.yaml" "$DRAW" "$DPARSED" "$DDLQ" "$DDB" "demo-$SUFFIX"
START=$(($(date +%s) * 1000))
cat >>"$TEST_DIR/demo-values.yaml" <<EOV
# the demo source on node 1 (no cluster DNS here: the ingestor reads it at 127.0.0.1, from the timeline's start)
source: {replay: {enabled: true, rate: 1500, count: $DEMO_N, startMtime: $START, port: $P_DEMO, metricsPort: $P_DEMO_M,
                  nodeSelector: {kubernetes.io/hostname: k8s-node}}}
ingestor: {metricsPort: $P_INGESTOR, sourceUrl: "http://127.0.0.1:$P_DEMO/2/rsvps", initialSinceMtime: $START}
EOV
t0=$SECONDS
helm install "$DEMO" "$CHART" -f "$TEST_DIR/demo-values.yaml" --wait --timeout 180s >"$TEST_DIR/helm-demo.log" 2>&1 ||
	{ cat "$TEST_DIR/helm-demo.log"; die "helm install --wait of the demo failed"; }
INSTALLED+=("$DEMO")
phase "demo install ready under helm install --wait in $((SECONDS - t0)) s"
kubectl get secret "$DEMO-rsvp-pipeline-writer-tls" >/dev/null || die "no generated writer certificate Secret"
[[ $(kubectl get deploy "$DEMO-rsvp-pipeline-writer" -o jsonpath='{.spec.template.spec.containers[0].env[?(@.name=="LISTEN")].value}') == tls+tcp://* ]] ||
	die "the writer does not listen on tls+tcp://"
wait_for "[[ \$(agg_total '$DDB') -ge $DEMO_N ]]" 90 || die "demo: sum(response_count) stuck at $(agg_total "$DDB") of $DEMO_N"
wait_for idle_aggregators 30 || die "demo: aggregator not idle"
total=$(agg_total "$DDB")
((total == DEMO_N)) || die "demo: sum(response_count) = $total, expected $DEMO_N"
t0=$SECONDS
helm uninstall "$DEMO" --wait --timeout 90s >/dev/null || die "helm uninstall of the demo failed"
uninstalled "$DEMO"
wait_for "k8s_nothing_left $DEMO" 60 || die "left after helm uninstall: $(kubectl get all,cm,secret -l $SEL=$DEMO -o name | tr '\n' ' ')"
phase "demo: exactly $total of $DEMO_N RSVPs counted over mutual TLS; uninstalled in $((SECONDS - t0)) s"

# 2. Helm with the recorded RSVPs
RAW=k8stest.$SUFFIX.raw PARSED=k8stest.$SUFFIX.parsed DLQ=k8stest.$SUFFIX.dlq
topics "$RAW" "$PARSED" "$DLQ"
DB=$(pg_createdb k8stest) || fail "cannot create database"
cluster_values "$TEST_DIR/values.yaml" "$RAW" "$PARSED" "$DLQ" "$DB" "$SUFFIX"
# initialSinceMtime 0: read the stream from its start (rsvp-replay streams live from "now" otherwise)
echo "ingestor: {metricsPort: $P_INGESTOR, sourceUrl: \"http://127.0.0.1:$P_REPLAY/2/rsvps\", initialSinceMtime: 0}" >>"$TEST_DIR/values.yaml"
start_replay helm $((LOOPS * RECORDED)) true
EXPECTED=$((LOOPS * RECORDED))
t0=$SECONDS
helm install "$REL" "$CHART" -f "$TEST_DIR/values.yaml" --wait --timeout 120s >"$TEST_DIR/helm-install.log" 2>&1 ||
	{ cat "$TEST_DIR/helm-install.log"; die "helm install --wait failed"; }
INSTALLED+=("$REL")
phase "helm install --wait: $((SECONDS - t0)) s"
wait_for "[[ \$(agg_total '$DB') -gt 0 ]]" 60 || die "no counts in PostgreSQL after install"

# scale: parser 3, aggregator 3, writer 2; every replica Ready and working
kubectl scale "statefulset/$NAME-parser" --replicas=3 >/dev/null
kubectl scale "statefulset/$NAME-aggregator" --replicas=3 >/dev/null
kubectl scale "deployment/$NAME-writer" --replicas=2 >/dev/null
for cw in parser:3 aggregator:3 writer:2; do
	wait_for "[[ \$(k8s_ready $REL ${cw%:*}) == ${cw#*:} ]]" 90 || die "${cw%:*}: $(k8s_ready $REL "${cw%:*}") Ready pods, want ${cw#*:}"
done
phase "scaled to parser 3, aggregator 3, writer 2 (all Ready; $(agg_total "$DB") of $EXPECTED counted)"
# the partitions spread: with host networking pod IP = node IP, so each node's port shows one replica's metrics
spread() {
	local n ok=1 w=0
	for n in 1 2 3; do
		(($(k8s_metric 127.0.0.$n $P_PARSER rsvp_parser_consumed_total) > 0)) || ok=0
		(($(k8s_metric 127.0.0.$n $P_AGG rsvp_aggregator_consumed_total) > 0)) || ok=0
		(($(k8s_metric 127.0.0.$n $P_WRITER 'rsvp_writer_batches_total{result="ok"}') > 0)) && w=$((w + 1))
	done
	((ok && w == 2))
}
wait_for spread 60 || die "not every parser/aggregator replica consumed, or not both writers applied batches"
phase "every parser and aggregator replica consumed messages, both writers applied batches (over mutual TLS)"

# Hostile clients against an installed writer while the stream flows, as an attacker on the host network (the pods'
# network here) would: tools/writer-client/hostile.sh with the aggregators' certificate from the chart's Secret (and
# without one, with another CA's, over plain TCP), at the pipeline's own partition 0, 1,000 connections at once with
# the certificate and 1,000 without. The writer must refuse every attack in the process it started with, keep its
# connections within MAX_CONNECTIONS and its peak RSS (VmHWM of the container's process, over its whole life) under
# the memory limit the chart gave it; no key of the attacks and no offset past 2^53 may reach PostgreSQL, and the
# exact counts at the end show that the pipeline beside it lost nothing.
HPOD=$(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component=writer" -o jsonpath='{.items[0].metadata.name}')
HNODE=$(kubectl get pod "$HPOD" -o jsonpath='{.status.hostIP}')
wenv() { kubectl get pod "$HPOD" -o jsonpath="{.spec.containers[0].env[?(@.name==\"$1\")].value}"; }
HLIMIT=$(kubectl get pod "$HPOD" -o jsonpath='{.spec.containers[0].resources.limits.memory}')
HLIMIT_B=$(numfmt --from=iec-i "$HLIMIT") && HMEM_B=$(numfmt --from=iec "$(wenv MAX_MEMORY)") || die "writer limits: '$HLIMIT', '$(wenv MAX_MEMORY)'"
HMAXC=$(wenv MAX_CONNECTIONS) HMAXREQ=$(wenv MAX_REQUEST_BYTES)
# the writer runs with the chart's settings: its "up" and "config" lines (its effective configuration) say so
kubectl logs "$HPOD" | python3 -c '
import json, sys
want = {"workers": int(sys.argv[1]), "max-connections": int(sys.argv[2]), "max-request-bytes": int(sys.argv[3]),
        "max-decode-bytes": int(sys.argv[4]), "max-memory": int(sys.argv[5])}
lines = [json.loads(l) for l in sys.stdin if l.startswith("{")]
up = next(l for l in lines if l.get("msg") == "up")
config = next(l for l in lines if l.get("msg") == "config")
bad = {k: config.get(k) for k in want if config.get(k) != want[k]}
worst = up.get("worst_case_request_memory")
if worst != want["max-memory"]:
    bad["worst_case_request_memory"] = worst
sys.exit(f"the writer says {bad}, the chart {want}" if bad else None)' \
	"$(wenv WORKERS)" "$HMAXC" "$(numfmt --from=iec "$HMAXREQ")" "$(numfmt --from=iec "$(wenv MAX_DECODE_BYTES)")" \
	"$HMEM_B" || die "the writer $HPOD does not run with the chart's limits"
HPID=$(ss -Hltnp "src $HNODE:$P_NNG" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
[[ -n $HPID && $(cat "/proc/$HPID/comm") == rsvp-writer ]] || die "no rsvp-writer listens on $HNODE:$P_NNG"
hwm() { awk '/^VmHWM:/ { print $2 * 1024 }' "/proc/$HPID/status"; }
HWM0=$(hwm)
mkdir -p "$TEST_DIR/tls"
for f in ca.crt tls.crt tls.key; do
	kubectl get secret "$NAME-aggregator-tls" -o go-template="{{index .data \"$f\"}}" | base64 -d >"$TEST_DIR/tls/$f" &&
		[[ -s $TEST_DIR/tls/$f ]] || die "cannot read $f of the Secret $NAME-aggregator-tls"
done
chmod 600 "$TEST_DIR/tls/tls.key"
HTLS=$TEST_DIR/tls # the aggregators' certificate the attacks use (a new one after the rotation below)
hostile() { # hostile NODE [hostile.sh options]: the attacks on the writer at NODE, as the aggregators' certificate's holder
	local node=$1
	shift
	"$LIB_ROOT/tools/writer-client/hostile.sh" --client "$BIN/rsvp-writer-client" --url "tls+tcp://$node:$P_NNG" \
		--ca "$HTLS/ca.crt" --cert "$HTLS/tls.crt" --key "$HTLS/tls.key" --server-name "$NAME-writer" \
		--timeout 4s --metrics "http://$node:$P_WRITER/metrics" --memory-limit "$HLIMIT_B" --max-connections "$HMAXC" \
		--max-request-bytes "$HMAXREQ" --pg-url "$DB" --topic "$PARSED" --partition 0 "$@"
}
at=$(agg_total "$DB")
t0=$SECONDS
hostile "$HNODE" --connections 1000 >"$TEST_DIR/hostile.out" 2>&1 ||
	die "hostile.sh against $HPOD: $(grep -m 3 -E '^FAIL|"verdict":"ACCEPTED"|"error"' "$TEST_DIR/hostile.out")"
T_HOSTILE=$((SECONDS - t0))
grep -E '^(ok|FAIL|PASS):' "$TEST_DIR/hostile.out" | sed 's/^/    /' || true
[[ $(cat "/proc/$HPID/comm" 2>/dev/null) == rsvp-writer ]] || die "the attacked writer's process $HPID is gone"
[[ $(kubectl get pod "$HPOD" -o jsonpath='{.status.containerStatuses[0].restartCount}') == 0 ]] || die "the attacked writer restarted"
HWM=$(hwm)
((HWM < HLIMIT_B)) || die "the attacked writer's peak RSS $HWM bytes is not under its limit $HLIMIT ($HLIMIT_B bytes)"
m() { k8s_metric "$HNODE" "$P_WRITER" "$1"; }
for reason in bad_delta bad_offset bad_range bad_messages too_many_rows decode_limit too_many_partitions unpack; do
	(($(m "rsvp_writer_bad_requests_total{reason=\"$reason\"}") >= 1)) || die "no refusal counted as $reason"
done
(($(m 'rsvp_writer_connections_refused_total{reason="limit"}') >= 1)) || die "1000 connections and none refused over MAX_CONNECTIONS"
(($(m 'rsvp_writer_transport_errors_total{kind="auth"}') >= 2)) || die "clients without a certificate or with another CA's not counted"
phase "hostile clients vs the installed writer $HPOD (from $at of $EXPECTED counted): $(grep -o '[0-9]* of [0-9]* attacks ran and were refused' "$TEST_DIR/hostile.out") in $T_HOSTILE s; peak RSS $((HWM >> 20)) MiB (VmHWM, $((HWM0 >> 20)) MiB before) < limit $HLIMIT; $(grep -o 'peak [0-9]* <= [0-9]*' "$TEST_DIR/hostile.out" | sed 's/^/connections /') (MAX_CONNECTIONS); no key of the attacks, no offset past 2^53"

# A parser frozen in the middle of a transaction, then force-deleted (a lost node): its successor has the same pod
# name, hence the same transactional id, and aborts the open transaction at start. read_committed readers of the
# parsed topic stall only until then (with a new name they would wait for transaction.timeout.ms, 60 s).
start_bg reader bash -c "kcat -C -b '$KAFKA_BROKERS' -t '$PARSED' -o end -u -q -X isolation.level=read_committed -f '%p\n' |
	while read -r p; do echo \"\$EPOCHREALTIME \$p\"; done >'$TEST_DIR/arrivals'"
wait_for "[[ -s '$TEST_DIR/arrivals' ]]" 30 || die "the read_committed reader of $PARSED got nothing"
victim=$NAME-parser-1
vip=$(kubectl get pod "$victim" -o jsonpath='{.status.hostIP}')
vuid=$(kubectl get pod "$victim" -o jsonpath='{.metadata.uid}')
vpid=$(ss -Hltnp "src $vip:$P_PARSER" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
[[ -n $vpid ]] || die "no process listens on $vip:$P_PARSER (the parser $victim)"
T_STOP=$EPOCHREALTIME
kill -STOP "$vpid"
kubectl delete pod "$victim" --force --grace-period=0 >/dev/null 2>&1 || die "cannot force-delete $victim"
kill -KILL "$vpid" 2>/dev/null || true
replaced() { [[ $(kubectl get pod "$victim" -o jsonpath='{.metadata.uid} {.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == *" True" &&
	$(kubectl get pod "$victim" -o jsonpath='{.metadata.uid}') != "$vuid" ]]; }
wait_for replaced 90 || die "$victim was not replaced under its name"
T_BACK=$EPOCHREALTIME
wait_for "awk -v t=$T_BACK '\$1 > t + 3 { f = 1 } END { exit !f }' '$TEST_DIR/arrivals'" 60 || die "reader got nothing after the replacement"
kill -- -"$(bg_pid reader)" 2>/dev/null || true
# the stall: per partition, the longest wait for the next record from 2 s before the freeze on (the stream brings
# ~RATE/6 records a second to each partition: a healthy gap is well under a second)
STALL=$(awk -v t="$T_STOP" '{ if ($2 in last && last[$2] >= t - 2 && $1 - last[$2] > g) g = $1 - last[$2]; last[$2] = $1 }
	END { printf "%.1f", g }' "$TEST_DIR/arrivals")
txid=$(kubectl logs "$victim" | sed -n 's/.*"transactional_id":"\([^"]*\)".*/\1/p' | head -n 1)
[[ $txid == "rsvp-parser-$victim" ]] || die "the replacement's transactional id is '$txid', want rsvp-parser-$victim"
awk -v s="$STALL" 'BEGIN { exit !(s < 30) }' || die "read_committed readers stalled $STALL s after a parser was lost mid-transaction"
phase "parser $victim frozen mid-transaction and force-deleted: Ready again under its name in $(awk -v a="$T_STOP" -v b="$T_BACK" 'BEGIN { printf "%.1f", b - a }') s (transactional id $txid); read_committed readers stalled $STALL s (transaction.timeout.ms: 60 s)"

# pods of another app cannot talk to the writer: plain TCP and TLS without a client certificate get no answer, while
# the same pod with the aggregators' certificate does (the control: the writer is reachable from such a pod).
# This cluster has no network plugin, so the NetworkPolicy is not enforced here: TLS is what refuses them.
# The refused ones give up after 4 s; the control may wait 20 s: the hostile floods above can leave nng 1.5.2's
# TLS listener taking no connections until the writer's watchdog recreates it (5 s still, 3 s probe: see
# docs/operations.md), which CI once caught in the control's 4 s.
WNODE=$(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component=writer" -o jsonpath='{.items[0].status.hostIP}')
other_app() { # other_app NAME TIMEOUT_MS URL [client options]: a pod of another app asking the writer for stored offsets
	local pod=other-app-$1-$SUFFIX timeout=$2 url=$3 a args=
	shift 3
	for a in "$@"; do args+="\"$a\", "; done
	PODS+=("$pod")
	kubectl apply -f - >/dev/null <<EOP
apiVersion: v1
kind: Pod
metadata: {name: $pod, labels: {app: other-app}}
spec:
  restartPolicy: Never
  securityContext: {runAsNonRoot: true, runAsUser: 65532}
  containers:
    - name: client
      image: $IMAGE
      imagePullPolicy: Never
      command: [rsvp-writer-client, --url, "$url", --timeout, "$timeout", $args query, --topic, $PARSED, --partitions, "0,1,2,3,4,5"]
      volumeMounts: [{name: tls, mountPath: /tls, readOnly: true}]
  volumes: [{name: tls, secret: {secretName: $NAME-aggregator-tls}}]
EOP
}
other_app plain 4000 "tcp://$WNODE:$P_NNG"
other_app nocert 4000 "tls+tcp://$WNODE:$P_NNG" --tls-ca /tls/ca.crt --tls-server-name "$NAME-writer"
other_app withcert 20000 "tls+tcp://$WNODE:$P_NNG" --tls-ca /tls/ca.crt --tls-server-name "$NAME-writer" --tls-cert /tls/tls.crt --tls-key /tls/tls.key
writer_link_state() { # what the writer on $WNODE says about its listener and connections
	curl -fsS -m 2 "http://$WNODE:$P_WRITER/metrics" 2>/dev/null |
		awk '/^rsvp_writer_(listener_restarts_total|connections|connections_refused_total|connections_evicted_total|transport_errors_total)[ {]/ { printf "%s ", $0 }'
	kubectl logs "$(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component=writer" -o jsonpath='{.items[0].metadata.name}')" 2>&1 |
		grep -E 'listener|refused|connections failed' | tail -n 5
}
done_pod() { [[ $(kubectl get pod "other-app-$1-$SUFFIX" -o jsonpath='{.status.phase}') == "$2" ]]; }
for pw in plain:Failed nocert:Failed withcert:Succeeded; do
	wait_for "done_pod ${pw%:*} ${pw#*:}" 60 || die "other-app pod ${pw%:*}: $(kubectl get pod "other-app-${pw%:*}-$SUFFIX" -o jsonpath='{.status.phase}'), want ${pw#*:}: $(kubectl logs "other-app-${pw%:*}-$SUFFIX" 2>&1 | tail -n 2); the writer on $WNODE: $(writer_link_state)"
done
kubectl logs "other-app-withcert-$SUFFIX" | grep -q '"status":"OK"' || die "the certified client got no offsets: $(kubectl logs "other-app-withcert-$SUFFIX")"
# refused by the writer, not failed for another reason (its own options, say): they asked and got no answer
for p in plain nocert; do
	kubectl logs "other-app-$p-$SUFFIX" | grep -q '^{"error":"no reply"' ||
		die "other-app pod $p failed, but not for want of an answer: $(kubectl logs "other-app-$p-$SUFFIX" 2>&1 | tail -n 2)"
done
phase "another app's pods: plain TCP and TLS without a client certificate refused, with the aggregators' certificate answered (the writer's listener recreated $(k8s_metric "$WNODE" $P_WRITER rsvp_writer_listener_restarts_total) times so far)"

# delete one pod of each service mid-stream: each comes back Ready
at=$(agg_total "$DB")
((at < EXPECTED)) || echo "  warning: the stream was over before the pod deletions (raise LOOPS or lower RATE)"
gone=" "
for c in ingestor parser aggregator writer; do
	pod=$(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component=$c" -o jsonpath='{.items[0].metadata.name} {.items[0].metadata.uid}')
	kubectl delete pod "${pod% *}" --wait=false >/dev/null || die "cannot delete ${pod% *}"
	gone+="${pod#* } "
done
# back: none of the deleted pods (by uid: a StatefulSet pod comes back under the same name) is left, and each
# service has its replicas again, all Ready
back() {
	local uids cw u
	uids=$(kubectl get pods -l "$SEL=$REL" -o jsonpath='{.items[*].metadata.uid}') || return 1
	for u in $uids; do [[ $gone != *" $u "* ]] || return 1; done
	for cw in ingestor:1 parser:3 aggregator:3 writer:2; do
		[[ $(k8s_ready "$REL" "${cw%:*}") == "${cw#*:}" ]] || return 1
		[[ $(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component=${cw%:*}" --no-headers | wc -l) == "${cw#*:}" ]] || return 1
	done
}
wait_for back 90 || die "not every service came back after kubectl delete pod"
phase "deleted a pod of each service at $at of $EXPECTED counted: all back and Ready"

# Rotating the generated certificates as docs/deploy.md says, while the stream flows: delete both Secrets and helm
# upgrade. Helm makes a new CA and both certificates and their checksum rolls every writer and aggregator; batches
# between the two sides of the change wait and are retried (the exact counts below). Then the old aggregator
# certificate (the hostile clients' one, as a leaked key would be) is refused by the writer, the new one answered.
# Helm sets every field its chart renders, so the replicas chosen with kubectl scale go with each upgrade as values
# (else Helm would scale back to the values' ones).
at=$(agg_total "$DB")
((at < EXPECTED)) || echo "  warning: the stream was over before the rotation (raise LOOPS or lower RATE)"
uids=$(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component in (writer,aggregator)" -o jsonpath='{.items[*].metadata.uid}')
kubectl delete secret "$NAME-writer-tls" "$NAME-aggregator-tls" >/dev/null || die "cannot delete the certificate Secrets"
t0=$SECONDS
helm upgrade "$REL" "$CHART" --reuse-values --set parser.replicas=3,aggregator.replicas=3,writer.replicas=2 --wait \
	--timeout 180s >"$TEST_DIR/helm-rotate.log" 2>&1 ||
	{ cat "$TEST_DIR/helm-rotate.log"; die "helm upgrade after deleting the certificate Secrets failed"; }
# helm --wait is content with replicas - maxUnavailable Ready pods of a Deployment: the roll may still go on
kubectl rollout status "deployment/$NAME-writer" --timeout=120s >/dev/null &&
	kubectl rollout status "statefulset/$NAME-aggregator" --timeout=120s >/dev/null || die "the rotation's rollout did not finish"
wait_for back 60 || die "not every service Ready, or old pods still there, after the rotation"
T_ROTATE=$((SECONDS - t0))
mkdir -p "$TEST_DIR/tls-new"
for f in ca.crt tls.crt tls.key; do
	kubectl get secret "$NAME-aggregator-tls" -o go-template="{{index .data \"$f\"}}" | base64 -d >"$TEST_DIR/tls-new/$f"
done
cmp -s "$TEST_DIR/tls/ca.crt" "$TEST_DIR/tls-new/ca.crt" && die "helm upgrade without the Secrets kept the old CA"
after=$(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component in (writer,aggregator)" -o jsonpath='{.items[*].metadata.uid}')
for u in $uids; do [[ " $after " != *" $u "* ]] || die "pod $u holds the old certificates after the rotation"; done
WNODE=$(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component=writer" -o jsonpath='{.items[0].status.hostIP}')
ask() { # ask CA CERT KEY: one offset query to the writer at WNODE with this client certificate
	"$BIN/rsvp-writer-client" --url "tls+tcp://$WNODE:$P_NNG" --timeout 4000 --tls-ca "$1" --tls-cert "$2" --tls-key "$3" \
		--tls-server-name "$NAME-writer" query --topic "$PARSED" --partitions 0 2>&1 || true
}
auth0=$(k8s_metric "$WNODE" "$P_WRITER" 'rsvp_writer_transport_errors_total{kind="auth"}')
out=$(ask "$TEST_DIR/tls-new/ca.crt" "$TEST_DIR/tls/tls.crt" "$TEST_DIR/tls/tls.key")
[[ $out == '{"error":"no reply"'* ]] || die "the old aggregator certificate, after the rotation: $out"
wait_for "(( \$(k8s_metric $WNODE $P_WRITER 'rsvp_writer_transport_errors_total{kind=\"auth\"}') > $auth0 ))" 10 ||
	die "the writer did not count the old aggregator certificate as an authentication failure"
out=$(ask "$TEST_DIR/tls-new/ca.crt" "$TEST_DIR/tls-new/tls.crt" "$TEST_DIR/tls-new/tls.key")
[[ $out == '{"status":"OK"'* ]] || die "the new aggregator certificate, after the rotation: $out"
HTLS=$TEST_DIR/tls-new
phase "certificates rotated (Secrets deleted, helm upgrade) at $at of $EXPECTED counted: new CA, every writer and aggregator rolled in $T_ROTATE s; the old aggregator certificate refused by the writer (auth), the new one answered"

# helm upgrade of the trigger interval rolls the aggregator pods and keeps the certificates the rotation generated (read
# back by lookup, their checksum unchanged), so the writers stay.
before=$(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component=aggregator" -o jsonpath='{.items[*].metadata.uid}')
writers=$(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component=writer" -o jsonpath='{.items[*].metadata.uid}')
certs() { kubectl get secret "$NAME-writer-tls" "$NAME-aggregator-tls" -o jsonpath='{.items[*].data}' | sha256sum; }
certs0=$(certs)
t0=$SECONDS
helm upgrade "$REL" "$CHART" --reuse-values --set aggregator.triggerInterval=2s \
	--set parser.replicas=3,aggregator.replicas=3,writer.replicas=2 --wait --timeout 120s >"$TEST_DIR/helm-upgrade.log" 2>&1 ||
	{ cat "$TEST_DIR/helm-upgrade.log"; die "helm upgrade failed"; }
kubectl rollout status "statefulset/$NAME-aggregator" --timeout=90s >/dev/null || die "aggregator rollout did not finish"
after=$(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component=aggregator" -o jsonpath='{.items[*].metadata.uid}')
for u in $before; do [[ " $after " != *" $u "* ]] || die "aggregator pod $u was not replaced by helm upgrade"; done
ti=$(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component=aggregator" \
	-o jsonpath='{range .items[*]}{.spec.containers[0].env[?(@.name=="TRIGGER_INTERVAL")].value}{" "}{end}')
[[ $ti == "2s 2s 2s " ]] || die "aggregator TRIGGER_INTERVAL after upgrade: '$ti', want 2s on 3 pods"
[[ $(certs) == "$certs0" ]] || die "helm upgrade changed the writer link's certificates"
[[ $(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component=writer" -o jsonpath='{.items[*].metadata.uid}') == "$writers" ]] ||
	die "helm upgrade of the aggregators' trigger interval rolled the writers"
phase "helm upgrade (trigger interval 1s -> 2s) rolled the 3 aggregator pods in $((SECONDS - t0)) s (certificates kept)"

# exact counts once everything is consumed
wait_for "[[ \$(agg_total '$DB') -ge $EXPECTED ]]" 120 || die "sum(response_count) stuck at $(agg_total "$DB") of $EXPECTED"
wait_for idle_aggregators 30 || die "aggregators not idle"
total=$(agg_total "$DB")
((total == EXPECTED)) || die "sum(response_count) = $total, expected $EXPECTED"
agg_compare "$DB" "$LOOPS" || die "rsvp_counts differs from the reference x $LOOPS"
! k8s_restarts "$REL" | grep -w OOMKilled || die "a container was OOM-killed"
phase "exact counts: $total RSVPs, reference x $LOOPS key by key; restarts: $(k8s_restarts "$REL" | awk '{ n += $2 } END { print n + 0 }'), none OOM-killed"
echo "  memory after the run: $(k8s_pod_rss "$NAME-")"

# idle now: the attacks that reach the writer's checks (no floods) change nothing at all in the database
HPOD=$(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component=writer" -o jsonpath='{.items[0].metadata.name}')
HNODE=$(kubectl get pod "$HPOD" -o jsonpath='{.status.hostIP}')
t0=$SECONDS
hostile "$HNODE" --idle --attacks negative_delta,huge_delta,range_to_2^62,range_to_2^62_negative_deltas,empty_range,rows_exceed_messages,messages_exceed_range,messages_missing,duplicate_key,stale_offset,decode_bomb \
	>"$TEST_DIR/hostile-idle.out" 2>&1 || die "hostile.sh, idle: $(grep -m 3 -E '^FAIL' "$TEST_DIR/hostile-idle.out")"
phase "idle: $(grep -o '[0-9]* of [0-9]* attacks ran and were refused' "$TEST_DIR/hostile-idle.out") by $HPOD in $((SECONDS - t0)) s; $(grep -o 'the database did not change.*' "$TEST_DIR/hostile-idle.out")"

t0=$SECONDS
helm uninstall "$REL" --wait --timeout 90s >/dev/null || die "helm uninstall failed"
uninstalled "$REL"
wait_for "k8s_nothing_left $REL && [[ -z \$(kubectl get secret -l owner=helm,name=$REL -o name) ]]" 60 ||
	die "left after helm uninstall: $(kubectl get all,cm,secret,pdb,hpa -l $SEL=$REL -o name | tr '\n' ' ')"
stop_replay helm
phase "helm uninstall left nothing ($((SECONDS - t0)) s)"

# 3. kubectl apply -k: the test overlay, with this run's topics, groups, database and certificates on top (by name)
KRAW=k8stest-kz.$SUFFIX.raw KPARSED=k8stest-kz.$SUFFIX.parsed KDLQ=k8stest-kz.$SUFFIX.dlq
topics "$KRAW" "$KPARSED" "$KDLQ"
KDB=$(pg_createdb k8stest_kz) || fail "cannot create database"
mkdir -p "$TEST_DIR/overlay"
"$LIB_ROOT/deploy/k8s/writer-certs.sh" "$TEST_DIR/overlay/certs" >/dev/null || fail "deploy/k8s/writer-certs.sh failed"
cat >"$TEST_DIR/overlay/kustomization.yaml" <<EOK
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [$(realpath --relative-to="$TEST_DIR/overlay" "$LIB_ROOT/deploy/k8s/overlays/test")]
secretGenerator:
  - {name: rsvp-pipeline-postgres, behavior: replace, literals: ["url=$KDB"]}
  - {name: rsvp-pipeline-writer-tls, type: kubernetes.io/tls, files: [tls.crt=certs/writer.crt, tls.key=certs/writer.key, ca.crt=certs/ca.crt]}
  - {name: rsvp-pipeline-aggregator-tls, type: kubernetes.io/tls, files: [tls.crt=certs/aggregator.crt, tls.key=certs/aggregator.key, ca.crt=certs/ca.crt]}
patches:
  - target: {kind: ConfigMap, name: rsvp-pipeline}
    patch: |-
      - {op: replace, path: /data/KAFKA_BOOTSTRAP_SERVERS, value: "$KAFKA_BROKERS"}
      - {op: replace, path: /data/RAW_TOPIC, value: $KRAW}
      - {op: replace, path: /data/PARSED_TOPIC, value: $KPARSED}
      - {op: replace, path: /data/DLQ_TOPIC, value: $KDLQ}
  - patch: |-
      {apiVersion: apps/v1, kind: StatefulSet, metadata: {name: rsvp-pipeline-parser},
       spec: {template: {spec: {containers: [{name: parser, env: [{name: GROUP_ID, value: k8stest-kz-parser-$SUFFIX}]}]}}}}
  - patch: |-
      {apiVersion: apps/v1, kind: StatefulSet, metadata: {name: rsvp-pipeline-aggregator},
       spec: {template: {spec: {containers: [{name: aggregator, env: [{name: GROUP_ID, value: k8stest-kz-aggregator-$SUFFIX}]}]}}}}
EOK
kubectl kustomize "$TEST_DIR/overlay" >"$TEST_DIR/kustomized.yaml" || fail "kubectl kustomize of the test overlay failed"
"$VENV/bin/python" "$LIB_ROOT/tests/integration/k8s_assert.py" workloads "$TEST_DIR/kustomized.yaml" || fail "the per-run overlay broke the workloads"
start_replay kz "$RECORDED" false
t0=$SECONDS
APPLIED=$(cat "$TEST_DIR/kustomized.yaml") # what to delete on exit, whatever happens to the files
kubectl apply -k "$TEST_DIR/overlay" >"$TEST_DIR/apply.log" 2>&1 || { cat "$TEST_DIR/apply.log"; die "kubectl apply -k failed"; }
for w in deployment/rsvp-pipeline-ingestor statefulset/rsvp-pipeline-parser statefulset/rsvp-pipeline-aggregator deployment/rsvp-pipeline-writer; do
	kubectl rollout status "$w" --timeout=120s >/dev/null || die "$w did not become ready"
done
phase "kubectl apply -k: all rolled out in $((SECONDS - t0)) s"
wait_for "[[ \$(agg_total '$KDB') -ge $RECORDED ]]" 90 || die "kustomize install: sum stuck at $(agg_total "$KDB") of $RECORDED"
wait_for "[[ \$(k8s_metric 127.0.0.1 $P_AGG rsvp_aggregator_consumer_lag) == 0 && \$(k8s_metric 127.0.0.1 $P_AGG rsvp_aggregator_pending_batches) == 0 ]]" 30 ||
	die "kustomize aggregator not idle"
total=$(agg_total "$KDB")
((total == RECORDED)) || die "kustomize install: sum(response_count) = $total, expected $RECORDED"
agg_compare "$KDB" 1 || die "kustomize install: rsvp_counts differs from the reference"
kubectl delete -k "$TEST_DIR/overlay" --wait=true --timeout=90s >/dev/null || die "kubectl delete -k failed"
APPLIED=
wait_for "k8s_nothing_left rsvp-pipeline && [[ -z \$(kubectl get secret -o name | grep rsvp-pipeline-) ]]" 60 ||
	die "left after kubectl delete -k"
stop_replay kz
phase "kubectl apply -k: exact counts ($total) over mutual TLS, kubectl delete -k left nothing"

T_ON=$((SECONDS - T_CLUSTER))
t0=$SECONDS
how=$(k8s_down)
echo "  timing: image $K8S_T_IMAGE s, cluster start+load $K8S_T_UP s, on the cluster $T_ON s, stop $((SECONDS - t0)) s;" \
	"whole test $((SECONDS - K8S_T0)) s (cluster $how)"
pass
}
main "$@"; exit
