#!/usr/bin/env python3
"""seed_writer.py DIR [REFERENCE]: writes seed WriterRequests (packed protobuf, rsvp.v1) for fuzz_writer:
offset queries, batches whose rows come from reference-counts-recorded.jsonl (or a built-in row),
with NULL columns, odd strings and edge offsets. Hand-rolled proto2 encoding (no protobuf module)."""
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
    b = f_bytes(1, topic) + f_varint(2, part) + f_varint(3, frm) + f_varint(4, to)
    for r in rows:
        b += f_bytes(5, r)
    if messages is not None:
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
                rows.append(agg_row(r, r["response_count"]))
    if not rows:
        rows = [agg_row({"event_name": "e", "event_time": "1", "response": "yes", "lat": 0.0}, 1)]
    seeds = {
        "query": query("rsvps.parsed", [0, 1, 2, 3]),
        "query-empty": query("", []),
        "batch-first": batch("rsvps.parsed", 0, -1, 100, rows[:5], 100),
        "batch-next": batch("rsvps.parsed", 1, 100, 250, rows[5:20]),
        "batch-all": batch("rsvps.parsed", 2, 7, 9, rows),
        "batch-empty": batch("rsvps.parsed", 3, 5, 6, []),
        "batch-odd": batch("t\tx", 0, -1, 1, [agg_row({"event_name": " a\\b\nc\r ", "response": "no",
                                                       "group_lat": -0.0, "lon": 1e308}, -3)]),
        "batch-bad-offsets": batch("rsvps.parsed", -1, 10, 5, rows[:1]),
        "empty-body": b"",
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
