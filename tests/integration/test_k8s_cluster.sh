#!/usr/bin/env bash
# test-timeout: 900
# rsvp-pipeline on a real Kubernetes (tools/k8s-node.sh: etcd, apiserver, controller-manager, scheduler, kubelets
# on 127.0.0.1/.2/.3, host network) from the real image (deploy/docker/build.sh), against the local Kafka and
# PostgreSQL. Helm: install --wait; RSVPs from rsvp-replay flow through the pods with exact counts; kubectl scale
# parser and aggregator to 3 and writer to 2 (all Ready, every replica gets partitions/batches); delete a pod of
# each service mid-stream (it comes back); helm upgrade of the trigger interval rolls the aggregator pods; counts
# equal the reference x loops key by key; helm uninstall leaves nothing. Kustomize: kubectl apply -k of the test
# overlay (per-run names on top) gives exact counts too; kubectl delete -k leaves nothing. Prints phase timings.
# Starts (and then stops) the cluster and dockerd unless they already run. KEEP_CLUSTER=1 leaves them running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agg_lib.sh"
source "$(dirname "$0")/k8s_lib.sh"
k8s_lock k8s_cluster # one run at a time: the cluster, its ports and var/test-tmp/k8s_cluster are shared
lib_init k8s_cluster
T_START=$SECONDS

IMAGE=local/rsvp-pipeline:dev
CHART=$LIB_ROOT/deploy/helm/rsvp-pipeline
REL=k8stest
NODES=3
LOOPS=${LOOPS:-4}      # the recorded file this many times (ids and mtimes rewritten by rsvp-replay --loop)
RATE=${RATE:-300}      # messages/s: the stream lasts LOOPS*2865/RATE s, long enough to act mid-stream
# host network: every service has its own port (322xx), the same on every node
P_INGESTOR=32201 P_PARSER=32202 P_AGG=32203 P_WRITER=32204 P_REPLAY=32205 P_NNG=32240
export DOCKER_HOST=unix://$LIB_ROOT/var/docker/docker.sock
export KUBECONFIG=$LIB_ROOT/var/k8s/run/kubeconfig
NAME=$REL-rsvp-pipeline
SEL=app.kubernetes.io/instance
RECORDED=$(wc -l <"$AGG_RECORDED")

OWN_DOCKERD=0 OWN_CLUSTER=0 INSTALLED=0 APPLIED=
CONTAINERS=()
phase() { echo "  [$((SECONDS - T_START)) s] $*"; }
k8s_cleanup() {
	local rc=$? c
	set +e # a cleanup step failing must not skip the others
	((INSTALLED)) && { helm uninstall "$REL" --wait --timeout 60s >/dev/null 2>&1 || true; }
	[[ -n $APPLIED ]] && { kubectl delete -f - --ignore-not-found --wait=true --timeout=60s <<<"$APPLIED" >/dev/null 2>&1 || true; }
	for c in "${CONTAINERS[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
	if ((OWN_CLUSTER)) && [[ ${KEEP_CLUSTER:-0} != 1 ]]; then "$LIB_ROOT/tools/k8s-node.sh" stop >/dev/null 2>&1 9>&- || true; fi
	if ((OWN_DOCKERD)) && [[ ${KEEP_CLUSTER:-0} != 1 ]]; then "$LIB_ROOT/deploy/docker/build.sh" stop 9>&- || true; fi
	(exit "$rc")
	lib_cleanup
}
trap k8s_cleanup EXIT

dump() { # on failure: what the cluster says
	kubectl get pods -o wide 2>&1 | tail -n 20 >&2 || true
	local p
	for p in $(kubectl get pods -o name 2>/dev/null | head -n 12); do
		echo "--- $p" >&2; kubectl logs "$p" --tail 5 >&2 2>&1 || true
	done
}
die() { dump; fail "$@"; }

# metric HOST PORT SERIES: one series from http://HOST:PORT/metrics (0 when absent or unreachable)
metric() {
	local v
	v=$(curl -fsS -m 2 "http://$1:$2/metrics" 2>/dev/null | awk -v s="$3" '$1 == s { print $2 }')
	echo "${v:-0}"
}
ready_count() { # ready_count COMPONENT: pods of this release/component with Ready=True
	kubectl get pods -l "$SEL=$1,app.kubernetes.io/component=$2" \
		-o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True || true
}
pods_left() { kubectl get pods -l "$SEL=$1" -o name 2>/dev/null | wc -l; }
# nothing of instance $1 left: workloads, services, config, policy, autoscalers, pods
nothing_left() {
	[[ -z $(kubectl get deploy,sts,rs,pod,svc,cm,secret,pdb,hpa -l "$SEL=$1" -o name 2>/dev/null) ]]
}

start_replay() { # start_replay NAME COUNT LOOP: rsvp-replay from the image on the host network
	local name=k8stest-replay-$1-$SUFFIX
	CONTAINERS+=("$name")
	docker run -d --name "$name" --network host --read-only --cap-drop ALL -v "$(dirname "$AGG_RECORDED"):/data:ro" \
		-e REPLAY_LISTEN="127.0.0.1:$P_REPLAY" -e REPLAY_FILE="/data/$(basename "$AGG_RECORDED")" -e REPLAY_LOOP="$3" \
		-e REPLAY_COUNT="$2" -e REPLAY_RATE="$RATE" -e METRICS_ADDR=127.0.0.1:32206 "$IMAGE" rsvp-replay >/dev/null ||
		fail "cannot start rsvp-replay"
	wait_for "curl -fsS http://127.0.0.1:32206/healthz" 20 || fail "rsvp-replay not up"
}
stop_replay() { docker rm -f "k8stest-replay-$1-$SUFFIX" >/dev/null; }

# 0. tools, image, cluster
k8s_tools || fail "could not install helm/kubeconform/kubernetes-validate"
for t in kcat psql curl; do command -v $t >/dev/null || fail "$t not installed (make deps)"; done
[[ $EUID == 0 ]] || fail "needs root (dockerd, containerd, kubelet)"
[[ -d /sys/fs/cgroup/memory ]] || fail "needs cgroup v1 (tools/k8s-node.sh is only checked there)"
docker version >/dev/null 2>&1 || OWN_DOCKERD=1
t0=$SECONDS
"$LIB_ROOT/deploy/docker/build.sh" image >/dev/null 2>"$TEST_DIR/build.log" 9>&- || { cat "$TEST_DIR/build.log"; fail "image build failed"; }
T_IMAGE=$((SECONDS - t0))
phase "image $IMAGE ready ($(grep -o 'built.*' "$TEST_DIR/build.log"))"
t0=$SECONDS
if ! kubectl get --raw /readyz >/dev/null 2>&1; then
	OWN_CLUSTER=1
	for p in $P_INGESTOR $P_PARSER $P_AGG $P_WRITER $P_NNG $P_REPLAY 32206; do for n in 1 2 3; do
		! (exec 3<>"/dev/tcp/127.0.0.$n/$p") 2>/dev/null || fail "port 127.0.0.$n:$p is taken"
	done; done
	NODES=$NODES "$LIB_ROOT/tools/k8s-node.sh" start >"$TEST_DIR/k8s-start.log" 2>&1 9>&- || { tail -n 20 "$TEST_DIR/k8s-start.log"; fail "cluster start failed"; }
fi
[[ $(kubectl get nodes --no-headers 2>/dev/null | grep -c ' Ready') == "$NODES" ]] || fail "want $NODES Ready nodes"
"$LIB_ROOT/tools/k8s-node.sh" load "$IMAGE" || fail "image load failed"
T_UP=$((SECONDS - t0))
phase "cluster of $NODES nodes ready, image loaded"
T_CLUSTER=$SECONDS

# 1. Helm
RAW=k8stest.$SUFFIX.raw PARSED=k8stest.$SUFFIX.parsed DLQ=k8stest.$SUFFIX.dlq
for t in "$RAW" "$PARSED" "$DLQ"; do kafka_topic "$t" 6 || fail "cannot create topic $t"; done
DB=$(pg_createdb k8stest) || fail "cannot create database"
cat >"$TEST_DIR/values.yaml" <<EOV
image: {repository: local/rsvp-pipeline, tag: dev, pullPolicy: Never}
logLevel: info
kafka: {bootstrapServers: "$KAFKA_BROKERS"}
topics: {raw: $RAW, parsed: $PARSED, dlq: $DLQ, rawPartitions: 6, parsedPartitions: 6}
postgres: {url: "$DB"}
# initialSinceMtime 0: read the stream from its start (rsvp-replay streams live from "now" otherwise)
ingestor: {metricsPort: $P_INGESTOR, sourceUrl: "http://127.0.0.1:$P_REPLAY/2/rsvps", initialSinceMtime: 0}
parser:
  metricsPort: $P_PARSER
  groupId: k8stest-parser-$SUFFIX
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}   # host ports: no surge
aggregator:
  metricsPort: $P_AGG
  groupId: k8stest-aggregator-$SUFFIX
  triggerInterval: 1s
  writerUrl: "tcp://127.0.0.1:$P_NNG,tcp://127.0.0.2:$P_NNG,tcp://127.0.0.3:$P_NNG"
writer:
  metricsPort: $P_WRITER
  port: $P_NNG
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}
EOV
start_replay helm $((LOOPS * RECORDED)) true
EXPECTED=$((LOOPS * RECORDED))
t0=$SECONDS
helm install "$REL" "$CHART" -f "$TEST_DIR/values.yaml" --wait --timeout 120s >"$TEST_DIR/helm-install.log" 2>&1 ||
	{ cat "$TEST_DIR/helm-install.log"; die "helm install --wait failed"; }
INSTALLED=1
phase "helm install --wait: $((SECONDS - t0)) s"
wait_for "[[ \$(agg_total '$DB') -gt 0 ]]" 60 || die "no counts in PostgreSQL after install"

# scale: parser 3, aggregator 3, writer 2; every replica Ready and working
kubectl scale "deployment/$NAME-parser" --replicas=3 >/dev/null
kubectl scale "statefulset/$NAME-aggregator" --replicas=3 >/dev/null
kubectl scale "deployment/$NAME-writer" --replicas=2 >/dev/null
for cw in parser:3 aggregator:3 writer:2; do
	wait_for "[[ \$(ready_count $REL ${cw%:*}) == ${cw#*:} ]]" 90 || die "${cw%:*}: $(ready_count $REL "${cw%:*}") Ready pods, want ${cw#*:}"
done
at=$(agg_total "$DB")
phase "scaled to parser 3, aggregator 3, writer 2 (all Ready; $at of $EXPECTED counted)"
# the partitions spread: with host networking pod IP = node IP, so each node's port shows one replica's metrics
spread() {
	local n ok=1
	for n in 1 2 3; do
		(($(metric 127.0.0.$n $P_PARSER rsvp_parser_consumed_total) > 0)) || ok=0
		(($(metric 127.0.0.$n $P_AGG rsvp_aggregator_consumed_total) > 0)) || ok=0
	done
	local w=0
	for n in 1 2 3; do (($(metric 127.0.0.$n $P_WRITER 'rsvp_writer_batches_total{result="ok"}') > 0)) && w=$((w + 1)); done
	((ok && w == 2))
}
wait_for spread 60 || die "not every parser/aggregator replica consumed, or not both writers applied batches"
phase "every parser and aggregator replica consumed messages, both writers applied batches"

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
		[[ $(ready_count "$REL" "${cw%:*}") == "${cw#*:}" ]] || return 1
		[[ $(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component=${cw%:*}" --no-headers | wc -l) == "${cw#*:}" ]] || return 1
	done
}
wait_for back 90 || die "not every service came back after kubectl delete pod"
phase "deleted a pod of each service at $at of $EXPECTED counted: all back and Ready"

# helm upgrade of the trigger interval rolls the aggregator pods. Helm sets every field its chart renders, so the
# replicas chosen with kubectl scale go with the upgrade as values (else Helm would scale back to the values' ones).
before=$(kubectl get pods -l "$SEL=$REL,app.kubernetes.io/component=aggregator" -o jsonpath='{.items[*].metadata.uid}')
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
phase "helm upgrade (trigger interval 1s -> 2s) rolled the 3 aggregator pods in $((SECONDS - t0)) s"

# exact counts once everything is consumed
wait_for "[[ \$(agg_total '$DB') -ge $EXPECTED ]]" 120 || die "sum(response_count) stuck at $(agg_total "$DB") of $EXPECTED"
idle() { local n; for n in 1 2 3; do
	[[ $(metric 127.0.0.$n $P_AGG rsvp_aggregator_consumer_lag) == 0 && $(metric 127.0.0.$n $P_AGG rsvp_aggregator_pending_batches) == 0 ]] || return 1; done; }
wait_for idle 30 || die "aggregators not idle"
total=$(agg_total "$DB")
((total == EXPECTED)) || die "sum(response_count) = $total, expected $EXPECTED"
agg_compare "$DB" "$LOOPS" || die "rsvp_counts differs from the reference x $LOOPS"
phase "exact counts: $total RSVPs, reference x $LOOPS key by key"
echo "  memory after the run: $(k8s_pod_rss "$NAME-")"

t0=$SECONDS
helm uninstall "$REL" --wait --timeout 90s >/dev/null || die "helm uninstall failed"
INSTALLED=0
wait_for "nothing_left $REL && [[ -z \$(kubectl get secret -l owner=helm,name=$REL -o name) ]]" 60 || die "left after helm uninstall: $(kubectl get all,cm,secret,pdb,hpa -l $SEL=$REL -o name | tr '\n' ' ')"
stop_replay helm
phase "helm uninstall left nothing ($((SECONDS - t0)) s)"

# 2. kubectl apply -k: the test overlay, with this run's topics, groups and database on top
KRAW=k8stest-kz.$SUFFIX.raw KPARSED=k8stest-kz.$SUFFIX.parsed KDLQ=k8stest-kz.$SUFFIX.dlq
for t in "$KRAW" "$KPARSED" "$KDLQ"; do kafka_topic "$t" 6 || fail "cannot create topic $t"; done
KDB=$(pg_createdb k8stest_kz) || fail "cannot create database"
mkdir -p "$TEST_DIR/overlay"
cat >"$TEST_DIR/overlay/kustomization.yaml" <<EOK
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [$(realpath --relative-to="$TEST_DIR/overlay" "$LIB_ROOT/deploy/k8s/overlays/test")]
secretGenerator:
  - {name: rsvp-pipeline-postgres, behavior: replace, literals: ["url=$KDB"]}
patches:
  - target: {kind: ConfigMap, name: rsvp-pipeline}
    patch: |-
      - {op: replace, path: /data/KAFKA_BOOTSTRAP_SERVERS, value: "$KAFKA_BROKERS"}
      - {op: replace, path: /data/RAW_TOPIC, value: $KRAW}
      - {op: replace, path: /data/PARSED_TOPIC, value: $KPARSED}
      - {op: replace, path: /data/DLQ_TOPIC, value: $KDLQ}
  - target: {kind: Deployment, name: rsvp-pipeline-parser}
    patch: |-
      - {op: replace, path: /spec/template/spec/containers/0/env/3/value, value: k8stest-kz-parser-$SUFFIX}
  - target: {kind: StatefulSet, name: rsvp-pipeline-aggregator}
    patch: |-
      - {op: replace, path: /spec/template/spec/containers/0/env/3/value, value: k8stest-kz-aggregator-$SUFFIX}
EOK
kubectl kustomize "$TEST_DIR/overlay" >"$TEST_DIR/kustomized.yaml" || fail "kubectl kustomize of the test overlay failed"
start_replay kz "$RECORDED" false
t0=$SECONDS
APPLIED=$(cat "$TEST_DIR/kustomized.yaml") # what to delete on exit, whatever happens to the files
kubectl apply -k "$TEST_DIR/overlay" >"$TEST_DIR/apply.log" 2>&1 || { cat "$TEST_DIR/apply.log"; die "kubectl apply -k failed"; }
for w in deployment/rsvp-pipeline-ingestor deployment/rsvp-pipeline-parser statefulset/rsvp-pipeline-aggregator deployment/rsvp-pipeline-writer; do
	kubectl rollout status "$w" --timeout=120s >/dev/null || die "$w did not become ready"
done
phase "kubectl apply -k: all rolled out in $((SECONDS - t0)) s"
wait_for "[[ \$(agg_total '$KDB') -ge $RECORDED ]]" 90 || die "kustomize install: sum stuck at $(agg_total "$KDB") of $RECORDED"
wait_for "[[ \$(metric 127.0.0.1 $P_AGG rsvp_aggregator_consumer_lag) == 0 && \$(metric 127.0.0.1 $P_AGG rsvp_aggregator_pending_batches) == 0 ]]" 30 ||
	die "kustomize aggregator not idle"
total=$(agg_total "$KDB")
((total == RECORDED)) || die "kustomize install: sum(response_count) = $total, expected $RECORDED"
agg_compare "$KDB" 1 || die "kustomize install: rsvp_counts differs from the reference"
kubectl delete -k "$TEST_DIR/overlay" --wait=true --timeout=90s >/dev/null || die "kubectl delete -k failed"
APPLIED=
wait_for "nothing_left rsvp-pipeline && [[ -z \$(kubectl get secret -o name | grep rsvp-pipeline-postgres) ]]" 60 ||
	die "left after kubectl delete -k"
stop_replay kz
phase "kubectl apply -k: exact counts ($total), kubectl delete -k left nothing"

T_ON=$((SECONDS - T_CLUSTER))
t0=$SECONDS
if ((OWN_CLUSTER)) && [[ ${KEEP_CLUSTER:-0} != 1 ]]; then
	"$LIB_ROOT/tools/k8s-node.sh" stop >/dev/null 2>&1 9>&- || fail "tools/k8s-node.sh stop failed"
	OWN_CLUSTER=0
	how="started and stopped by this test"
elif ((OWN_CLUSTER)); then how="started by this test, kept (KEEP_CLUSTER=1)"; else how="already running, kept"; fi
echo "  timing: image $T_IMAGE s, cluster start+load $T_UP s, on the cluster $T_ON s, stop $((SECONDS - t0)) s;" \
	"whole test $((SECONDS - T_START)) s (cluster $how)"
pass
