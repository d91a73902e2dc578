#!/usr/bin/env python3
# tests/differential/generate.py: seeded RSVP lines for the differential test. Each line starts from a
# recorded RSVP (tests/data/meetup-rsvps-recorded.ndjson) and perturbs it: every field, nested ones included,
# may be absent, null, another JSON type, a numeric string with spaces, signs or exponents, an empty or huge
# string, a string with \u0000, other escapes or non-ASCII text, a duplicated key, single quotes, a NaN or
# Infinity token, a number JSON cannot hold; whole lines may be truncated, not JSON at all, wrapped in
# whitespace, followed by junk or damaged byte by byte. The same seed gives the same bytes.
#
# Every line gets an rsvp_id of its own (a stream never sends the same rsvp_id and mtime twice in one
# connection, and the ingestor drops such repeats after a reconnect), so every line is a message to count.
# Lines never contain "\n" and never end in "\r" (the stream protocol's line end), and are never empty.
#
# Usage: generate.py --seed S --count N [--recorded PATH] > lines.ndjson
import argparse
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDED = os.path.join(HERE, "..", "data", "meetup-rsvps-recorded.ndjson")


class Raw:
    """A value or key written out exactly as these bytes."""

    def __init__(self, b):
        self.b = b if isinstance(b, bytes) else b.encode("utf-8", "surrogatepass")


def dumps_str(s, rnd):
    """A JSON string literal of s: sometimes with every non-ASCII character escaped, sometimes '/' escaped."""
    out = json.dumps(s, ensure_ascii=rnd.random() < 0.3)
    if rnd.random() < 0.1:
        out = out.replace("/", "\\/")
    return out.encode("utf-8", "surrogatepass")


def emit(v, rnd, ws):
    """The JSON text of a generated value. ws: the chance of whitespace around punctuation."""
    def sp():
        if rnd.random() >= ws:
            return b""
        return rnd.choice([b" ", b"  ", b"\t", b"\r "])
    if isinstance(v, Raw):
        return v.b
    if v is None:
        return b"null"
    if v is True:
        return b"true"
    if v is False:
        return b"false"
    if isinstance(v, int):
        return str(v).encode()
    if isinstance(v, float):
        return repr(v).encode()
    if isinstance(v, str):
        return dumps_str(v, rnd)
    if isinstance(v, list):
        return b"[" + sp() + (b"," + sp()).join(emit(x, rnd, ws) for x in v) + sp() + b"]"
    if isinstance(v, Obj):
        parts = []
        for k, x in v.pairs:
            key = k.b if isinstance(k, Raw) else dumps_str(k, rnd)
            parts.append(sp() + key + sp() + b":" + sp() + emit(x, rnd, ws))
        return b"{" + b",".join(parts) + sp() + b"}"
    raise TypeError(type(v))


class Obj:
    """A JSON object as an ordered list of (key, value) pairs (keys may repeat)."""

    def __init__(self, pairs):
        self.pairs = list(pairs)


def load(obj):
    if isinstance(obj, dict):
        return Obj((k, load(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [load(x) for x in obj]
    return obj


NON_ASCII = ["café", "東京ハイキング", "Zürich", "emoji \U0001F389 ok", "\u2028line sep", "ä\u0301", "\u00a0nbsp",
             "Ω≈ç√", "\ufeffbom", "\U00010348 gothic"]
NUMERIC_TEXT = [" 12.5 ", "+12.5", "-12.5", "-0", "-0.0", "0", "1e3", "1E-2", "2.5e+1", ".5", "5.", "0x1p3",
                "0X1.8P1", "1.5d", "2f", "NaN", "nan", "Infinity", "-Infinity", "+Infinity", "inf", "-inf", "INF",
                " NaN ", "\t7\n", "1_000", "１２", "1e400", "-1e400", "1e-400", "12abc", "", " ", "0.1.2", "--1",
                "1e", "e5", "0x", "0x1", "+", "-", "00012", "123456789012345678901234567890",
                "3.141592653589793238462643383279", "4.9E-324", "1.7976931348623157E308", "\u00a012"]
NUMBERS = [b"0", b"-0", b"1", b"-1", b"1.50", b"1e3", b"1E-7", b"-0.0", b"1e400", b"-1e400", b"1e-400",
           b"123456789012345678901234567890", b"-99999999999999999999", b"2147483648", b"9223372036854775808",
           b"0.1", b"1.0", b"100.0e-2", b"2.82879384806159E17", b"9007199254740993", b"1e22", b"1e23",
           b"0.000001", b"1234567.0", b"12345678.9", b"4.9e-324", b"17976931348623157e292",
           b"3.141592653589793238462643383279502884", b"5e-1", b"123.456e7"]
BAD_NUMBERS = [b"01", b"-01", b"1.", b"-", b".5", b"+1", b"1e", b"1e+", b"0x10", b"1.2.3", b"--1", b"00",
               b"1ee2", b"Infinit", b"NaNa", b"-I", b"+IN"]
NONNUM_TOKENS = [b"NaN", b"Infinity", b"-Infinity", b"+Infinity", b"+INF", b"-INF"]
BAD_LITERALS = [b"tru", b"nul", b"True", b"NULL", b"truex", b"null1", b"falsey", b"undefined", b"yes", b"'"]
ESCAPES = ["\\n", "\\t", "\\\"", "\\\\", "\\/", "\\u00e9", "\\u0000", "\\ud83d\\ude00", "\\ud800", "\\udc00x",
           "\\u2028", "\\b\\f\\r", "\\u001f", "\\'", "\\x41", "\\u12", "\\uZZZZ", "\\a",
           # hex digits that are not ASCII: Jackson reads the low byte (U+0130 as '0', U+0141 as 'A')
           "\\u00\u01309", "\\u0\u014141", "\\u00\u00e99"]


def huge(rnd):
    n = rnd.choice([300, 1200, 2100, 4100, 9000, 30000])
    unit = rnd.choice(["x", "é", "ab ", "0123456789", "\U0001F389"])
    return (unit * (n // len(unit) + 1))[:n]


def string_variant(rnd, orig):
    """A string value (as Raw JSON text or a Python str) related to the original value."""
    if isinstance(orig, str):
        base = orig
    elif isinstance(orig, (Raw, Obj, list)):
        base = "x"
    else:
        base = json.dumps(orig)
    k = rnd.randrange(12)
    if k == 0:
        return ""
    if k == 1:
        return rnd.choice(NUMERIC_TEXT)
    if k == 2:
        return huge(rnd)
    if k == 3:
        i = rnd.randrange(len(base) + 1)
        return Raw(b'"' + json.dumps(base[:i])[1:-1].encode() + rnd.choice(ESCAPES).encode() +
                   json.dumps(base[i:])[1:-1].encode() + b'"')
    if k == 4:
        return rnd.choice(NON_ASCII) + " " + base
    if k == 5:
        return " " + base + " "
    if k == 6:  # single quotes
        inner = base.replace("\\", "\\\\").replace("'", "\\'")
        return Raw(("'" + inner + "'").encode("utf-8", "surrogatepass"))
    if k == 7:  # a raw control character or invalid UTF-8 inside the string
        bad = rnd.choice([b"\x01", b"\x1f", b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf0\x9f", b"\x80",
                          b"\xc0\xaf", b"\xe2\x82"])
        enc = json.dumps(base)[1:-1].encode()
        i = rnd.randrange(len(enc) + 1)
        return Raw(b'"' + enc[:i] + bad + enc[i:] + b'"')
    if k == 8:
        return base.upper()
    if k == 9:
        return base + "\u0000" if rnd.random() < 0.5 else "\u0000"
    if k == 10:
        return str(rnd.choice(["yes", "no", "maybe", "waitlist", "YES", "Yes", " yes", "no "]))
    return base


def value_variant(rnd, orig, depth=0):
    """A replacement for a field's value: any JSON type, or text JSON does not allow."""
    k = rnd.randrange(14)
    if k == 0:
        return None
    if k == 1:
        return string_variant(rnd, orig)
    if k == 2:
        return Raw(rnd.choice(NUMBERS))
    if k == 3:
        return Raw(rnd.choice(NONNUM_TOKENS))
    if k == 4:
        return rnd.choice([True, False])
    if k == 5:
        return Obj([])
    if k == 6:
        return []
    if k == 7:
        if depth > 2:
            return "deep"
        return Obj([("a", value_variant(rnd, 1, depth + 1)), ("b", [1, Raw(b"2.50"), "x", None,
                                                                    value_variant(rnd, "y", depth + 1)])])
    if k == 8:
        return [value_variant(rnd, orig, depth + 1) for _ in range(rnd.randrange(3))]
    if k == 9:
        return Raw(rnd.choice(BAD_NUMBERS))
    if k == 10:
        return Raw(rnd.choice(BAD_LITERALS))
    if k == 11 and isinstance(orig, (int, float)) and not isinstance(orig, bool):
        return str(orig)  # a numeric string
    if k == 12 and isinstance(orig, (int, float)) and not isinstance(orig, bool):
        return Raw(rnd.choice([repr(float(orig)), "%.3e" % orig, "%E" % orig, str(orig) + ".000",
                               "-" + str(orig)]).encode())
    return string_variant(rnd, orig)


def key_variant(rnd, k):
    """The same key spelt differently (still the same name once read, or a near miss)."""
    j = rnd.randrange(6)
    if j == 0:
        return Raw(("'" + k + "'").encode())
    if j == 1 and k:
        i = rnd.randrange(len(k))
        return Raw(('"' + k[:i] + "\\u%04x" % ord(k[i]) + k[i + 1:] + '"').encode())
    if j == 2:
        return k.capitalize()
    if j == 3:
        return k + " "
    if j == 4:
        return Raw(('"' + k + '\\u0000"').encode())
    return k


def perturb_object(rnd, o, rate, depth=0):
    """Perturb the members of object o in place, each with probability rate; nested ones too."""
    out = []
    for k, v in o.pairs:
        if isinstance(v, Obj) and rnd.random() < 0.6:
            perturb_object(rnd, v, rate, depth + 1)
        elif isinstance(v, list) and v and rnd.random() < 0.5:
            for i, x in enumerate(v):
                if isinstance(x, Obj):
                    perturb_object(rnd, x, rate, depth + 1)
                elif rnd.random() < rate:
                    v[i] = value_variant(rnd, x, depth + 1)
            if rnd.random() < rate:
                v.insert(rnd.randrange(len(v) + 1), value_variant(rnd, "t", depth + 1))
        if rnd.random() >= rate:
            out.append((k, v))
            continue
        what = rnd.randrange(10)
        if what == 0:
            continue  # absent
        if what == 1:
            out.append((k, None))
        elif what == 2:  # duplicated: the other value before or after
            other = value_variant(rnd, v, depth)
            out.extend([(k, other), (k, v)] if rnd.random() < 0.5 else [(k, v), (k, other)])
        elif what == 3:
            out.append((key_variant(rnd, k), v))
        else:
            out.append((k, value_variant(rnd, v, depth)))
    if rnd.random() < rate * 0.5:  # an unknown field, or a known one at the wrong level
        name = rnd.choice(["extra", "response", "venue", "lat", "event_name", "group_topics", "x" * 40])
        out.insert(rnd.randrange(len(out) + 1), (name, value_variant(rnd, "v", depth)))
    o.pairs = out


def whole_line(rnd, text):
    """Line-level damage of the JSON text of one RSVP."""
    k = rnd.randrange(16)
    if k == 0:
        return text[: rnd.randrange(1, len(text))]  # truncated
    if k == 1:
        return rnd.choice([b"not json at all", b"<html>503 Service Unavailable</html>", b"null", b"42", b'"str"',
                           b"[]", b"{}", b"[" + text + b"]", b"true", b"{", b"}", b"\x00\x01\x02", b"\xff\xfe{}",
                           b"{'a':1}", b"NaN", b" ", b"\t", b"{\"response\":\"yes\"", b"[{\"response\":\"yes\"}]"])
    if k == 2:
        return rnd.choice([b" ", b"\t", b"  \t", b"\r", b"\x0b", b"\x0c"]) + text + rnd.choice([b"", b" ", b"\t "])
    if k == 3:
        return text + rnd.choice([b" junk", b"}", b"]", b",", b" {\"response\":\"no\"}", b"\x00", b"\xff"])
    if k == 4:  # byte damage
        b = bytearray(text)
        for _ in range(rnd.randrange(1, 4)):
            i = rnd.randrange(len(b))
            op = rnd.randrange(3)
            junk = rnd.choice([0x00, 0x01, 0x22, 0x27, 0x2c, 0x3a, 0x5b, 0x5c, 0x5d, 0x7b, 0x7d, 0x30, 0x2d,
                               0x4e, 0x80, 0xc3, 0xed, 0xf0, 0xff, rnd.randrange(256)])
            if op == 0:
                b[i] = junk
            elif op == 1:
                b.insert(i, junk)
            elif len(b) > 1:
                del b[i]
        return bytes(b)
    if k == 5:  # a UTF-8 byte order mark
        return b"\xef\xbb\xbf" + text
    return text


def make_line(rnd, rec, rsvp_id, rate, damage):
    o = load(rec)
    perturb_object(rnd, o, rate)
    # a fresh rsvp_id, kept readable most of the time (its own representations are perturbations too)
    ids = [i for i, (k, _) in enumerate(o.pairs) if k == "rsvp_id"]
    for n, i in enumerate(ids):
        v = o.pairs[i][1]
        if isinstance(v, int) and not isinstance(v, bool):
            o.pairs[i] = ("rsvp_id", rsvp_id * 4 + min(n, 3))
        elif isinstance(v, str) and v.isdigit():
            o.pairs[i] = ("rsvp_id", str(rsvp_id * 4 + min(n, 3)))
    ws = rnd.choice([0.0, 0.0, 0.05, 0.3])
    text = emit(o, rnd, ws)
    if rnd.random() < damage:
        text = whole_line(rnd, text)
    # the stream protocol: no "\n" inside a line, no "\r" at its end, never empty
    text = text.replace(b"\n", b" ")
    while text.endswith(b"\r"):
        text = text[:-1] + b" "
    return text or b"{}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1] if __doc__ else None)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--recorded", default=RECORDED)
    ap.add_argument("--rate", type=float, default=0.08, help="chance that one field is perturbed")
    ap.add_argument("--damage", type=float, default=0.12, help="chance of line-level damage")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    with open(args.recorded, encoding="utf-8") as f:
        recs = [json.loads(line) for line in f if line.strip()]
    out = sys.stdout.buffer
    base = 10**12 + args.seed % 1000 * 10**9  # rsvp_ids no recorded line has
    for i in range(args.count):
        rec = rnd.choice(recs)
        rate = rnd.choice([0.0, args.rate, args.rate, args.rate * 2, 0.3])
        out.write(make_line(rnd, rec, base + i, rate, args.damage) + b"\n")


if __name__ == "__main__":
    main()
