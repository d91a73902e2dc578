#!/usr/bin/env python3
# tests/differential/compare.py: the verdict of the differential test. What the pipeline stored against what
# the reference job computed from the same lines, key by key, plus the checks that make a difference
# traceable: the raw topic holds exactly the generated lines, the dead-letter topic exactly the lines the
# parser dead-letters (by reason), and, line by line, the parser's key against the reference's.
#
# Usage: compare.py WORKDIR
#   WORKDIR/lines.ndjson     the generated lines
#   WORKDIR/ref.grouped      reference_batch.py --grouped: "<count> <key>" per key of the reference's output
#   WORKDIR/ref.perline      reference_batch.py --per-line: the reference's key of each line
#   WORKDIR/ours.perline     differential-keys: the parser's "<reason> [key]" of each line
#   WORKDIR/counts.jsonl     rsvp_counts as JSON rows; WORKDIR/latest.jsonl the newest meetup_table row per key
#   WORKDIR/raw.bin          the raw topic: "<size>\n<payload>" per message (kcat -f '%S\n%s')
#   WORKDIR/dlq.txt          the dead-letter topic's reason header, one per line
# Writes WORKDIR/golden-cases.txt (the lines whose key differs, as golden cases: tests/differential/golden.py)
# and prints one "name value" line per figure, then PASS or FAIL. Exit 0 only with 0 differences.
import collections
import json
import math
import os
import subprocess
import sys

COLS = ["event_name", "event_url", "event_time", "group_name", "group_country", "group_state", "group_city",
        "group_lat", "group_lon", "lat", "lon", "response"]
DOUBLES = {"group_lat", "group_lon", "lat", "lon"}
STRINGS = [c for c in COLS if c not in DOUBLES]
MAX_KEY_BYTES = 2048  # services/parser/rsvp_json.h: RSVP_JSON_MAX_KEY_BYTES


def norm(col, v):
    """A column value comparable across Python and PostgreSQL: doubles by their repr (NaN equals NaN, -0 is 0
    as the group-by normalises it), strings as they are."""
    if v is None:
        return None
    if col in DOUBLES:
        f = float(v) + 0.0
        return "NaN" if math.isnan(f) else repr(f)
    return v


def key_of(obj):
    return tuple(norm(c, obj[c]) for c in COLS)


def storable(key):
    """What the pipeline can store: no U+0000 in a string column (PostgreSQL text cannot hold it; the
    reference's own JDBC sink fails on it too) and the key's strings within the index limit."""
    strs = [key[COLS.index(c)] for c in STRINGS]
    if any(s is not None and "\x00" in s for s in strs):
        return False
    return sum(len(s.encode("utf-8")) for s in strs if s is not None) <= MAX_KEY_BYTES


def read_lines(path):
    with open(path, "rb") as f:
        return [ln for ln in f.read().split(b"\n") if ln]


def read_raw(path):
    out = []
    with open(path, "rb") as f:
        data = f.read()
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        size = int(data[i:nl])
        out.append(data[nl + 1:nl + 1 + size])
        i = nl + 1 + size + 1
    return out


def main():
    w = sys.argv[1]
    lines = read_lines(os.path.join(w, "lines.ndjson"))
    figures = collections.OrderedDict()
    problems = []

    def figure(name, value):
        figures[name] = value

    # the reference's answer
    ref = {}
    with open(os.path.join(w, "ref.grouped"), encoding="utf-8") as f:
        for ln in f:
            n, _, k = ln.rstrip("\n").partition(" ")
            ref[key_of(json.loads(k))] = int(n)
    want = {k: n for k, n in ref.items() if storable(k)}
    figure("lines", len(lines))
    figure("reference_keys", len(ref))
    figure("reference_rsvps", sum(ref.values()))
    figure("reference_keys_not_storable", len(ref) - len(want))

    # what the pipeline stored
    got = {}
    with open(os.path.join(w, "counts.jsonl"), encoding="utf-8") as f:
        for ln in f:
            r = json.loads(ln)
            got[key_of(r)] = int(r["response_count"])
    latest = {}
    with open(os.path.join(w, "latest.jsonl"), encoding="utf-8") as f:
        for ln in f:
            r = json.loads(ln)
            latest[key_of(r)] = int(r["response_count"])
    figure("stored_keys", len(got))
    figure("stored_rsvps", sum(got.values()))
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    wrong = [k for k in want if k in got and got[k] != want[k]]
    stale = [k for k in want if latest.get(k) != want[k]]
    figure("keys_missing", len(missing))
    figure("keys_extra", len(extra))
    figure("counts_wrong", len(wrong))
    figure("meetup_table_newest_wrong", len(stale))
    for name, ks in (("missing", missing), ("extra", extra), ("count differs", wrong),
                     ("newest meetup_table row differs", stale)):
        for k in ks[:5]:
            problems.append(f"key {name}: {dict(zip(COLS, k))} reference {ref.get(k)} rsvp_counts {got.get(k)} "
                            f"meetup_table {latest.get(k)}")

    # the raw topic: exactly the generated lines, byte for byte
    raw = read_raw(os.path.join(w, "raw.bin"))
    raw_diff = collections.Counter(lines)
    raw_diff.subtract(collections.Counter(raw))
    raw_bad = sum(abs(v) for v in raw_diff.values())
    figure("raw_messages", len(raw))
    figure("raw_not_as_generated", raw_bad)
    if raw_bad:
        problems.append(f"the raw topic differs from the generated lines in {raw_bad} messages "
                        f"(first: {next(k for k, v in raw_diff.items() if v)[:200]!r})")

    # the parser's verdicts, line by line
    with open(os.path.join(w, "ours.perline"), encoding="utf-8", errors="surrogateescape") as f:
        ours = [ln.rstrip("\n") for ln in f]
    with open(os.path.join(w, "ref.perline"), encoding="utf-8") as f:
        ref_lines = [ln.rstrip("\n") for ln in f]
    if not len(ours) == len(ref_lines) == len(lines):
        problems.append(f"{len(lines)} lines, {len(ours)} parser verdicts, {len(ref_lines)} reference keys")
    reasons = collections.Counter(o.split(" ", 1)[0] for o in ours)
    for r, n in sorted(reasons.items()):
        figure(f"parser_{r}", n)
    differ = []
    for i, (o, r) in enumerate(zip(ours, ref_lines)):
        reason, _, k = o.partition(" ")
        rk = key_of(json.loads(r))
        if not storable(rk):
            if k:  # the parser must dead-letter a key the pipeline cannot store, and not count it
                differ.append(i)
            continue
        if not k or key_of(json.loads(k)) != rk:
            differ.append(i)
    figure("lines_whose_key_differs", len(differ))
    if differ:
        with open(os.path.join(w, "golden-cases.txt"), "w", encoding="utf-8") as out:
            subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.py"),
                            os.path.join(w, "lines.ndjson"), os.path.join(w, "ref.perline"),
                            os.path.join(w, "ours.perline")] + [str(i) for i in differ], stdout=out, check=True)
        problems.append(f"{len(differ)} lines get another key than the reference's: golden cases in "
                        f"{os.path.join(w, 'golden-cases.txt')} (first: line {differ[0] + 1})")

    # the dead-letter topic: the lines the parser dead-letters, with their reasons
    with open(os.path.join(w, "dlq.txt"), encoding="utf-8") as f:
        dlq = collections.Counter(ln.strip() for ln in f if ln.strip())
    want_dlq = collections.Counter(r for r in (o.split(" ", 1)[0] for o in ours) if r != "ok")
    figure("dead_lettered", sum(dlq.values()))
    if dlq != want_dlq:
        problems.append(f"dead letters by reason {dict(dlq)}, the parser's verdicts say {dict(want_dlq)}")

    for name, value in figures.items():
        print(f"{name} {value}")
    for p in problems:
        print(f"problem: {p}")
    ok = not problems
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
