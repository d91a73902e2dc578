#!/usr/bin/env python3
"""truth.py: the ground truth of a chaos run and its comparison with what the writer stored.

  truth.py count [DUMP]          DUMP (default stdin): the NDJSON timeline of `rsvp-replay --dump`.
                                 Prints one JSON object per aggregate key (the 12 key columns of the
                                 reference job + response_count), sorted; a summary goes to stderr.
  truth.py compare TRUTH COUNTS LATEST [--partial-latest]
                                 TRUTH: output of `count`; COUNTS: rsvp_counts rows and LATEST: the
                                 newest meetup_table row per key, both as one JSON object per line
                                 (psql: SELECT row_to_json(t) ...). Prints "keys_compared N",
                                 "mismatches M", "latest_mismatches L" and the first differences.
                                 Exit 0 only if every key agrees everywhere (0 lost, 0 counted twice).
                                 --partial-latest: a key may have no history row (a retention dropped
                                 its partitions); one that has must still show the truth.

The key is what the parser extracts (tests/unit/parser_recorded_check.py's agg_key): strings as decoded
from JSON, event_time = decimal digits of event.time, doubles with -0.0 -> 0.0, venue absent -> lat/lon
NULL. Messages the parser dead-letters (missing required fields, bad response, coordinates out of range,
a string field over 1024 bytes) are not counted; their number is in the summary.
"""
import collections
import json
import sys

KEY_COLUMNS = ["event_name", "event_url", "event_time", "group_name", "group_country", "group_state",
               "group_city", "group_lat", "group_lon", "lat", "lon", "response"]
MAX_STRING_BYTES = 1024


def num(v):
    """A JSON number or numeric string as the parser reads it (strings like "12" are numbers)."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError("wrong_type")
    return float(v) if not isinstance(v, int) else v


def dbl(v):
    v = num(v)
    return None if v is None else float(v) + 0.0  # -0.0 -> 0.0


def reject_reason(m):
    """The parser's dead-letter reason for a decoded message, or None if it is counted."""
    if not isinstance(m, dict):
        return "not_object"
    if m.get("rsvp_id") is None:
        return "missing_rsvp_id"
    if m.get("mtime") is None:
        return "missing_mtime"
    e = m.get("event")
    if not isinstance(e, dict) or e.get("event_id") in (None, ""):
        return "missing_event_id"
    r = m.get("response")
    if r is None:
        return "missing_response"
    if r not in ("yes", "no"):
        return "bad_response"
    v, g = m.get("venue") or {}, m.get("group") or {}
    for lat in (v.get("lat"), g.get("group_lat")):
        if lat is not None and not -90 <= float(lat) <= 90:
            return "lat_out_of_range"
    for lon in (v.get("lon"), g.get("group_lon")):
        if lon is not None and not -180 <= float(lon) <= 180:
            return "lon_out_of_range"

    def too_long(x):
        if isinstance(x, str):
            return len(x.encode("utf-8")) > MAX_STRING_BYTES or "\0" in x
        if isinstance(x, dict):
            return any(too_long(y) for y in x.values())
        if isinstance(x, list):
            return any(too_long(y) for y in x)
        return False

    if too_long(m):
        return "string_too_long"
    return None


def agg_key(m):
    """The 12-column key of one valid RSVP (absent or null -> None)."""
    e, g, v = m.get("event") or {}, m.get("group") or {}, m.get("venue")
    t = e.get("time")
    return (e.get("event_name"), e.get("event_url"), None if t is None else str(int(num(t))),
            g.get("group_name"), g.get("group_country"), g.get("group_state"), g.get("group_city"),
            dbl(g.get("group_lat")), dbl(g.get("group_lon")),
            None if v is None else dbl(v.get("lat")), None if v is None else dbl(v.get("lon")),
            m.get("response"))


def row_key(r):
    k = []
    for c in KEY_COLUMNS:
        x = r.get(c)
        if c in ("group_lat", "group_lon", "lat", "lon") and x is not None:
            x = float(x) + 0.0
        k.append(x)
    return tuple(k)


def cmd_count(path):
    src = open(path, encoding="utf-8") if path and path != "-" else sys.stdin
    counts = collections.Counter()
    rejected = collections.Counter()
    n = 0
    for line in src:
        if not line.strip():
            continue
        n += 1
        try:
            m = json.loads(line)
        except ValueError:
            rejected["not_json"] += 1
            continue
        why = reject_reason(m)
        if why:
            rejected[why] += 1
            continue
        counts[agg_key(m)] += 1
    out = sys.stdout
    for k in sorted(counts, key=lambda k: json.dumps(k)):
        r = dict(zip(KEY_COLUMNS, k))
        r["response_count"] = counts[k]
        out.write(json.dumps(r, ensure_ascii=False) + "\n")
    sys.stderr.write("truth: %d messages, %d counted, %d keys, rejected %s\n"
                     % (n, sum(counts.values()), len(counts), dict(rejected) or 0))
    return 0


def load(path):
    d = {}
    dups = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            k = row_key(r)
            if k in d:
                dups += 1
            d[k] = d.get(k, 0) + int(r["response_count"])
    return d, dups


def cmd_compare(truth_path, counts_path, latest_path, partial_latest=False):
    truth, _ = load(truth_path)
    counts, dup_counts = load(counts_path)
    latest, dup_latest = load(latest_path)
    lost = extra = wrong = 0
    shown = []
    for k, want in truth.items():
        got = counts.get(k)
        if got is None:
            lost += 1
        elif got != want:
            wrong += 1
        else:
            continue
        if len(shown) < 5:
            shown.append("  key %s: truth %d, rsvp_counts %s" % (json.dumps(k, ensure_ascii=False), want, got))
    for k, got in counts.items():
        if k not in truth:
            extra += 1
            if len(shown) < 5:
                shown.append("  key %s: not in truth, rsvp_counts %d" % (json.dumps(k, ensure_ascii=False), got))
    latest_bad = 0
    for k, want in truth.items():
        if latest.get(k) != want and not (partial_latest and k not in latest):
            latest_bad += 1
            if len(shown) < 10:
                shown.append("  key %s: truth %d, latest meetup_table %s"
                             % (json.dumps(k, ensure_ascii=False), want, latest.get(k)))
    latest_bad += sum(1 for k in latest if k not in truth)
    mism = lost + extra + wrong + dup_counts
    print("keys_compared %d" % len(truth))
    print("rsvps_truth %d" % sum(truth.values()))
    print("rsvps_stored %d" % sum(counts.values()))
    print("keys_lost %d" % lost)
    print("keys_extra %d" % extra)
    print("keys_wrong_count %d" % wrong)
    print("mismatches %d" % mism)
    print("latest_mismatches %d" % latest_bad)
    for s in shown:
        print(s)
    return 0 if mism == 0 and latest_bad == 0 else 1


def main(argv):
    if len(argv) >= 2 and argv[1] == "count":
        return cmd_count(argv[2] if len(argv) > 2 else "-")
    if len(argv) in (5, 6) and argv[1] == "compare" and argv[5:] in ([], ["--partial-latest"]):
        return cmd_compare(argv[2], argv[3], argv[4], len(argv) == 6)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
