# Helpers shared by the Kubernetes tests (sourced after lib.sh). Tools come from the Go module proxy and PyPI and are
# cached outside the clone (${RSVP_CACHE:-/var/cache/rsvp-pipeline}, ~/go), so a second run installs nothing.

K8S_CACHE=${RSVP_CACHE:-/var/cache/rsvp-pipeline}
HELM_VERSION=3.22.0
KUBECONFORM_VERSION=0.8.0
KUBERNETES_VALIDATE_VERSION=1.37.0
KEDA_MODULE=github.com/kedacore/keda/v2@v2.16.1
PROM_OPERATOR_MODULE=github.com/prometheus-operator/prometheus-operator@v0.79.2
CERT_MANAGER_MODULE=github.com/cert-manager/cert-manager@v1.16.2 # CRD schemas of the writer link's certificates
export PATH=$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin:$PATH
VENV=$K8S_CACHE/venv

# k8s_tools: helm, kubeconform (go install) and kubernetes-validate (venv) unless present. ~2 min cold, 0 s warm.
k8s_tools() {
	command -v helm >/dev/null || go install "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" || return 1
	command -v kubeconform >/dev/null || go install "github.com/yannh/kubeconform/cmd/kubeconform@v$KUBECONFORM_VERSION" || return 1
	command -v kubectl >/dev/null || { echo "kubectl missing: run tools/k8s-node.sh build (it builds kubectl when absent)" >&2
		export PATH=$K8S_CACHE/k8s/bin:$PATH; command -v kubectl >/dev/null || return 1; }
	if ! "$VENV/bin/python" -c 'import kubernetes_validate' 2>/dev/null; then
		mkdir -p "$K8S_CACHE"
		python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" || return 1
	fi
}

# k8s_mod_dir MODULE@VERSION: prints the Go module cache directory of MODULE (downloads it once).
k8s_mod_dir() {
	go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'
}

# k8s_lock NAME: waits (up to 10 min) until no other run of test NAME holds var/NAME.lock, then holds it on fd 9
# until exit. Start long-lived children with 9>&- so that they do not keep the lock.
k8s_lock() {
	mkdir -p "$LIB_ROOT/var"
	exec 9>"$LIB_ROOT/var/$1.lock"
	flock -w 600 9 || { echo "FAIL: $1: another run still holds var/$1.lock after 10 min"; exit 1; }
}

# k8s_pod_rss PREFIX: "name R/W, ... MiB": anonymous resident memory and cgroup working set of every container of
# the pods named PREFIX* now, from each kubelet's summary API (directly: the apiserver will not proxy to loopback
# node addresses; the test kubelets allow anonymous reads); sizes the chart's memory requests. Empty if unavailable.
k8s_pod_rss() {
	local ip dir
	dir=$(mktemp -d)
	for ip in $(kubectl get nodes -o jsonpath='{.items[*].status.addresses[?(@.type=="InternalIP")].address}'); do
		curl -fsSk -m 5 "https://$ip:10250/stats/summary" >"$dir/$ip.json" 2>/dev/null || rm -f "$dir/$ip.json"
	done
	ls "$dir"/*.json >/dev/null 2>&1 || { rm -rf "$dir"; return 0; }
	python3 - "$1" "$dir"/*.json <<'PY' || true
import json, sys
prefix, rows = sys.argv[1], []
for f in sys.argv[2:]:
    for pod in json.load(open(f)).get("pods", []):
        name = pod["podRef"]["name"]
        if name.startswith(prefix):
            rows += [(name[len(prefix):], c.get("memory", {}).get("rssBytes", 0), c.get("memory", {}).get("workingSetBytes", 0))
                     for c in pod.get("containers", [])]
print(", ".join(f"{n} {r / 1048576:.1f}/{w / 1048576:.1f}" for n, r, w in sorted(rows)) + " MiB (anonymous RSS/working set)")
PY
	rm -rf "$dir"
}

# --- the test cluster, shared by test_k8s_cluster.sh and tests/k8s-scenarios (after lib.sh and agg_lib.sh) ---
# K8S_IMAGE is built by deploy/docker/build.sh and loaded into every node; k8s_up starts dockerd and the cluster
# unless they already run (k8s_down stops only what k8s_up started, unless KEEP_CLUSTER=1).
K8S_IMAGE=local/rsvp-pipeline:dev
K8S_NODES=3
K8S_OWN_DOCKERD=0 K8S_OWN_CLUSTER=0 K8S_T_IMAGE=0 K8S_T_UP=0
K8S_T0=$SECONDS
k8s_phase() { echo "  [$((SECONDS - K8S_T0)) s] $*"; }

# k8s_up PORT...: tools, image, cluster of K8S_NODES nodes with the image loaded. The PORTs must be free on every
# node address when the cluster is started here (they are the test's host ports).
k8s_up() {
	local t0 p n
	export DOCKER_HOST=unix://$LIB_ROOT/var/docker/docker.sock
	export KUBECONFIG=$LIB_ROOT/var/k8s/run/kubeconfig
	k8s_tools || fail "could not install helm/kubeconform/kubernetes-validate"
	for t in kcat psql curl openssl; do command -v $t >/dev/null || fail "$t not installed (make deps)"; done
	[[ $EUID == 0 ]] || fail "needs root (dockerd, containerd, kubelet)"
	[[ -d /sys/fs/cgroup/memory ]] || fail "needs cgroup v1 (tools/k8s-node.sh is only checked there)"
	docker version >/dev/null 2>&1 || K8S_OWN_DOCKERD=1
	t0=$SECONDS
	"$LIB_ROOT/deploy/docker/build.sh" image >/dev/null 2>"$TEST_DIR/build.log" 9>&- ||
		{ cat "$TEST_DIR/build.log"; fail "image build failed"; }
	K8S_T_IMAGE=$((SECONDS - t0))
	k8s_phase "image $K8S_IMAGE ready ($(grep -o 'built.*' "$TEST_DIR/build.log"))"
	t0=$SECONDS
	if ! kubectl get --raw /readyz >/dev/null 2>&1; then
		K8S_OWN_CLUSTER=1
		for p in "$@"; do for n in $(seq 1 "$K8S_NODES"); do
			! (exec 3<>"/dev/tcp/127.0.0.$n/$p") 2>/dev/null || fail "port 127.0.0.$n:$p is taken"
		done; done
		NODES=$K8S_NODES "$LIB_ROOT/tools/k8s-node.sh" start >"$TEST_DIR/k8s-start.log" 2>&1 9>&- ||
			{ tail -n 20 "$TEST_DIR/k8s-start.log"; fail "cluster start failed"; }
	fi
	[[ $(kubectl get nodes --no-headers 2>/dev/null | grep -c ' Ready') == "$K8S_NODES" ]] || fail "want $K8S_NODES Ready nodes"
	"$LIB_ROOT/tools/k8s-node.sh" load "$K8S_IMAGE" || fail "image load failed"
	K8S_T_UP=$((SECONDS - t0))
	k8s_phase "cluster of $K8S_NODES nodes ready, image loaded"
}

# k8s_down: stops the cluster and dockerd if k8s_up started them (unless KEEP_CLUSTER=1); prints how.
k8s_down() {
	local how
	if ((K8S_OWN_CLUSTER)) && [[ ${KEEP_CLUSTER:-0} != 1 ]]; then
		"$LIB_ROOT/tools/k8s-node.sh" stop >/dev/null 2>&1 9>&- || echo "  warning: tools/k8s-node.sh stop failed"
		how="started and stopped by this test"
	elif ((K8S_OWN_CLUSTER)); then how="started by this test, kept (KEEP_CLUSTER=1)"; else how="already running, kept"; fi
	K8S_OWN_CLUSTER=0
	if ((K8S_OWN_DOCKERD)) && [[ ${KEEP_CLUSTER:-0} != 1 ]]; then "$LIB_ROOT/deploy/docker/build.sh" stop 9>&- || true; fi
	K8S_OWN_DOCKERD=0
	echo "$how"
}

# k8s_dump: on failure, what the cluster says: the last lines of each pod's log (and of its previous container's),
# then why pods ended (phase, reason, message, each container's state and last termination), the nodes' conditions
# and the last events. The reasons come last: a failure summary shows the end of the log.
k8s_dump() {
	local p
	for p in $(kubectl get pods -o name 2>/dev/null | head -n 14); do
		echo "--- $p" >&2; kubectl logs "$p" --tail 5 2>&1 | cut -c 1-300 >&2 || true
		kubectl logs "$p" --previous --tail 3 2>/dev/null | cut -c 1-300 | sed 's/^/    previous: /' >&2 || true
	done
	kubectl get pods -o json 2>/dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    s = p["status"]
    cs = []
    for c in s.get("containerStatuses", []):
        st = c.get("state", {})
        last = c.get("lastState", {}).get("terminated", {})
        cs.append("%s restarts=%s state=%s%s" % (c["name"], c["restartCount"], ",".join(st) or "-",
                  " last=%s/%s" % (last.get("reason"), last.get("exitCode")) if last else ""))
    print("pod %s node=%s phase=%s reason=%s message=%s %s" % (p["metadata"]["name"], p["spec"].get("nodeName"),
          s.get("phase"), s.get("reason", "-"), (s.get("message") or "-")[:200], "; ".join(cs)))' >&2 || true
	kubectl get nodes -o json 2>/dev/null | python3 -c '
import json, sys
for n in json.load(sys.stdin)["items"]:
    bad = [c["type"] + "=" + c["status"] for c in n["status"].get("conditions", [])
           if (c["type"] == "Ready") != (c["status"] == "True")]
    taints = [t["key"] for t in n["spec"].get("taints", [])]
    print("node %s %s taints=%s" % (n["metadata"]["name"], " ".join(bad) or "ok", ",".join(taints) or "-"))' >&2 || true
	kubectl get events --sort-by=.lastTimestamp --field-selector type!=Normal 2>&1 | tail -n 15 | cut -c 1-300 >&2 || true
}

# k8s_metric HOST PORT SERIES: one series from http://HOST:PORT/metrics (0 when absent or unreachable)
k8s_metric() {
	local v
	v=$(curl -fsS -m 2 "http://$1:$2/metrics" 2>/dev/null | awk -v s="$3" '$1 == s { print $2 }')
	echo "${v:-0}"
}

# k8s_ready INSTANCE COMPONENT: pods of that release/component with Ready=True
k8s_ready() {
	kubectl get pods -l "app.kubernetes.io/instance=$1,app.kubernetes.io/component=$2" \
		-o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True || true
}

# k8s_nothing_left INSTANCE: no workload, service, config, policy, autoscaler or pod of that instance is left
k8s_nothing_left() {
	[[ -z $(kubectl get deploy,sts,rs,pod,svc,cm,secret,pdb,hpa,networkpolicy,sa -l "app.kubernetes.io/instance=$1" -o name 2>/dev/null) ]]
}

# k8s_restarts INSTANCE: one line per container of that instance's pods: "pod/container restarts reasons", where
# reasons are the last termination's reason (OOMKilled, Error, ...) or "-"
k8s_restarts() {
	kubectl get pods -l "app.kubernetes.io/instance=$1" -o json | python3 -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    for c in p["status"].get("containerStatuses", []):
        last = c.get("lastState", {}).get("terminated", {}).get("reason", "-")
        print(p["metadata"]["name"] + "/" + c["name"], c["restartCount"], last)'
}
