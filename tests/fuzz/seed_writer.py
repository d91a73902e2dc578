#!/usr/bin/env python3
"""seed_writer.py DIR [REFERENCE]: writes seed WriterRequests (packed protobuf, rsvp.v1) for fuzz_writer:
offset queries; valid batches whose rows come from reference-counts-recorded.jsonl (or a built-in row),
a first one (from -1) and the ones that follow it, so the fuzzer starts from requests that apply; and the
attacks the writer must refuse (negative and huge deltas, a range to 2^62, rows exceeding messages, minimal
rows, one string repeated, packed partitions), with NULL columns, odd strings and edge offsets.
Hand-rolled proto2 encoding (no protobuf module)."""
import json
import os
import struct
import sys


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    return varint(num << 3 | 2) + varint(len(b)) + b


def f_double(num, d):
    return varint(num << 3 | 1) + struct.pack("<d", d)


KEYS = ["event_name", "event_url", "event_time", "group_name", "group_country", "group_state",
        "group_city", "group_lat", "group_lon", "lat", "lon", "response"]


def agg_row(r, delta):
    out = b""
    for i, k in enumerate(KEYS, 1):
        v = r.get(k)
        if v is None:
            continue
        out += f_double(i, float(v)) if k in ("group_lat", "group_lon", "lat", "lon") else f_bytes(i, str(v))
    return out + f_varint(13, delta)


def batch(topic, part, frm, to, rows, messages=None):
    """rows: (encoded row, delta) pairs; messages defaults to the sum of the deltas."""
    b = f_bytes(1, topic) + f_varint(2, part) + f_varint(3, frm) + f_varint(4, to)
    for r, _ in rows:
        b += f_bytes(5, r)
    if messages is None:
        messages = sum(d for _, d in rows)
    if messages is not False:
        b += f_varint(6, messages)
    b += f_varint(7, 1700000000000) + f_varint(8, 1700000000000) + f_bytes(9, "aggregator-0")
    return f_bytes(1, b)


def query(topic, parts):
    q = f_bytes(1, topic)
    for p in parts:
        q += f_varint(2, p)
    return f_bytes(2, q)


def main():
    out = sys.argv[1]
    ref = sys.argv[2] if len(sys.argv) > 2 else ""
    os.makedirs(out, exist_ok=True)
    rows = []
    if ref and os.path.exists(ref):
        with open(ref, encoding="utf-8") as f:
            for n, line in enumerate(f):
                if n >= 40:
                    break
                r = json.loads(line)
                rows.append((agg_row(r, r["response_count"]), r["response_count"]))
    if not rows:
        rows = [(agg_row({"event_name": "e", "event_time": "1", "response": "yes", "lat": 0.0}, 1), 1)]
    n5 = sum(d for _, d in rows[:5])
    n20 = sum(d for _, d in rows[5:20])
    one = agg_row({"event_name": "x", "response": "yes"}, 1)
    minimal = b"".join(f_bytes(5, f_varint(13, 1)) for _ in range(80))
    repeated = f_bytes(1, b"") * 400 + f_varint(13, 0)
    seeds = {
        "query": query("rsvps.parsed", [0, 1, 2, 3]),
        "query-empty": query("", []),
        "query-packed": f_bytes(2, f_bytes(1, "rsvps.parsed") + f_bytes(2, bytes(range(0, 100)))),
        "batch-first": batch("rsvps.parsed", 0, -1, n5 + 3, rows[:5]),
        "batch-next": batch("rsvps.parsed", 0, n5 + 3, n5 + 3 + n20 + 40, rows[5:20]),
        "batch-all": batch("rsvps.parsed", 2, -1, 5000, rows),
        "batch-empty": batch("rsvps.parsed", 3, -1, 6, []),
        "batch-null-response": batch("rsvps.parsed", 4, -1, 1, [(agg_row({"event_name": "n"}, 0), 0)]),
        "batch-odd": batch("t\tx", 0, -1, 1, [(agg_row({"event_name": " a\\b\nc\r ", "response": "no",
                                                        "group_lat": -0.0, "lon": 1e308}, 1), 1)]),
        "batch-dup-key": batch("rsvps.parsed", 5, -1, 2, [(one, 1), (one, 1)]),
        "attack-negative-delta": batch("rsvps.parsed", 0, -1, 10, [(agg_row({"event_name": "x"}, -10**15), 0)], 0),
        "attack-huge-delta": batch("rsvps.parsed", 0, -1, 10, [(agg_row({"event_name": "x"}, 10**15), 0)], 10),
        "attack-range-2-62": batch("rsvps.parsed", 0, -1, 2**62, [(one, 1)]),
        "attack-rows-exceed-messages": batch("rsvps.parsed", 0, -1, 10, rows[:5], 2),
        "attack-messages-exceed-range": batch("rsvps.parsed", 0, 7, 9, rows[:5]),
        "attack-no-messages": batch("rsvps.parsed", 0, -1, 10, [(one, 1)], False),
        "attack-minimal-rows": f_bytes(1, f_bytes(1, "t") + f_varint(2, 0) + f_varint(3, -1) + f_varint(4, 1)
                                       + f_varint(6, 0) + minimal),
        "attack-repeated-string": f_bytes(1, f_bytes(1, "t") + f_varint(2, 0) + f_varint(3, -1) + f_varint(4, 1)
                                          + f_varint(6, 1) + f_bytes(5, repeated)),
        "batch-bad-offsets": batch("rsvps.parsed", -1, 10, 5, rows[:1]),
        "empty-body": b"",
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
