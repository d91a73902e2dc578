#!/usr/bin/env python3
"""parser_recorded_check.py: independent checks of rsvp-parser's output over the recorded data.

Usage: parser_recorded_check.py STRICT KEYED RECORDED REFERENCE
  STRICT     one canonical dump per line (tests/unit/rsvp_dump.h) of each recorded message after
             parse -> pack -> unpack in strict mode, written by tests/unit/test_parser_recorded.c
  KEYED      the same in reference mode (each dump has the "key" object)
  RECORDED   meetup-rsvps-recorded.ndjson
  REFERENCE  reference-counts-recorded.jsonl (the reference Spark job's result)

1. Every line of STRICT equals the dump Python's json module gives for the same message.
2. Counting the 12-column aggregate key over STRICT (typed fields) reproduces REFERENCE exactly.
3. So does counting Rsvp.key over KEYED, and each of those keys is the one of the same line in STRICT.
Exit 0 if all hold; otherwise print the first differences and exit 1.
"""
import collections
import json
import sys


def fmt_double(d):
    """Shortest of %.15g/%.16g/%.17g that reads back exactly (as rsvp_dump.c)."""
    d = float(d) + 0.0  # -0.0 -> 0.0
    for prec in (15, 16, 17):
        s = "%.*g" % (prec, d)
        if float(s) == d:
            return s
    return s


def js(s):
    return json.dumps(s, ensure_ascii=False)


def canonical(msg):
    """The canonical dump of one raw message, from Python's own JSON reading (no C involved)."""
    out = []

    def obj(fields):
        return "{" + ",".join('"%s":%s' % (k, v) for k, v in fields if v is not None) + "}"

    def s(d, k):
        v = d.get(k)
        return None if v is None else js(v if isinstance(v, str) else json.dumps(v))

    def i(d, k):
        v = d.get(k)
        return None if v is None else str(int(v))

    def f(d, k):
        v = d.get(k)
        return None if v is None else fmt_double(v)

    def pairs(items):
        return "[" + ",".join("[%s,%s]" % (js(a) if a is not None else "null",
                                           js(b) if b is not None else "null")
                              for a, b in items) + "]"

    v = msg.get("venue")
    if v is not None:
        out.append(("venue", obj([("venue_name", s(v, "venue_name")), ("lat", f(v, "lat")),
                                  ("lon", f(v, "lon")), ("venue_id", i(v, "venue_id"))])))
    out.append(("visibility", s(msg, "visibility")))
    out.append(("response", js(msg["response"])))
    out.append(("guests", i(msg, "guests")))
    m = msg.get("member")
    if m is not None:
        os_ = m.get("other_services")
        osv = None
        if os_:
            osv = pairs([(k, (x or {}).get("identifier")) for k, x in os_.items() if x is not None])
        out.append(("member", obj([("member_id", i(m, "member_id")),
                                   ("member_name", s(m, "member_name")),
                                   ("photo", s(m, "photo")), ("other_services", osv)])))
    out.append(("rsvp_id", i(msg, "rsvp_id")))
    out.append(("mtime", i(msg, "mtime")))
    e = msg.get("event")
    if e is not None:
        out.append(("event", obj([("event_name", s(e, "event_name")), ("event_id", s(e, "event_id")),
                                  ("time", i(e, "time")), ("event_url", s(e, "event_url"))])))
    g = msg.get("group")
    if g is not None:
        t = g.get("group_topics")
        tv = pairs([(x.get("urlkey"), x.get("topic_name")) for x in t if x is not None]) if t else None
        out.append(("group", obj([("group_topics", tv), ("group_city", s(g, "group_city")),
                                  ("group_country", s(g, "group_country")),
                                  ("group_id", i(g, "group_id")), ("group_name", s(g, "group_name")),
                                  ("group_lon", f(g, "group_lon")),
                                  ("group_urlname", s(g, "group_urlname")),
                                  ("group_state", s(g, "group_state")),
                                  ("group_lat", f(g, "group_lat"))])))
    return obj(out)


def agg_key(d):
    """The reference job's 12-column key of one parsed RSVP (absent -> None)."""
    e, g, v = d.get("event", {}), d.get("group", {}), d.get("venue")
    t = e.get("time")
    return (e.get("event_name"), e.get("event_url"), None if t is None else str(t),
            g.get("group_name"), g.get("group_country"), g.get("group_state"), g.get("group_city"),
            g.get("group_lat"), g.get("group_lon"),
            None if v is None else v.get("lat"), None if v is None else v.get("lon"),
            d.get("response"))


def ref_key(d):
    """The Key submessage of a reference-mode dump as the same tuple."""
    k = d.get("key", {})
    return tuple(k.get(c) for c in ("event_name", "event_url", "event_time", "group_name", "group_country",
                                    "group_state", "group_city", "group_lat", "group_lon", "lat", "lon",
                                    "response"))


def main():
    actual_path, keyed_path, recorded_path, reference_path = sys.argv[1:5]
    with open(actual_path, encoding="utf-8") as f:
        actual = [line.rstrip("\n") for line in f]
    with open(recorded_path, encoding="utf-8") as f:
        recorded = [line for line in f if line.strip()]
    ok = True
    if len(actual) != len(recorded):
        print("FAIL: %d parsed messages, %d recorded" % (len(actual), len(recorded)))
        ok = False
    diffs = 0
    for n, (a, raw) in enumerate(zip(actual, recorded), 1):
        want = canonical(json.loads(raw))
        if a != want:
            diffs += 1
            if diffs <= 3:
                print("FAIL: line %d differs\n  C:      %s\n  Python: %s" % (n, a, want))
    if diffs:
        print("FAIL: %d of %d messages differ from Python's reading" % (diffs, len(recorded)))
        ok = False

    counts = collections.Counter(agg_key(json.loads(a)) for a in actual)
    ref = {}
    with open(reference_path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            k = (r["event_name"], r["event_url"], r["event_time"], r["group_name"],
                 r["group_country"], r["group_state"], r["group_city"], r["group_lat"],
                 r["group_lon"], r["lat"], r["lon"], r["response"])
            ref[k] = ref.get(k, 0) + r["response_count"]
    with open(keyed_path, encoding="utf-8") as f:
        keyed = [json.loads(line) for line in f]
    keyed_counts = collections.Counter(ref_key(d) for d in keyed)
    mismatch = [n for n, (a, d) in enumerate(zip(actual, keyed), 1) if agg_key(json.loads(a)) != ref_key(d)]
    if len(keyed) != len(actual) or mismatch:
        print("FAIL: reference mode: %d keys differ from the strict reading (first: line %s)"
              % (len(mismatch), mismatch[:1]))
        ok = False
    if dict(keyed_counts) != ref:
        print("FAIL: reference mode: the aggregate of Rsvp.key differs from the reference")
        ok = False
    if dict(counts) != ref:
        missing = [k for k in ref if counts.get(k) != ref[k]]
        extra = [k for k in counts if k not in ref]
        print("FAIL: aggregate differs from the reference: %d keys wrong or missing, %d extra"
              % (len(missing), len(extra)))
        for k in (missing + extra)[:3]:
            print("  key %r: ours %s, reference %s" % (k, counts.get(k), ref.get(k)))
        ok = False
    print("%s: %d messages, %d keys, %d RSVPs counted (reference %d keys, %d)"
          % ("PASS" if ok else "FAIL", len(actual), len(counts), sum(counts.values()), len(ref),
             sum(ref.values())))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
