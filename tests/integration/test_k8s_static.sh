#!/usr/bin/env bash
# Static checks of the Kubernetes deployment, no cluster: helm lint --strict; helm template with default values, a
# values file that scales every service (and turns on every optional object) and a KEDA one; kubectl kustomize of
# deploy/k8s and its test overlay; every object validated strictly (kubeconform, unknown kinds rejected, CRDs from
# the KEDA and prometheus-operator modules; kubernetes-validate) against Kubernetes 1.30 and the newest schemas;
# bad values rejected by values.schema.json or the templates (among them every writer setting that would keep the
# writer from starting); every variable the chart sets is an option of its service, and the writer started with the
# rendered limits reads them and computes the chart's MAX_MEMORY; rendered objects asserted
# (tests/integration/k8s_assert.py); the alert rules checked and unit-tested by promtool; the kustomize base up to
# date with the chart.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/k8s_lib.sh"
lib_init k8s_static

CHART=deploy/helm/rsvp-pipeline
VERSIONS=(1.30.0 1.37.0) # oldest supported, newest schemas kubernetes-validate ships
SCHEMAS=$K8S_CACHE/kc-schemas
T=$TEST_DIR

k8s_tools || fail "could not install helm, kubeconform or kubernetes-validate"
keda=$(k8s_mod_dir "$KEDA_MODULE") && prom=$(k8s_mod_dir "$PROM_OPERATOR_MODULE") && cm=$(k8s_mod_dir "$CERT_MANAGER_MODULE") ||
	fail "go mod download of the CRD modules failed"
"$VENV/bin/python" tests/integration/k8s_schemas.py "$SCHEMAS" "${VERSIONS[@]}" -- \
	"$keda/config/crd/bases/keda.sh_scaledobjects.yaml" \
	"$prom/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
	"$prom/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" \
	"$cm/deploy/crds/crd-certificates.yaml" "$cm/deploy/crds/crd-issuers.yaml" || fail "schema conversion failed"

# 1. lint
for v in "" "$CHART/ci/scaled-values.yaml" "$CHART/ci/keda-values.yaml"; do
	helm lint --strict "$CHART" --kube-version "${VERSIONS[0]}" --set source.replay.enabled=true ${v:+-f "$v"} >"$T/lint.log" 2>&1 ||
		{ cat "$T/lint.log"; fail "helm lint --strict ${v:-(default values)}"; }
done

# 2. render: chart (default, scaled, keda) and kustomize (base, test overlay)
# the defaults name no stream source: refused at once, saying what to set
helm template rel "$CHART" --kube-version "${VERSIONS[0]}" >/dev/null 2>"$T/nosource.log" && fail "default values without a source accepted"
grep -q "set source.replay.enabled=true (the demo stream) or ingestor.sourceUrl" "$T/nosource.log" ||
	{ cat "$T/nosource.log"; fail "no source: the error does not say what to set"; }
DEMO=(--set source.replay.enabled=true) # default-with-demo: the chart README's first install
for kv in "${VERSIONS[@]}"; do
	helm template rel "$CHART" --kube-version "$kv" "${DEMO[@]}" >"$T/default-$kv.yaml" || fail "helm template default ($kv)"
	helm template rel "$CHART" --kube-version "$kv" -f "$CHART/ci/scaled-values.yaml" >"$T/scaled-$kv.yaml" || fail "helm template scaled ($kv)"
	helm template rel "$CHART" --kube-version "$kv" -f "$CHART/ci/keda-values.yaml" >"$T/keda-$kv.yaml" || fail "helm template keda ($kv)"
done
kubectl kustomize deploy/k8s >"$T/kustomize.yaml" || fail "kubectl kustomize deploy/k8s"
kubectl kustomize deploy/k8s/overlays/test >"$T/kustomize-test.yaml" || fail "kubectl kustomize deploy/k8s/overlays/test"
deploy/k8s/generate.sh --check || fail "deploy/k8s/base is stale: run deploy/k8s/generate.sh"

# 3. strict schema validation of every object, per Kubernetes version
for kv in "${VERSIONS[@]}"; do
	files=("$T/default-$kv.yaml" "$T/scaled-$kv.yaml" "$T/keda-$kv.yaml" "$T/kustomize.yaml" "$T/kustomize-test.yaml")
	kubeconform -strict -summary -kubernetes-version "$kv" \
		-schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
		-schema-location "$SCHEMAS/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
		"${files[@]}" >"$T/kubeconform-$kv.log" 2>&1 || { cat "$T/kubeconform-$kv.log"; fail "kubeconform $kv"; }
	"$VENV/bin/kubernetes-validate" --strict --quiet -k "$kv" "${files[@]}" >"$T/kv-$kv.log" 2>&1 ||
		{ cat "$T/kv-$kv.log"; fail "kubernetes-validate $kv"; }
	echo "  kubeconform $kv: $(tail -n 1 "$T/kubeconform-$kv.log")"
done

# 4. bad values are rejected by values.schema.json
bad=(
	"parser: {replicas: -1}"                   # negative replicas
	"parser: {replicaz: 2}"                    # unknown key
	"unknownTopLevel: true"                    # unknown top-level key
	"ingestor: {replicas: 2}"                  # one replica per source
	"aggregator: {triggerInterval: often}"     # not a duration
	"topics: {rawPartitions: 0}"               # no partitions
	"writer: {port: 70000}"                    # not a port
	"image: {pullPolicy: Sometimes}"           # not a pull policy
	"postgres: {url: mysql://x}"               # not a PostgreSQL URL
	"kafka: {bootstrapServers: ''}"            # empty bootstrap
	"parser: {pdb: {enabled: true, maxUnavailable: 0}}"   # a budget that forbids every disruption
	"writer: {pdb: {enabled: true, maxUnavailable: 0%}}"  # the same as a percentage
	"writerTls: {enabled: true, source: existingSecret}"  # existing Secrets without their names
	"image: {digest: latest}"                  # not a digest
	"writer: {maxRequestMiB: 2048}"            # above the writer's MAX_REQUEST_BYTES range (1G): it would not start
)
for b in "${bad[@]}"; do
	printf '%s\n' "$b" >"$T/bad.yaml"
	if helm template rel "$CHART" --kube-version "${VERSIONS[0]}" "${DEMO[@]}" -f "$T/bad.yaml" >/dev/null 2>"$T/bad.log"; then
		fail "bad values accepted: $b"
	fi
	grep -q "values don't meet the specifications" "$T/bad.log" || { cat "$T/bad.log"; fail "bad values rejected for another reason: $b"; }
done
# ... and these by the templates, with a message that says what is wrong
refused=(
	"parser: {resources: {requests: {cpu: 1, memory: 64Mi}, limits: {memory: 200Mi}}}|parser.resources.limits.memory 200Mi is below the 224Mi its queues need"
	"aggregator: {writerUrl: 'tcp://w:7400'}|with writerTls.enabled every writer address must be tls+tcp://"
	"writer: {workers: 8, resources: {requests: {cpu: 1, memory: 64Mi}, limits: {memory: 256Mi}}}|writer.resources.limits.memory 256Mi is below the 418Mi its queues need"
	"writer: {maxConnections: 100000, maxRequestMiB: 1024}|give a MAX_MEMORY of 102502098Mi, above the 1Ti the writer accepts"
	"aggregator: {maxBatchMiB: 8}|aggregator.maxBatchMiB 8 must be below writer.maxRequestMiB 8"
	"writer: {env: {MAX_CONNECTIONS: '100'}}|writer.env sets MAX_CONNECTIONS, which the chart sets"
	"writer: {extraEnv: [{name: MAX_MEMORY, value: 1G}]}|writer.extraEnv sets MAX_MEMORY, which the chart sets"
	"aggregator: {env: {MAX_BATCH_BYTES: 64M}}|aggregator.env sets MAX_BATCH_BYTES, which the chart sets"
)
for r in "${refused[@]}"; do
	printf '%s\n' "${r%%|*}" >"$T/bad.yaml"
	if helm template rel "$CHART" --kube-version "${VERSIONS[0]}" "${DEMO[@]}" -f "$T/bad.yaml" >/dev/null 2>"$T/bad.log"; then
		fail "bad values accepted: ${r%%|*}"
	fi
	msg=${r#*|}
	grep -qF "$msg" "$T/bad.log" || { cat "$T/bad.log"; fail "bad values ${r%%|*}: the error does not say '$msg'"; }
done
# the memory limit follows from the queues when it is not set: a bigger fetch queue gives a bigger limit
helm template rel "$CHART" --kube-version "${VERSIONS[0]}" "${DEMO[@]}" --set parser.fetchQueueKbytes=262144 >"$T/bigq.yaml" ||
	fail "helm template with a 256 MiB parser fetch queue"
[[ $("$VENV/bin/python" -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "StatefulSet" and d["metadata"]["name"].endswith("-parser"):
        print(d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"])' "$T/bigq.yaml") == 608Mi ]] ||
	fail "parser memory limit with a 256 MiB fetch queue is not 64 + 2 x 256 + 32 = 608Mi"

# the settings are the services' own: every variable the chart sets is an option of its binary, and the writer,
# started with the limits rendered from the defaults, the smallest and largest values the schema allows and two in
# between, reads each one, computes the worst case the chart computed (MAX_MEMORY, exactly) and gets 64Mi over it
need_bin rsvp-ingestor rsvp-parser rsvp-aggregator rsvp-writer rsvp-replay
limits=(
	""
	"writer: {workers: 1, maxConnections: 1, maxRequestMiB: 2, maxDecodeMiB: 1}|aggregator: {maxBatchMiB: 1}"
	"writer: {workers: 8, maxConnections: 40, maxRequestMiB: 64, maxDecodeMiB: 256}|aggregator: {maxBatchMiB: 32}"
	"writer: {workers: 4, maxConnections: 3}|aggregator: {maxBatchMiB: 7}"
	"writer: {workers: 64, maxConnections: 200, maxRequestMiB: 1024, maxDecodeMiB: 4096}|aggregator: {maxBatchMiB: 1023}"
)
for l in "${limits[@]}"; do
	printf '%s\n' "${l%%|*}" "${l#*|}" >"$T/limits.yaml"
	helm template rel "$CHART" --kube-version "${VERSIONS[1]}" "${DEMO[@]}" -f "$T/limits.yaml" >"$T/limits-render.yaml" ||
		fail "helm template with ${l:-the defaults}"
	"$VENV/bin/python" tests/integration/k8s_assert.py options "$T/limits-render.yaml" "$BIN" || fail "an option the services do not know (${l:-defaults})"
	"$VENV/bin/python" tests/integration/k8s_assert.py writer "$T/limits-render.yaml" "$BIN" "$T" || fail "the writer with ${l:-the defaults}"
done

# 5. what matters in the rendered objects
A="$VENV/bin/python tests/integration/k8s_assert.py"
kv=${VERSIONS[1]}
for f in "$T/default-$kv.yaml" "$T/scaled-$kv.yaml" "$T/keda-$kv.yaml" "$T/kustomize.yaml" "$T/kustomize-test.yaml"; do
	$A workloads "$f" || fail "rendered workloads in $(basename "$f")"
done
$A hpa "$T/scaled-$kv.yaml" 6 6 || fail "HPAs in the scaled render"
$A keda "$T/keda-$kv.yaml" 8 4 8 10 || fail "KEDA ScaledObjects"
$A rules "$T/scaled-$kv.yaml" deploy/prometheus/rsvp-alerts.yml || fail "PrometheusRule"
! grep -q 'kind: HorizontalPodAutoscaler' "$T/default-$kv.yaml" || fail "HPA rendered with autoscaling off"

# 6. alert rules and dashboard
cmp -s deploy/prometheus/rsvp-alerts.yml "$CHART/files/rsvp-alerts.yml" || fail "chart files/rsvp-alerts.yml differs from deploy/prometheus/rsvp-alerts.yml"
promtool check rules deploy/prometheus/rsvp-alerts.yml >"$T/promtool.log" 2>&1 || { cat "$T/promtool.log"; fail "promtool check rules"; }
(cd deploy/prometheus && promtool test rules rsvp-alerts.test.yml) >"$T/promtool-test.log" 2>&1 ||
	{ cat "$T/promtool-test.log"; fail "promtool test rules"; }
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["panels"] and all(p["targets"] for p in d["panels"])' \
	"$CHART/files/rsvp-pipeline-dashboard.json" || fail "Grafana dashboard JSON"

pass
