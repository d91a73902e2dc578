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
       python k8s_assert.py options RENDERED.yaml BINDIR           every variable the chart sets (no user env) is
                                                                   an option of the container's binary (--help)
       python k8s_assert.py writer RENDERED.yaml BINDIR WORKDIR    the writer started with the rendered limits
                                                                   (on ipc://, no database) reads each one, its
                                                                   worst case equals the chart's MAX_MEMORY and the
                                                                   memory limit is 64Mi over it
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

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
    tls_checksum(docs)
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


def help_env(bindir, binary):
    """The environment names of a binary's options, from its --help."""
    out = subprocess.run([os.path.join(bindir, binary), "--help"], capture_output=True, text=True, timeout=10).stdout
    names = set(re.findall(r"^\s+--\S+=<\w+>\s+([A-Z_][A-Z0-9_]*)\s", out, re.M))
    return names | ({"KAFKA_*"} if "environment KAFKA_FOO_BAR=v sets foo.bar=v" in out else set())


def options(docs, bindir):
    helps = {}
    for o in docs:
        if o["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for ct in o["spec"]["template"]["spec"]["containers"]:
            binary, where = ct["command"][0], f"{o['metadata']['name']}/{ct['name']}"
            known = helps.setdefault(binary, help_env(bindir, binary))
            check(known, f"{where}: no options in {binary} --help")
            env = ct.get("env", [])
            # helpers: POD_IP and the variables others refer to as $(NAME); KAFKA_* pass through
            # to librdkafka where --help says so
            helpers = {"POD_IP"} | {r for e in env for r in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", e.get("value", ""))}
            for e in env:
                if e["name"] not in helpers and not (e["name"].startswith("KAFKA_") and "KAFKA_*" in known):
                    check(e["name"] in known, f"{where}: {e['name']} is not an option of {binary}")


def size(s):
    m = re.fullmatch(r"(\d+)([KMGT]?)", s)
    return int(m[1]) << (10 * " KMGT".index(m[2] or " ")) if m else None


def mib(q):
    m = re.fullmatch(r"(\d+)(Mi|Gi|Ti)", q)
    return int(m[1]) << (10 * ["Mi", "Gi", "Ti"].index(m[2])) if m else None


def writer(docs, bindir, workdir):
    ws = [o for o in docs if o["kind"] == "Deployment" and component(o) == "writer"]
    check(len(ws) == 1, f"{len(ws)} writer Deployments, want 1")
    if not ws:
        return
    ct = ws[0]["spec"]["template"]["spec"]["containers"][0]
    env = {k: e.get("value") for k, e in env_of(ct).items()}
    names = {"WORKERS": "workers", "MAX_CONNECTIONS": "max-connections", "MAX_REQUEST_BYTES": "max-request-bytes",
             "MAX_DECODE_BYTES": "max-decode-bytes", "MAX_MEMORY": "max-memory"}
    want = {}
    for k in names:
        check(env.get(k) is not None, f"writer: the chart does not set {k}")
        want[k] = int(env[k]) if k in ("WORKERS", "MAX_CONNECTIONS") else size(env.get(k) or "")
        check(want[k] is not None, f"writer: {k}={env.get(k)!r} is not a size the test reads")
    if errors:
        return
    run = {k: env[k] for k in names} | {"LISTEN": f"ipc://{workdir}/writer.ipc", "METRICS_ADDR": "",
                                         "PG_URL": "postgresql://nobody@127.0.0.1:1/none", "PATH": os.environ["PATH"]}
    p = subprocess.Popen([os.path.join(bindir, "rsvp-writer")], env=run, stderr=subprocess.PIPE, text=True)
    up = config = None
    deadline = time.monotonic() + 20
    try:
        for line in p.stderr:  # up to its "config" line, or an error (it exits on a bad config)
            o = json.loads(line) if line.startswith("{") else {}
            up = o if o.get("msg") == "up" else up
            config = o if o.get("msg") == "config" else config
            check(o.get("level") != "error", f"writer with the chart's limits: {line.strip()}")
            if o.get("level") == "error" or config or time.monotonic() > deadline:
                break
    finally:
        if up:
            p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = "hung"
    check(up and config, f"writer with the chart's limits did not start: exit {rc}, {dict((k, env[k]) for k in names)}")
    check(not up or rc == 0, f"writer exited {rc} on SIGTERM")
    if not (up and config):
        return
    for k, opt in names.items():
        check(config.get(opt) == want[k], f"writer: {k}={env[k]} given, its config line says {opt}={config.get(opt)}")
    check(up.get("worst_case_request_memory") == want["MAX_MEMORY"],
          f"writer: its worst case {up.get('worst_case_request_memory')} is not the chart's MAX_MEMORY {want['MAX_MEMORY']}")
    limit = mib(ct["resources"]["limits"]["memory"])
    check(limit is not None and limit << 20 == want["MAX_MEMORY"] + (64 << 20),
          f"writer: memory limit {ct['resources']['limits']['memory']} is not 64Mi + MAX_MEMORY ({env['MAX_MEMORY']})")
    if not errors:
        print(f"  writer: WORKERS {env['WORKERS']}, MAX_CONNECTIONS {env['MAX_CONNECTIONS']}, MAX_REQUEST_BYTES "
              f"{env['MAX_REQUEST_BYTES']}, MAX_DECODE_BYTES {env['MAX_DECODE_BYTES']}: read, worst case "
              f"{up['worst_case_request_memory']} = MAX_MEMORY {env['MAX_MEMORY']}, limit {ct['resources']['limits']['memory']}")


def tls_checksum(docs):
    """The pods' checksum/writer-tls annotation is the checksum of the certificates in the Secrets of the same render
    (sha256 of the JSON of both Secrets' data, as Helm's toJson writes it): an upgrade computes it from the Secrets it
    reads back, so any other value rolls the writers and the aggregators on the first upgrade for nothing."""
    secrets = {component(o): o["data"] for o in docs if o["kind"] == "Secret" and o["metadata"]["name"].endswith("-tls")}
    pods = [(o["metadata"]["name"], component(o), o["spec"]["template"]["metadata"].get("annotations", {}).get("checksum/writer-tls"))
            for o in docs if o["kind"] in ("Deployment", "StatefulSet")]
    if not any(a for _, _, a in pods):
        return
    check(set(secrets) == {"writer", "aggregator"}, f"checksum/writer-tls without the generated Secrets: {sorted(secrets)}")
    want = hashlib.sha256(json.dumps(secrets, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    for name, c, a in pods:
        if c in ("writer", "aggregator"):
            check(a == want, f"{name}: checksum/writer-tls {a} is not the checksum of the rendered certificates ({want})")


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
    elif mode == "options":
        options(docs, argv[3])
    elif mode == "writer":
        writer(docs, argv[3], argv[4])
    else:
        sys.exit(f"unknown mode {mode}")
    for e in errors:
        print(f"  {argv[2]}: {e}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main(sys.argv)
