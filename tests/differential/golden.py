#!/usr/bin/env python3
# tests/differential/golden.py: lines as golden cases of the parser's unit tests (reference mode,
# tests/unit/parser_cases/, read by tests/unit/test_parser_json.c): the input line, then
# "<reason> <key>" with the key the REFERENCE JOB computed for that line and the reason the parser gives
# (whether the input is dead-lettered is the parser's own policy; the key is the reference's answer).
# A line whose key the reference cannot store (U+0000 in a key column, too long for the index) keeps
# the parser's verdict alone.
# Usage: golden.py LINES REF_KEYS PARSER_KEYS [INDEX...]   (all lines when no INDEX is given)
#   REF_KEYS: reference_batch.py --per-line output; PARSER_KEYS: differential-keys output.
import json
import sys

STRINGS = ["event_name", "event_url", "event_time", "group_name", "group_country", "group_state", "group_city",
           "response"]


def read_lines(path):
    with open(path, "rb") as f:
        return [ln for ln in f.read().split(b"\n") if ln]


def case_input(line):
    """The input as the case file takes it: literally when that is unambiguous, else a %raw line."""
    text = None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        pass
    plain = (text is not None and text == text.strip() and not text.startswith(("#", "%"))
             and all(c >= " " and c != "\x7f" for c in text))
    if plain:
        return text
    out = []
    for b in line:
        if b == 0x5C:
            out.append("\\\\")
        elif b == 0x0A:
            out.append("\\n")
        elif b == 0x09:
            out.append("\\t")
        elif b == 0x0D:
            out.append("\\r")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return "%raw " + "".join(out)


def storable(key):
    k = json.loads(key)
    if any(k[c] is not None and "\x00" in k[c] for c in STRINGS):
        return False
    return sum(len(k[c].encode("utf-8")) for c in STRINGS if k[c] is not None) <= 2048


def main():
    lines = read_lines(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        ref = [ln.rstrip("\n") for ln in f]
    with open(sys.argv[3], encoding="utf-8", errors="surrogateescape") as f:
        ours = [ln.rstrip("\n") for ln in f]
    if not len(lines) == len(ref) == len(ours):
        sys.exit(f"golden.py: {len(lines)} lines, {len(ref)} reference keys, {len(ours)} parser verdicts")
    picks = [int(i) for i in sys.argv[4:]] or range(len(lines))
    for i in picks:
        reason = ours[i].split(" ", 1)[0]
        expected = f"{reason} {ref[i]}" if storable(ref[i]) else ours[i]
        print(case_input(lines[i]))
        print(expected)
        print()


if __name__ == "__main__":
    main()
