"""Assertions on rendered Kubernetes objects (used by test_k8s_static.sh). Prints every failure, exits 1 if any.

usage: python k8s_assert.py workloads RENDERED.yaml               probes, non-root, read-only root, resources,
                                                                   static membership env on the aggregator, the
                                                                   parser a StatefulSet (its pod name is its
                                                                   transactional id), every $(VAR) defined before
                                                                   its use, PDBs that allow disruptions, mutual TLS
                                                                   on the writer link, its NetworkPolicy
       python k8s_assert.py hpa RENDERED.yaml RAW_PARTS PARSED_PARTS   one HPA per scalable service, capped
       python k8s_assert.py keda RENDERED.yaml RAW_PARTS PARSED_PARTS PARSER_MAX AGG_MAX   ScaledObjects, capped
       python k8s_assert.py rules RENDERED.yaml RULES.yml          the PrometheusRule spec equals the plain file
"""
import re
import sys

import yaml

SERVICES = {"ingestor": "Deployment", "parser": "StatefulSet", "aggregator": "StatefulSet", "writer": "Deployment"}
errors = []


def check(ok, msg):
    if not ok:
        errors.append(msg)


def load(path):
    return [d for d in yaml.safe_load_all(open(path)) if d]


def component(obj):
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component", "")


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def env_refs_defined(where, container):
    """$(VAR) expands only to a variable defined earlier in the list (a strategic-merge patch moves the variables it
    patches to the front: a reference that lands before its target stays literal)."""
    seen = set()
    for e in container.get("env", []):
        for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", e.get("value", "")):
            check(ref in seen, f"{where}: {e['name']} refers to $({ref}) before it is defined")
        seen.add(e["name"])


def workloads(docs):
    seen = {}
    tls = {}
    for o in docs:
        if o["kind"] not in ("Deployment", "StatefulSet"):
            continue
        name, c = o["metadata"]["name"], component(o)
        seen[c] = o["kind"]
        pod = o["spec"]["template"]["spec"]
        psc = pod.get("securityContext", {})
        check(psc.get("runAsNonRoot") is True, f"{name}: pod securityContext.runAsNonRoot is not true")
        check(psc.get("runAsUser", 0) != 0, f"{name}: runs as uid 0")
        check(pod.get("enableServiceLinks") is False, f"{name}: enableServiceLinks must be false (KAFKA_* env)")
        for ct in pod["containers"]:
            where = f"{name}/{ct['name']}"
            sc = ct.get("securityContext", {})
            check(sc.get("readOnlyRootFilesystem") is True, f"{where}: root filesystem not read-only")
            check(sc.get("allowPrivilegeEscalation") is False, f"{where}: privilege escalation allowed")
            check("ALL" in sc.get("capabilities", {}).get("drop", []), f"{where}: capabilities not dropped")
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                p = ct.get(probe, {}).get("httpGet", {})
                check(p.get("path") == path, f"{where}: {probe} is not httpGet {path}")
                check(p.get("port") in [x.get("name") for x in ct.get("ports", [])] + [x.get("containerPort") for x in ct.get("ports", [])],
                      f"{where}: {probe} port is not a container port")
            res = ct.get("resources", {})
            for k in ("cpu", "memory"):
                check(k in res.get("requests", {}), f"{where}: no {k} request")
            check("memory" in res.get("limits", {}), f"{where}: no memory limit")
            env = env_of(ct)
            env_refs_defined(where, ct)
            check(env.get("POD_IP", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "status.podIP",
                  f"{where}: POD_IP is not from status.podIP")
            check(env.get("METRICS_ADDR", {}).get("value", "").startswith("$(POD_IP):"), f"{where}: METRICS_ADDR does not bind the pod IP")
            check(ct.get("command", [""])[0] == f"rsvp-{c}", f"{where}: command is not rsvp-{c}")
            if c == "aggregator":
                check(env.get("STATIC_MEMBERSHIP", {}).get("value") == "true", f"{where}: STATIC_MEMBERSHIP is not true")
                check(env.get("INSTANCE_ID", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
                      f"{where}: INSTANCE_ID is not the pod name")
            if c == "parser":
                check(env.get("STATIC_MEMBERSHIP", {}).get("value") == "true", f"{where}: STATIC_MEMBERSHIP is not true")
                check(env.get("INSTANCE_ID", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
                      f"{where}: INSTANCE_ID (the transactional id's suffix) is not the pod name")
            if c in ("writer", "aggregator"):
                mounts = {m["name"]: m["mountPath"] for m in ct.get("volumeMounts", [])}
                vols = {v["name"]: v for v in pod.get("volumes", [])}
                tls[c] = (env.get("TLS_CA", {}).get("value", "").startswith(mounts.get("tls", "-")) and
                          env.get("TLS_CERT", {}).get("value", "").startswith(mounts.get("tls", "-")) and
                          env.get("TLS_KEY", {}).get("value", "").startswith(mounts.get("tls", "-")) and
                          "secretName" in vols.get("tls", {}).get("secret", {}))
            if c == "aggregator":
                check(all(u.startswith("tls+tcp://") for u in env.get("WRITER_URL", {}).get("value", "").split(",")),
                      f"{where}: WRITER_URL is not tls+tcp:// everywhere")
                check(env.get("TLS_SERVER_NAME", {}).get("value", "").endswith("-writer"), f"{where}: TLS_SERVER_NAME is not the writer Service")
            if c == "writer":
                check(env.get("LISTEN", {}).get("value", "").startswith("tls+tcp://$(POD_IP):"), f"{where}: LISTEN is not tls+tcp:// on the pod IP")
                check("secretKeyRef" in env.get("PG_URL", {}).get("valueFrom", {}), f"{where}: PG_URL is not from a Secret")
    for c, kind in SERVICES.items():
        check(seen.get(c) == kind, f"no {kind} for {c} (found {seen.get(c)})")
    check(seen.get("ingestor") and all(o["spec"].get("replicas", 1) <= 1 for o in docs
                                       if o["kind"] == "Deployment" and component(o) == "ingestor"), "ingestor replicas > 1")
    for c in ("writer", "aggregator"):
        check(tls.get(c), f"{c}: no mutual TLS (TLS_CA, TLS_CERT, TLS_KEY from a mounted Secret)")
    pdbs = {component(o): o for o in docs if o["kind"] == "PodDisruptionBudget"}
    for c in ("parser", "aggregator", "writer"):
        check(c in pdbs, f"no PodDisruptionBudget for {c}")
    for c, o in pdbs.items():
        spec = o["spec"]
        check("minAvailable" not in spec and spec.get("maxUnavailable") not in (0, "0%"),
              f"PDB {c}: may forbid every disruption ({spec})")
        check(spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow", f"PDB {c}: unready pods may not be evicted")
    nps = [o for o in docs if o["kind"] == "NetworkPolicy"]
    writer_np = [o for o in nps if component(o) == "writer"]
    check(len(writer_np) == 1, f"{len(writer_np)} NetworkPolicies for the writer, want 1")
    for o in writer_np:
        rules = o["spec"]["ingress"]
        check(len(rules) == 1 and [p["podSelector"]["matchLabels"].get("app.kubernetes.io/component") for p in rules[0]["from"]] == ["aggregator"],
              "writer NetworkPolicy: the nng port is open to more than the aggregator pods")
    metrics_np = [o for o in nps if o["metadata"]["name"].endswith("-metrics")]
    check(len(metrics_np) == 1 and all(p.get("port") == "metrics" for r in metrics_np[0]["spec"]["ingress"] for p in r["ports"]),
          "no NetworkPolicy limiting who reaches the metrics ports")


def hpa(docs, raw, parsed):
    caps = {"parser": raw, "aggregator": parsed}
    hpas = [o for o in docs if o["kind"] == "HorizontalPodAutoscaler"]
    by = {}
    for h in hpas:
        by.setdefault(h["spec"]["scaleTargetRef"]["name"].rsplit("-", 1)[-1], []).append(h)
    for c in ("parser", "aggregator"):
        hs = by.get(c, [])
        check(len(hs) == 1, f"{c}: {len(hs)} HorizontalPodAutoscalers, want 1")
        for h in hs:
            check(h["spec"]["scaleTargetRef"]["kind"] == SERVICES[c], f"{c}: HPA targets {h['spec']['scaleTargetRef']['kind']}")
            check(h["spec"]["maxReplicas"] <= caps[c], f"{c}: HPA maxReplicas {h['spec']['maxReplicas']} > partitions {caps[c]}")
    check(set(by) <= {"parser", "aggregator"}, f"HPAs for services that must not autoscale: {sorted(set(by) - {'parser', 'aggregator'})}")
    for o in docs:
        if o["kind"] in ("Deployment", "StatefulSet") and component(o) in by:
            check("replicas" not in o["spec"], f"{o['metadata']['name']}: replicas set although an HPA owns them")


def keda(docs, raw, parsed, pmax, amax):
    sos = {o["spec"]["scaleTargetRef"]["name"].rsplit("-", 1)[-1]: o for o in docs if o["kind"] == "ScaledObject"}
    check(set(sos) == {"parser", "aggregator"}, f"ScaledObjects for {sorted(sos)}, want aggregator and parser")
    check(not [o for o in docs if o["kind"] == "HorizontalPodAutoscaler"], "HPAs rendered although KEDA owns scaling")
    for c, parts, mx in (("parser", raw, pmax), ("aggregator", parsed, amax)):
        so = sos.get(c)
        if not so:
            continue
        want = min(mx, parts)
        check(so["spec"]["maxReplicaCount"] == want, f"{c}: maxReplicaCount {so['spec']['maxReplicaCount']}, want {want} (partitions {parts})")
        trig = so["spec"]["triggers"][0]
        check(trig["type"] == "kafka" and trig["metadata"].get("allowIdleConsumers") == "false", f"{c}: not a capped kafka trigger")
        check(so["spec"]["scaleTargetRef"]["kind"] == SERVICES[c], f"{c}: ScaledObject targets the wrong kind")


def rules(docs, path):
    prs = [o for o in docs if o["kind"] == "PrometheusRule"]
    check(len(prs) == 1, f"{len(prs)} PrometheusRules, want 1")
    if prs:
        check(prs[0]["spec"] == yaml.safe_load(open(path)), f"PrometheusRule spec differs from {path}")


def main(argv):
    mode, docs = argv[1], load(argv[2])
    nums = [int(x) for x in argv[3:] if x.isdigit()]
    if mode == "workloads":
        workloads(docs)
    elif mode == "hpa":
        hpa(docs, *nums)
    elif mode == "keda":
        keda(docs, *nums)
    elif mode == "rules":
        rules(docs, argv[3])
    else:
        sys.exit(f"unknown mode {mode}")
    for e in errors:
        print(f"  {argv[2]}: {e}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main(sys.argv)
