#!/bin/bash
# A real multi-node Kubernetes on this machine for tests: etcd + kube-apiserver + controller-manager + scheduler
# and NODES kubelets (default 3: k8s-node at 127.0.0.1, k8s-node-2 at .2, k8s-node-3 at .3), each with its own
# Debian containerd and cgroup root; host network only (a MutatingAdmissionPolicy sets hostNetwork on every Pod).
# usage: tools/k8s-node.sh build | start | stop | load IMAGE... (docker image -> every node) | env
# Binaries are cached outside the clone in ${RSVP_CACHE:-/var/cache/rsvp-pipeline}/k8s/bin (built with Go only
# when missing); cluster state lives in var/k8s (git-ignored). How it works: docs/test-cluster.md.
# needs: root, cgroup v1; Go >= 1.26 + module proxy (build only); apt packages installed on first use.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
K8S_VERSION=${K8S_VERSION:-1.37.2}
CACHE=${RSVP_CACHE:-/var/cache/rsvp-pipeline}
K=$ROOT/var/k8s; RUN=$K/run; LOG=$K/log
BIN=$CACHE/k8s/bin
API_PORT=${API_PORT:-26443}; ETCD_PORT=${ETCD_PORT:-24790}; NODE=${NODE:-k8s-node}
NODES=${NODES:-3}
export KUBECONFIG=$RUN/kubeconfig
export PATH=$BIN:$PATH
CTR="ctr -a $RUN/containerd.sock -n k8s.io"

# bg NAME CMD...: a daemon in its own session, logging to $LOG/NAME.log, holding none of the caller's other file
# descriptors (a caller's lock, e.g. `flock FILE test...`, must not live on in the cluster it starts)
bg() { local n=$1; shift
  ( for fd in /proc/self/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"; done; exec setsid "$@" ) \
    >"$LOG/$n.log" 2>&1 </dev/null & echo $! >"$RUN/$n.pid"; }
waitfor() { for _ in $(seq 1 300); do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "timeout: $1" >&2; return 1; }
stop_pid() { local f=$RUN/$1.pid; [ -f "$f" ] || return 0; local p; p=$(cat "$f"); rm -f "$f"
  kill "$p" 2>/dev/null || return 0; for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done; kill -9 "$p" 2>/dev/null || true; }

deps() {   # Debian packages, once (idempotent; no network when all are present)
  local p missing=()
  for p in etcd-server containerd runc containernetworking-plugins docker.io gcc libc6-dev openssl curl; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -x installed >/dev/null || missing+=("$p"); done
  [ ${#missing[@]} = 0 ] && return 0
  echo "k8s-node: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

build() {   # ~7 min cold on 2 cores, 2.9 GB RAM, 3.8 GB Go build cache; ~40 s with a warm build cache
  deps
  local cmds="kube-apiserver kube-controller-manager kube-scheduler kubelet" minor have=1
  command -v kubectl >/dev/null || cmds="$cmds kubectl"
  for c in $cmds; do [ -x "$BIN/$c" ] || have=0; done
  [ $have = 1 ] && [ "$(cat "$BIN/.version" 2>/dev/null || echo "$K8S_VERSION")" = "$K8S_VERSION" ] && return 0
  command -v go >/dev/null || { echo "k8s-node: Go >= 1.26 is needed to build Kubernetes $K8S_VERSION" >&2; return 1; }
  mkdir -p "$CACHE/k8s/src" "$BIN"; cd "$CACHE/k8s/src"; minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  local mod; mod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  { echo "module k8snode"; echo; grep -E '^go [0-9]' "$mod"; echo "require k8s.io/kubernetes v$K8S_VERSION"; echo "replace ("
    grep '=> ./staging/src/' "$mod" | awk -v v="v0.$minor.${K8S_VERSION##*.}" '{print "\t" $1 " => " $1 " " v}'; echo ")"; } >go.mod
  { echo "//go:build tools"; echo "package tools"; echo "import ("; for c in $cmds; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done; echo ")"; } >tools.go
  go mod tidy
  local v=k8s.io/component-base/version
  go build -o "$BIN/" -ldflags "-s -w -X $v.gitVersion=v$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
    $(for c in $cmds; do echo "k8s.io/kubernetes/cmd/$c"; done)
  echo "$K8S_VERSION" >"$BIN/.version"
}

# Add-ons built like the control plane (from the Go module proxy, binaries cached in $ADDONS, outside the clone):
# metrics-server (HPA on CPU) and KEDA's operator and metrics adapter (scaling on Kafka lag). KEDA 2.21.1 asks
# for Go >= 1.27.4 while the newest Go the module proxy serves here as an approved toolchain is 1.27.3: the copy of
# its source built here says `go 1.27.3` (a patch release apart: no language change), built with
# GOTOOLCHAIN=go1.27.3. Cold: metrics-server ~2 min, KEDA ~15-25 min on 2 busy cores; warm: nothing.
METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-0.8.0}
KEDA_VERSION=${KEDA_VERSION:-2.21.1}
KEDA_GO=${KEDA_GO:-go1.27.3}
ADDONS=$CACHE/addons
addon_src() {   # MODULE VERSION -> prints a writable copy of the module's source under $ADDONS/src
  local m=$1 v=$2 dst=$ADDONS/src/${1%/v[0-9]*} zip
  dst=$ADDONS/src/${dst##*/}-$v
  if [ ! -f "$dst/.done" ]; then
    zip=$(go mod download -json "$m@v$v" 2>/dev/null | sed -n 's/.*"Zip": "\(.*\)".*/\1/p')   # -json reports a Go
    [ -f "$zip" ] || { echo "k8s-node: cannot download $m@v$v" >&2; return 1; }           # too old, zip still there
    rm -rf "$dst" "$dst.tmp"; mkdir -p "$dst.tmp"; (cd "$dst.tmp" && unzip -q "$zip")
    mv "$dst.tmp/$m@v$v" "$dst"; rm -rf "$dst.tmp"; chmod -R u+w "$dst"; touch "$dst/.done"
  fi
  echo "$dst"
}
build_addons() {   # [metrics-server|keda|all]
  local src want=${1:-all}
  mkdir -p "$ADDONS/bin"
  if [ "$want" != keda ] && [ "$(cat "$ADDONS/bin/.metrics-server" 2>/dev/null)" != "$METRICS_SERVER_VERSION" ]; then
    src=$(addon_src sigs.k8s.io/metrics-server "$METRICS_SERVER_VERSION")
    (cd "$src" && go build -o "$ADDONS/bin/metrics-server" -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=v$METRICS_SERVER_VERSION" ./cmd/metrics-server)
    echo "$METRICS_SERVER_VERSION" >"$ADDONS/bin/.metrics-server"
  fi
  if [ "$want" != metrics-server ] && [ "$(cat "$ADDONS/bin/.keda" 2>/dev/null)" != "$KEDA_VERSION" ]; then
    src=$(addon_src github.com/kedacore/keda/v2 "$KEDA_VERSION")
    sed -i -E "s/^go [0-9.]+$/go ${KEDA_GO#go}/; /^toolchain /d" "$src/go.mod"
    local l="-s -w -X=github.com/kedacore/keda/v2/version.Version=$KEDA_VERSION -X=github.com/kedacore/keda/v2/version.GitCommit=v$KEDA_VERSION"
    (cd "$src" && export GOTOOLCHAIN=$KEDA_GO &&
      go build -o "$ADDONS/bin/keda-operator" -ldflags "$l" ./cmd/operator &&
      go build -o "$ADDONS/bin/keda-adapter" -ldflags "$l" ./cmd/adapter)
    echo "$KEDA_VERSION" >"$ADDONS/bin/.keda"
  fi
}

pki() {
  mkdir -p "$K/pki"; cd "$K/pki"; [ -f sa.key ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj /CN=local-k8s-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj /CN=kube-apiserver 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >ext.cnf
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile ext.cnf 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  echo 'dev-admin-token,admin,admin,"system:masters"' >tokens.csv
}

# signed_cert DIR NAME CN SAN EKU: DIR/NAME.{key,crt} signed by the cluster CA (idempotent)
signed_cert() {
  [ -f "$1/$2.crt" ] && return 0
  mkdir -p "$1"
  openssl req -newkey rsa:2048 -nodes -keyout "$1/$2.key" -out "$1/$2.csr" -subj "/CN=$3" 2>/dev/null
  printf '%s\nextendedKeyUsage=%s\n' "${4:+subjectAltName=$4}" "$5" >"$1/$2.ext"
  openssl x509 -req -in "$1/$2.csr" -CA "$K/pki/ca.crt" -CAkey "$K/pki/ca.key" -CAcreateserial -out "$1/$2.crt" -days 3650 \
    -extfile "$1/$2.ext" 2>/dev/null
  rm -f "$1/$2.csr" "$1/$2.ext"
}

# The aggregation layer (metrics-server, KEDA's adapter): the apiserver's client certificate for proxied requests
# and the CA the add-ons check it against (published in kube-system/extension-apiserver-authentication).
front_proxy_pki() {
  signed_cert "$K/pki" front-proxy-client front-proxy-client "" clientAuth
  # KEDA's operator <-> adapter gRPC link (mutual TLS) and the adapter's serving certificate
  signed_cert "$K/pki/keda" tls localhost "IP:127.0.0.1,DNS:localhost" serverAuth,clientAuth
  cp "$K/pki/ca.crt" "$K/pki/keda/ca.crt"
}

configs() {
  mkdir -p "$K/cni/net.d" "$K/cni/bin" "$K/kubelet" "$K/pod-logs"
  # a CNI config must exist or containerd reports NetworkReady=false (node NotReady); loopback is
  # only run for non-hostNetwork pods, which then fail cleanly ("failed to find network info").
  echo '{"cniVersion":"0.4.0","name":"host-only","plugins":[{"type":"loopback"}]}' >"$K/cni/net.d/10-host-only.conflist"
  cp "$(dpkg -L containernetworking-plugins | grep '/loopback$')" "$K/cni/bin/"
  cat >"$RUN/containerd.toml" <<EOC
version = 2
root = "$K/containerd/lib"
state = "$K/containerd/state"
[grpc]
  address = "$RUN/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$K/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/local/pause:1"
  restrict_oom_score_adj = true   # no CAP_SYS_RESOURCE: runc cannot set oom_score_adj < 0
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$K/cni/bin"
    conf_dir = "$K/cni/net.d"
EOC
  cat >"$RUN/kubelet-config.yaml" <<EOC
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$RUN/containerd.sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podLogsDir: $K/pod-logs
serializeImagePulls: false
enforceNodeAllocatable: []
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOC
  kubectl config set-cluster local --server="https://127.0.0.1:$API_PORT" --certificate-authority="$K/pki/ca.crt" --embed-certs >/dev/null
  kubectl config set-credentials admin --token=dev-admin-token >/dev/null
  kubectl config set-context local --cluster=local --user=admin --namespace=default >/dev/null
  kubectl config use-context local >/dev/null
}

pause_image() {  # sandbox image: static C program that waits for signals, FROM scratch (needs DOCKER_HOST once)
  $CTR images ls -q | grep -x docker.io/local/pause:1 >/dev/null && return 0
  local d=$K/pause; mkdir -p "$d"
  cat >"$d/pause.c" <<'EOC'
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void term(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) { signal(SIGINT, term); signal(SIGTERM, term); signal(SIGCHLD, reap); for (;;) pause(); }
EOC
  gcc -static -Os -s -o "$d/pause" "$d/pause.c"
  printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >"$d/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t local/pause:1 "$d" >/dev/null
  load local/pause:1
}

load() { docker save "$@" >"$K/load.tar"; for s in "$RUN/containerd.sock" "$RUN"/node*/containerd.sock; do
  [ -S "$s" ] && ctr -a "$s" -n k8s.io images import "$K/load.tar" >/dev/null; done; rm -f "$K/load.tar"; }

# extra node $1 (2..254) = $NODE-$1 at 127.0.0.$1: own containerd, kubelet and cgroup root (shared: pods get killed)
node_up() {
  local i=$1 n=$K/node$1 r=$RUN/node$1 name=$NODE-$1 ip=127.0.0.$1
  mkdir -p "$r" "$n/pod-logs"
  for d in /sys/fs/cgroup/*/; do mkdir -p "$d$name"; done   # cgroup v1: kubelet wants the root in every hierarchy
  sed -e "s|$K/containerd/|$n/containerd/|" -e "s|$RUN/containerd.sock|$r/containerd.sock|" "$RUN/containerd.toml" >"$r/containerd.toml"
  sed -e "s|127.0.0.1|$ip|" -e "s|$RUN/containerd.sock|$r/containerd.sock|" -e "s|$K/pod-logs|$n/pod-logs|" \
    "$RUN/kubelet-config.yaml" >"$r/kubelet-config.yaml"; echo "cgroupRoot: /$name" >>"$r/kubelet-config.yaml"
  bg containerd-$i containerd --config "$r/containerd.toml"
  waitfor "ctr -a $r/containerd.sock version"
  ctr -a "$r/containerd.sock" -n k8s.io images ls -q | grep -x docker.io/local/pause:1 >/dev/null ||
    $CTR images export - docker.io/local/pause:1 | ctr -a "$r/containerd.sock" -n k8s.io images import - >/dev/null
  bg kubelet-$i "$BIN/kubelet" --config="$r/kubelet-config.yaml" --kubeconfig="$KUBECONFIG" --root-dir="$n/kubelet" \
    --cert-dir="$n/kubelet/pki" --hostname-override="$name" --cloud-provider=external
  waitfor "kubectl get node $name"
  kubectl patch node "$name" --subresource=status --type=merge \
    -p '{"status":{"addresses":[{"type":"InternalIP","address":"'"$ip"'"},{"type":"Hostname","address":"'"$name"'"}]}}' >/dev/null
  kubectl taint node "$name" node.cloudprovider.kubernetes.io/uninitialized- >/dev/null
  waitfor "kubectl wait --for=condition=Ready node/$name --timeout=1s"
}

kill_pods() {   # $1: containerd socket
  local c="ctr -a $1 -n k8s.io" t
  for t in $($c tasks ls -q 2>/dev/null); do $c tasks kill -s SIGKILL "$t" || true; done; sleep 1
  for t in $($c tasks ls -q 2>/dev/null); do $c tasks rm -f "$t" >/dev/null || true; done
  for t in $($c containers ls -q 2>/dev/null); do $c containers rm "$t" || true; done
}

start() {
  build
  mkdir -p "$RUN" "$LOG"; pki; front_proxy_pki; configs
  [ -f "$RUN/sysctl.orig" ] || for s in vm.overcommit_memory kernel.panic kernel.panic_on_oops; do   # kubelet rewrites these
    echo "$s=$(sysctl -n $s)"; done >"$RUN/sysctl.orig"
  bg containerd containerd --config "$RUN/containerd.toml"
  bg etcd etcd --data-dir "$K/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT+10))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT+10))" --initial-cluster "default=http://127.0.0.1:$((ETCD_PORT+10))"
  waitfor "curl -sf http://127.0.0.1:$ETCD_PORT/health"
  bg apiserver "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 --secure-port="$API_PORT" --endpoint-reconciler-type=none \
    --tls-cert-file="$K/pki/apiserver.crt" --tls-private-key-file="$K/pki/apiserver.key" --client-ca-file="$K/pki/ca.crt" \
    --token-auth-file="$K/pki/tokens.csv" --authorization-mode=RBAC --allow-privileged=true \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$K/pki/sa.pub" --service-account-signing-key-file="$K/pki/sa.key" \
    --service-cluster-ip-range=198.18.0.0/24 --kubelet-preferred-address-types=InternalIP \
    --requestheader-client-ca-file="$K/pki/ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$K/pki/front-proxy-client.crt" --proxy-client-key-file="$K/pki/front-proxy-client.key"
  waitfor "$CTR version"; pause_image
  waitfor "kubectl get --raw /readyz"
  local c="--kubeconfig=$KUBECONFIG --authentication-kubeconfig=$KUBECONFIG --authorization-kubeconfig=$KUBECONFIG --leader-elect=false --bind-address=127.0.0.1 --secure-port=0"
  bg controller-manager "$BIN/kube-controller-manager" $c --service-account-private-key-file="$K/pki/sa.key" \
    --root-ca-file="$K/pki/ca.crt" --controllers='*,-kube-apiserver-serving-clustertrustbundle-publisher-controller'
  bg scheduler "$BIN/kube-scheduler" $c
  # --cloud-provider=external: kubelet refuses --node-ip=127.0.0.1 ("can't be loopback"), so register
  # without addresses and set InternalIP=127.0.0.1 ourselves (hostNetwork pod IP + probes use it).
  bg kubelet "$BIN/kubelet" --config="$RUN/kubelet-config.yaml" --kubeconfig="$KUBECONFIG" --root-dir="$K/kubelet" \
    --cert-dir="$K/kubelet/pki" --hostname-override="$NODE" --cloud-provider=external
  waitfor "kubectl get node $NODE"
  kubectl patch node "$NODE" --subresource=status --type=merge \
    -p '{"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"},{"type":"Hostname","address":"'"$NODE"'"}]}}' >/dev/null
  kubectl taint node "$NODE" node.cloudprovider.kubernetes.io/uninitialized- >/dev/null
  waitfor "kubectl wait --for=condition=Ready node/$NODE --timeout=1s"
  for i in $(seq 2 "$NODES"); do node_up "$i"; done
  waitfor "kubectl get sa default"
  # every Pod gets hostNetwork (+ hostPort = containerPort, required with it) and in-cluster API access via
  # 127.0.0.1 (no kube-proxy for the Service IP), so unmodified charts run
  local sel='(c, Object.spec.containers{name: c.name, env: [Object.spec.containers.env{name: "KUBERNETES_SERVICE_HOST", value: "127.0.0.1"}, Object.spec.containers.env{name: "KUBERNETES_SERVICE_PORT", value: "'$API_PORT'"}], ports: (has(c.ports) ? c.ports : []).map(p, Object.spec.containers.ports{containerPort: p.containerPort, protocol: p.protocol, hostPort: p.containerPort})})'
  [ "${FORCE_HOST_NETWORK:-1}" = 1 ] && kubectl apply -f - >/dev/null <<EOC
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: force-host-network}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"]}]
  failurePolicy: Fail
  reinvocationPolicy: Never
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: >
        Object{spec: Object.spec{hostNetwork: true, containers: object.spec.containers.map$sel,
          initContainers: (has(object.spec.initContainers) ? object.spec.initContainers : []).map${sel//Object.spec.containers/Object.spec.initContainers}}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: force-host-network}
spec: {policyName: force-host-network}
EOC
  [ "${FORCE_HOST_NETWORK:-1}" = 1 ] && waitfor '[ "$(kubectl run mapcheck --image=x --dry-run=server -o jsonpath={.spec.hostNetwork})" = true ]'
  echo "ready ($NODES node(s)): export KUBECONFIG=$KUBECONFIG"
}

# addons: metrics-server and KEDA (operator + metrics adapter) as processes on the host, like the control plane,
# on 127.0.0.1 (metrics-server 26444, KEDA adapter 26445, its gRPC link to the operator 26446, operator metrics and
# probes 26447/26448). The apiserver reaches the two aggregated APIs through ExternalName Services pointing at
# 127.0.0.1 (its service resolver dials the ExternalName: no kube-proxy needed). Idempotent; `stop` ends them.
MS_PORT=26444 KEDA_ADAPTER_PORT=26445 KEDA_GRPC_PORT=26446
running() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
# aggregated_api NAME GROUP PORT NAMESPACE: APIService v1beta1.GROUP -> ExternalName Service NAME (127.0.0.1:PORT)
aggregated_api() {
  kubectl apply -f - >/dev/null <<EOC
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: $4}
spec: {type: ExternalName, externalName: 127.0.0.1}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.$2}
spec:
  service: {name: $1, namespace: $4, port: $3}
  group: $2
  version: v1beta1
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
EOC
}
addons() {   # [metrics-server|keda|all]
  local want=${1:-all} kc="--kubeconfig=$KUBECONFIG --authentication-kubeconfig=$KUBECONFIG --authorization-kubeconfig=$KUBECONFIG"
  build_addons "$want"
  front_proxy_pki
  if [ "$want" != keda ]; then
    running metrics-server ||
      bg metrics-server "$ADDONS/bin/metrics-server" $kc --secure-port=$MS_PORT --bind-address=127.0.0.1 \
        --cert-dir="$K/metrics-server" --kubelet-insecure-tls --kubelet-preferred-address-types=InternalIP \
        --metric-resolution=10s --kubelet-request-timeout=5s
    aggregated_api metrics-server metrics.k8s.io $MS_PORT kube-system
    waitfor "kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes"
    echo "metrics-server $METRICS_SERVER_VERSION ready"
  fi
  if [ "$want" != metrics-server ]; then
    local keda_src; keda_src=$(addon_src github.com/kedacore/keda/v2 "$KEDA_VERSION")
    kubectl apply --server-side -f "$keda_src/config/crd/bases" >/dev/null
    kubectl create namespace keda --dry-run=client -o yaml | kubectl apply -f - >/dev/null
    running keda-operator ||
      bg keda-operator env POD_NAMESPACE=keda POD_NAME=keda-operator KEDA_CLUSTER_OBJECT_NAMESPACE=keda WATCH_NAMESPACE= \
        "$ADDONS/bin/keda-operator" --leader-elect=false --enable-cert-rotation=false --cert-dir="$K/pki/keda" \
        --metrics-bind-address=127.0.0.1:26447 --health-probe-bind-address=127.0.0.1:26448 \
        --metrics-service-bind-address=127.0.0.1:$KEDA_GRPC_PORT --ca-dir="$K/pki/keda" --zap-log-level=info
    running keda-adapter ||
      bg keda-adapter env POD_NAMESPACE=keda WATCH_NAMESPACE= KEDA_CLUSTER_OBJECT_NAMESPACE=keda "$ADDONS/bin/keda-adapter" $kc --lister-kubeconfig="$KUBECONFIG" \
        --secure-port=$KEDA_ADAPTER_PORT --bind-address=127.0.0.1 --cert-dir="$K/pki/keda" \
        --tls-cert-file="$K/pki/keda/tls.crt" --tls-private-key-file="$K/pki/keda/tls.key" \
        --metrics-service-address=127.0.0.1:$KEDA_GRPC_PORT --zap-log-level=info
    aggregated_api keda-metrics-apiserver external.metrics.k8s.io $KEDA_ADAPTER_PORT keda
    waitfor "kubectl get --raw /apis/external.metrics.k8s.io/v1beta1"
    echo "KEDA $KEDA_VERSION ready"
  fi
}

stop() {   # kills pods, unmounts, removes the kubepods cgroups, restores sysctls, wipes cluster state (keeps images, PKI)
  mkdir -p "$RUN"; for p in keda-adapter keda-operator metrics-server; do stop_pid $p & done; wait; for f in "$RUN"/kubelet*.pid; do [ -f "$f" ] && stop_pid "$(basename "$f" .pid)" & done; wait
  for f in "$RUN"/containerd*.pid; do [ -f "$f" ] || continue; local n; n=$(basename "$f" .pid)   # containerd, containerd-2..
    { kill_pods "$RUN/$([ "$n" = containerd ] || echo "node${n#containerd-}/")containerd.sock"; stop_pid "$n"; } & done; wait
  grep -o " $K/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l       # shm, projected tokens, rootfs
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/"$NODE"-*; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done; true
  for p in scheduler controller-manager apiserver; do stop_pid $p & done; wait; stop_pid etcd
  [ -f "$RUN/sysctl.orig" ] && sysctl -q -p "$RUN/sysctl.orig" && rm -f "$RUN/sysctl.orig"
  rm -rf "$K/etcd" "$K/kubelet" "$K/pod-logs" "$K/containerd/state" "$K"/node*/{kubelet,pod-logs,containerd/state}    # images (containerd/lib) are kept
}

case "${1:-}" in
  build) build ;; build-addons) shift; build_addons "$@" ;; addons) shift; addons "$@" ;; start) start ;; stop) stop ;; load) shift; load "$@" ;; env) echo "export KUBECONFIG=$KUBECONFIG" ;;
  *) echo "usage: $0 build|build-addons [WHICH]|start|addons [WHICH]|stop|load IMAGE...|env   (WHICH: metrics-server|keda|all)" >&2; exit 2 ;;
esac
