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
