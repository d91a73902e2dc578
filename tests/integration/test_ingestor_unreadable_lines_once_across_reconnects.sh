#!/usr/bin/env bash
# test_ingestor_unreadable_lines_once_across_reconnects: a source sends 240 recorded RSVPs sorted by
# mtime with 36 irregular lines among them whose rsvp_id or mtime the ingestor cannot read (null,
# absent, a string, a fraction, negative, true; single quotes, NaN, bad UTF-8, cut in half, not JSON,
# trailing bytes), several after the last readable line. rsvp-replay (--file-order) closes every
# connection after 25 messages and the ingestor (STALL_TIMEOUT=1s) reconnects whenever the stream is
# quiet, each time with since_mtime: the source sends the lines at or after it again, irregular ones
# included. Each line, irregular or not, must reach the raw topic exactly once. Before the fix every
# irregular line the source sent again was produced again (so dead-lettered again by the parser).
set -euo pipefail
. "$(dirname "$0")/ingestor_lib.sh"
ingestor_init test_ingestor_unreadable_lines_once_across_reconnects
command -v python3 >/dev/null || fail "python3 not installed"

"$BIN/rsvp-replay" --dump --file "$DATA" --count 240 >"$TEST_DIR/sorted.ndjson" 2>/dev/null
python3 - "$TEST_DIR/sorted.ndjson" "$TEST_DIR/stream.ndjson" <<'PY'
import json, sys
lines = open(sys.argv[1], "rb").read().splitlines()
out = []
def variant(k, kind):
    d = json.loads(lines[k])
    if kind == "id_null": d["rsvp_id"] = None
    elif kind == "id_absent": del d["rsvp_id"]
    elif kind == "id_string": d["rsvp_id"] = "id-%d" % k
    elif kind == "id_fraction": d["rsvp_id"] = d["rsvp_id"] + 0.5
    elif kind == "id_negative": d["rsvp_id"] = -d["rsvp_id"]
    elif kind == "id_true": d["rsvp_id"] = True
    elif kind == "mtime_fraction": d["mtime"] = d["mtime"] + 0.25
    elif kind == "mtime_null": d["mtime"] = None
    elif kind == "mtime_absent": del d["mtime"]
    elif kind == "mtime_text": d["mtime"] = "soon %d" % k
    elif kind == "nan": d["venue"] = {"lat": "NAN_TOKEN", "lon": k}
    text = json.dumps(d, ensure_ascii=False).encode()
    if kind == "nan": text = text.replace(b'"NAN_TOKEN"', b"NaN")
    if kind == "single_quotes": text = lines[k].replace(b'"', b"'")
    if kind == "bad_utf8": text = lines[k].replace(b'"response"', b'"resp\xc3\x28onse"', 1)
    if kind == "half": text = lines[k][: len(lines[k]) // 2]
    if kind == "not_json": text = b"this is not json, line %d" % k
    if kind == "trailing": text = lines[k] + b" trailing %d" % k
    return text
kinds = ["id_null", "id_absent", "id_string", "id_fraction", "id_negative", "id_true", "mtime_fraction",
         "mtime_null", "mtime_absent", "mtime_text", "nan", "single_quotes", "bad_utf8", "half",
         "not_json", "trailing"]
irregular = {}
for j, kind in enumerate(kinds * 2):  # 32 in the stream, each after a line of the same mtime
    irregular.setdefault(7 + j * 7, []).append(variant(7 + j * 7, kind))
for k, line in enumerate(lines):
    out.append(line)
    out.extend(irregular.get(k, []))
out.extend(variant(len(lines) - 1 - j, kind) for j, kind in enumerate(["id_null", "not_json", "half", "mtime_null"]))
assert len(set(out)) == len(out), "every line distinct"
open(sys.argv[2], "wb").write(b"\n".join(out) + b"\n")
PY
N=$(wc -l <"$TEST_DIR/stream.ndjson")
[ "$N" -eq 276 ] || fail "the stream has $N lines, want 276"

start_replay --file "$TEST_DIR/stream.ndjson" --file-order --fault-close-after 25
start_ingestor STALL_TIMEOUT=1s INITIAL_SINCE_MTIME=0
wait_topic_count "$N" 60 || fail "topic has $(topic_count) of $N lines after 60 s"
# a few more reconnects on the quiet stream: each one gets the irregular lines at the end again
r0=$(metric rsvp_ingestor_reconnects_total)
wait_for "[ \$(metric rsvp_ingestor_reconnects_total) -ge $((r0 + 3)) ]" 30 || fail "no reconnects on the quiet stream"
reconnects=$(metric rsvp_ingestor_reconnects_total)
dups=$(metric rsvp_ingestor_duplicates_dropped_total)
invalid=$(metric rsvp_ingestor_invalid_lines_total)
stop_ingestor
[ "$reconnects" -ge 13 ] || fail "only $reconnects reconnects (276 lines, 25 per connection)"
topic_dump "$TEST_DIR/got.raw"
LC_ALL=C sort "$TEST_DIR/got.raw" >"$TEST_DIR/got"
LC_ALL=C sort "$TEST_DIR/stream.ndjson" >"$TEST_DIR/want"
if ! cmp -s "$TEST_DIR/want" "$TEST_DIR/got"; then
    extra=$(LC_ALL=C comm -13 "$TEST_DIR/want" "$TEST_DIR/got" | wc -l)
    missing=$(LC_ALL=C comm -23 "$TEST_DIR/want" "$TEST_DIR/got" | wc -l)
    fail "topic holds $(wc -l <"$TEST_DIR/got") lines, want $N: $extra extra, $missing missing"
fi
# the lines cut in half, not JSON, in single quotes or with bad UTF-8 are unreadable by any rules
[ "$invalid" -ge 10 ] || fail "invalid_lines_total=$invalid: the irregular lines were not irregular"
echo "# $N lines exactly once over $reconnects reconnects; $dups lines sent again were dropped" >&2
pass
