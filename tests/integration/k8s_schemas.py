"""Offline JSON schemas for kubeconform (used by test_k8s_static.sh).

usage: python k8s_schemas.py OUTDIR VERSION... -- CRD_YAML...
  OUTDIR/vX.Y.Z-local[-strict]/<kind>-<version>.json from kubernetes-validate's bundled schemas (their $id/$ref point
  to https, which kubeconform would try to fetch and then report "could not find schema"), and
  OUTDIR/crds/<group>/<kind, lower case>_<version>.json from CustomResourceDefinition files (KEDA, prometheus-operator), strict:
  objects with properties and without x-kubernetes-preserve-unknown-fields reject unknown fields.
"""
import json
import pathlib
import sys

import kubernetes_validate
import yaml


def fix_refs(o):
    if isinstance(o, dict):
        return {k: (v.replace("/api/_definitions.json", "_definitions.json") if k == "$ref" and isinstance(v, str)
                    else fix_refs(v)) for k, v in o.items()}
    return [fix_refs(x) for x in o] if isinstance(o, list) else o


def core(out, versions):
    src = pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    for v in versions:
        for d in (src / f"v{v}-local", src / f"v{v}-local-strict"):
            if not d.is_dir():
                sys.exit(f"k8s_schemas: kubernetes-validate has no schemas for {v}")
            dst = out / d.name
            if (dst / ".done").exists():
                continue
            dst.mkdir(parents=True, exist_ok=True)
            for f in d.glob("*.json"):
                doc = json.loads(f.read_text())
                doc.pop("$id", None)
                (dst / f.name).write_text(json.dumps(fix_refs(doc)))
            (dst / ".done").write_text("")


def strict(s):
    if isinstance(s, dict):
        s = {k: strict(v) for k, v in s.items()}
        if s.get("type") == "object" and "properties" in s and not s.get("x-kubernetes-preserve-unknown-fields") \
                and "additionalProperties" not in s:
            s["additionalProperties"] = False
        return s
    return [strict(x) for x in s] if isinstance(s, list) else s


def crds(out, files):
    for f in files:
        for doc in yaml.safe_load_all(pathlib.Path(f).read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for ver in spec["versions"]:
                schema = strict(ver["schema"]["openAPIV3Schema"])
                schema["properties"]["apiVersion"] = {"type": "string"}
                schema["properties"]["kind"] = {"type": "string"}
                schema["properties"]["metadata"] = {"type": "object"}
                dst = out / "crds" / spec["group"] / f"{spec['names']['kind'].lower()}_{ver['name']}.json"
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_text(json.dumps(schema))


def main(argv):
    sep = argv.index("--") if "--" in argv else len(argv)
    out = pathlib.Path(argv[1])
    core(out, argv[2:sep])
    crds(out, argv[sep + 1:])


if __name__ == "__main__":
    main(sys.argv)
