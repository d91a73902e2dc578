#!/usr/bin/env python3
"""parser_check.py: input and verdict of the rsvp-parser integration tests.

  parser_check.py gen RECORDED WORKDIR
      WORKDIR/input.txt: "key<TAB>message" lines, all recorded RSVPs plus bad messages (a known number
      per dead-letter reason), shuffled; WORKDIR/expect.json, WORKDIR/bad.bin for verify.
  parser_check.py verify RECORDED WORKDIR RAW_TOPIC
      reads WORKDIR/parsed.bin and WORKDIR/dlq.bin, dumped with kcat -f '%p %K %S[ %h]\n%k%s':
      the parsed topic must hold every recorded RSVP exactly once (rsvp_id, mtime, event_id; keyed by
      event_id; ingest_time_ms set), the DLQ exactly the bad messages unchanged with the right headers.
      Exit 0 or print what differs and exit 1.
"""
import collections
import json
import random
import sys


def gen(src, work):
    good = [l.rstrip(b"\n") for l in open(src, "rb") if l.strip()]
    base = b'{"rsvp_id":1,"mtime":2,"response":"yes","event":{"event_id":"e1"}'
    bad = {
        "not_json": [b'{"rsvp_id":', b"hello", b'{"a":1,}'],
        "not_object": [b"[1,2]", b'"rsvp"', b"42 "],
        "missing_rsvp_id": [b'{"mtime":2,"response":"yes","event":{"event_id":"e1"}}'] * 3,
        "missing_mtime": [b'{"rsvp_id":1,"response":"yes","event":{"event_id":"e1"}}'] * 3,
        "missing_event_id": [b'{"rsvp_id":1,"mtime":2,"response":"yes"}', base.replace(b'"e1"', b'""') + b"}",
                             b'{"rsvp_id":1,"mtime":2,"response":"yes","event":null}'],
        "missing_response": [b'{"rsvp_id":1,"mtime":2,"event":{"event_id":"e1"}}'] * 3,
        "bad_response": [base.replace(b'"yes"', v) + b"}" for v in (b'"maybe"', b'"YES"', b'""')],
        "wrong_type": [base.replace(b'"rsvp_id":1', v) + b"}" for v in
                       (b'"rsvp_id":"abc"', b'"rsvp_id":1.5', b'"rsvp_id":{}')],
        "lat_out_of_range": [base + b',"venue":{"lat":%s,"lon":0}}' % v for v in (b"91", b"-90.5", b"1e9")],
        "lon_out_of_range": [base + b',"group":{"group_lat":0,"group_lon":%s}}' % v
                             for v in (b"181", b"-180.01", b'"200"')],
        "invalid_utf8": [base + b',"x":"\xff"}', base + b',"x":"\xc0\x80"}', base + b',"x":"\\ud83c"}'],
        "string_too_long": [base[:-2] + b'","event_name":"' + b"x" * n + b'"}}' for n in (1025, 2000, 5000)],
        "nul_in_string": [base[:-2] + b'","event_name":"a\\u0000b"}}'] * 3,
        "too_large": [base + b',"pad":"' + b"y" * 70000 + b'"}'] * 3,
        "too_many_tokens": [base + b',"x":[' + b",".join([b"1"] * 9000) + b"]}"] * 3,
        "too_deep": [base + b',"x":' + b"[" * 40 + b"]" * 40 + b"}"] * 3,
    }
    items = [(None, l) for l in good] + [(r, m) for r, ms in bad.items() for m in ms]
    random.Random(7).shuffle(items)
    with open(work + "/input.txt", "wb") as f:
        for n, (_, m) in enumerate(items):
            assert b"\n" not in m and b"\t" not in m
            f.write(b"%d\t%s\n" % (n, m))
    json.dump({"good": len(good), "bad": {r: len(ms) for r, ms in bad.items()}},
              open(work + "/expect.json", "w"))
    with open(work + "/bad.bin", "wb") as f:  # reason \0 payload \0 ... for the final check
        for r, ms in bad.items():
            for m in ms:
                f.write(r.encode() + b"\0" + m.hex().encode() + b"\n")


def verify(src, work, raw_topic):

    def records(path, with_headers):
        out = []
        with open(path, "rb") as f:
            while True:
                head = f.readline()
                if not head:
                    return out
                parts = head.rstrip(b"\n").split(b" ", 3)
                klen, vlen = int(parts[1]), int(parts[2])
                key = f.read(klen) if klen > 0 else b""
                val = f.read(vlen) if vlen > 0 else b""
                hdrs = {}
                if with_headers and len(parts) > 3:
                    for kv in parts[3].decode().split(","):
                        k, _, v = kv.partition("=")
                        hdrs[k] = v
                out.append((int(parts[0]), key, val, hdrs))

    def varint(b, i):
        n = s = 0
        while True:
            c = b[i]; i += 1
            n |= (c & 0x7F) << s; s += 7
            if not c & 0x80:
                return n, i

    def fields(b):  # protobuf wire format: field number -> last value (varint int or bytes)
        i, f = 0, {}
        while i < len(b):
            tag, i = varint(b, i)
            num, wt = tag >> 3, tag & 7
            if wt == 0:
                v, i = varint(b, i)
                v = v - (1 << 64) if v >= 1 << 63 else v
            elif wt == 2:
                n, i = varint(b, i); v = b[i:i + n]; i += n
            elif wt == 1:
                v = b[i:i + 8]; i += 8
            elif wt == 5:
                v = b[i:i + 4]; i += 4
            else:
                raise ValueError("wire type %d" % wt)
            f[num] = v
        return f

    errors = []
    want = collections.Counter()
    for l in open(src, encoding="utf-8"):
        d = json.loads(l)
        want[(d["rsvp_id"], d["mtime"], d["event"]["event_id"])] += 1
    got = collections.Counter()
    for part, key, val, _ in records(work + "/parsed.bin", False):
        f = fields(val)
        ev = fields(f[8]) if 8 in f else {}
        eid = ev.get(2, b"").decode()
        if key.decode() != eid:
            errors.append("parsed message keyed %r but event_id %r" % (key, eid))
        if 20 not in f:
            errors.append("parsed message without ingest_time_ms")
        got[(f.get(6), f.get(7), eid)] += 1
    if got != want:
        errors.append("parsed topic: %d messages, want %d; missing %d, extra/duplicate %d"
                      % (sum(got.values()), sum(want.values()), sum((want - got).values()),
                         sum((got - want).values())))

    want_bad = collections.Counter()
    for l in open(work + "/bad.bin", "rb"):
        r, h = l.rstrip(b"\n").split(b"\0")
        want_bad[(r.decode(), bytes.fromhex(h.decode()))] += 1
    got_bad, by_reason, sources = collections.Counter(), collections.Counter(), set()
    for part, key, val, h in records(work + "/dlq.bin", True):
        got_bad[(h.get("reason"), val)] += 1
        by_reason[h.get("reason")] += 1
        if h.get("source_topic") != raw_topic or not h.get("source_partition", "").isdigit() \
                or not h.get("source_offset", "").isdigit():
            errors.append("DLQ headers wrong: %r" % h)
        sources.add((h.get("source_partition"), h.get("source_offset")))
    if got_bad != want_bad:
        exp = collections.Counter(r for r, _ in want_bad.elements())
        errors.append("DLQ differs: by reason got %s want %s" % (dict(by_reason), dict(exp)))
    if len(sources) != sum(got_bad.values()):
        errors.append("DLQ: %d messages but %d distinct source offsets" % (sum(got_bad.values()), len(sources)))
    for e in errors[:10]:
        print("  " + e)
    print("parsed %d (want %d), dead-lettered %d (want %d): %s"
          % (sum(got.values()), sum(want.values()), sum(got_bad.values()), sum(want_bad.values()),
             dict(sorted(by_reason.items()))))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "verify":
        verify(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: parser_check.py gen|verify ...")
