#!/usr/bin/env bash
# test_replay_stream: rsvp-replay serves Meetup's stream faithfully: the file played once equals the
# mtime-sorted recording byte for byte (also over raw chunked framing and gzip), since_mtime resumes at the
# right message, synthetic output is deterministic per seed and valid JSON with the stream's fields, --loop
# rewrites only rsvp_id and mtime, --rate paces a live stream, injected faults are extra lines that leave the
# timeline intact, one stall per server, 429s recover, several clients at once, SIGTERM exits 0.
# Ports: 31400-31499 (replay's range).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_replay_stream
need_bin rsvp-replay

DATA=$TESTDATA_RECORDED
[[ -f $DATA ]] || fail "missing $DATA"
START=1700000000000
W=$TEST_DIR

# free_port: prints a free port reserved for this test (ports.sh).
free_port() { port_reserve; }

# replay NAME ARGS...: starts rsvp-replay on free ports; sets PORT and MPORT; waits until it answers.
# Another process may grab a port between the check and the bind: then it starts again on other ports.
replay() {
	local name=$1 try
	shift
	for try in 1 2 3 4 5; do
		PORT=$(free_port)
		MPORT=$(free_port)
		[[ $MPORT != "$PORT" ]] || continue
		start_bg "$name" "$BIN/rsvp-replay" --listen "127.0.0.1:$PORT" --metrics-addr "127.0.0.1:$MPORT" "$@"
		# the stream port answers (404 here, which spends no --fault-status) only once both ports are bound
		wait_for "[[ \$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 http://127.0.0.1:$PORT/up) == 404 ]]" 10 &&
			return 0
		kill -0 "$BG_PID" 2>/dev/null && fail "$name did not come up"
	done
	fail "$name could not bind (5 tries)"
}

# fetch URL N OUT [TIMEOUT_S] [CURL_ARGS...]: streams URL into OUT until it holds N lines (the stream stays
# open, so we poll the file with a deadline), then stops curl and keeps exactly the first N lines.
fetch() {
	local url=$1 n=$2 out=$3 timeout=${4:-30} pid
	shift 4 || shift $#
	curl -sN "$@" "$url" >"$out.part" &
	pid=$!
	wait_for "[[ \$(wc -l <'$out.part') -ge $n ]]" "$timeout" || {
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		fail "only $(wc -l <"$out.part") of $n lines from $url"
	}
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	head -n "$n" "$out.part" >"$out"
	rm -f "$out.part"
}

# metric NAME_WITH_LABELS: the value of that sample on the current replay's /metrics.
metric() {
	curl -s --max-time 2 "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

python3 - "$DATA" "$W/sorted.ndjson" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1], "rb").read().split(b"\n") if l]
lines.sort(key=lambda l: json.loads(l)["mtime"])  # Python's sort is stable
open(sys.argv[2], "wb").write(b"".join(l + b"\n" for l in lines))
PY

# --- 1. file played once: the sorted recording, byte for byte, as --dump and over HTTP (plain, raw, gzip) ---
"$BIN/rsvp-replay" --file "$DATA" --dump >"$W/dump.ndjson"
cmp -s "$W/dump.ndjson" "$W/sorted.ndjson" || fail "--dump of the file differs from the mtime-sorted file"
replay once --file "$DATA"
fetch "http://127.0.0.1:$PORT/2/rsvps" 2865 "$W/once.ndjson"
cmp -s "$W/once.ndjson" "$W/sorted.ndjson" || fail "first 2865 streamed lines differ from the sorted file"
curl -s -D "$W/headers.txt" -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/2/rsvps" || true
grep -qi '^Transfer-Encoding: chunked' "$W/headers.txt" || fail "no chunked encoding"
grep -qi '^Content-Type: application/json' "$W/headers.txt" || fail "wrong content type"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PORT/2/other") || true
[[ $code == 404 ]] || fail "other path answered $code, want 404"
curl -s --raw --max-time 3 "http://127.0.0.1:$PORT/2/rsvps" >"$W/raw.bin" || true
python3 - "$W/raw.bin" "$W/sorted.ndjson" <<'PY' || fail "raw chunked framing is broken"
import sys
raw, want = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
pos, body, chunks = 0, b"", 0
while True:
    eol = raw.index(b"\r\n", pos)
    size = int(raw[pos:eol], 16)
    assert size > 0, "terminating chunk while the stream should stay open"
    data = raw[eol + 2:eol + 2 + size]
    assert raw[eol + 2 + size:eol + 4 + size] == b"\r\n", "chunk not followed by CRLF"
    body += data; chunks += 1
    pos = eol + 4 + size
    if pos >= len(raw):
        break
assert body == want, "de-chunked body differs (%d vs %d bytes)" % (len(body), len(want))
print("chunks:", chunks)
PY

# gzip when asked (as libcurl's CURLOPT_ACCEPT_ENCODING ""), sync-flushed so every line arrives at once
fetch "http://127.0.0.1:$PORT/2/rsvps" 2865 "$W/gzip.ndjson" 30 --compressed -D "$W/gzip.h"
grep -qi '^Content-Encoding: gzip' "$W/gzip.h" || fail "Accept-Encoding: gzip did not gzip"
cmp -s "$W/gzip.ndjson" "$W/sorted.ndjson" || fail "gzipped stream differs from the sorted file"
curl -s -H 'Accept-Encoding: gzip;q=0' -D "$W/nogzip.h" -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/2/rsvps" || true
grep -qi '^Content-Encoding' "$W/nogzip.h" && fail "gzip;q=0 was gzipped"

# --- 2. since_mtime resumes at the first message with mtime >= since (ties included) ---
read -r SINCE FIRST < <(python3 - "$W/sorted.ndjson" <<'PY'
import json, sys
ms = [json.loads(l)["mtime"] for l in open(sys.argv[1], "rb")]
# the first mtime shared by two messages after index 1000: the boundary case
i = next(k for k in range(1000, len(ms)) if ms[k] == ms[k + 1] and ms[k - 1] != ms[k])
print(ms[i], i)
PY
)
want=$((2865 - FIRST))
fetch "http://127.0.0.1:$PORT/2/rsvps?since_mtime=$SINCE" "$want" "$W/since.ndjson"
tail -n "+$((FIRST + 1))" "$W/sorted.ndjson" | cmp -s - "$W/since.ndjson" || fail "since_mtime=$SINCE did not resume at line $FIRST"
"$BIN/rsvp-replay" --file "$DATA" --dump --since-mtime $((SINCE + 1)) >"$W/since1.ndjson"
n=$(wc -l <"$W/since1.ndjson")
((n < want - 1)) || fail "since_mtime=SINCE+1 kept the messages at SINCE ($n lines)"
"$BIN/rsvp-replay" --synthetic --seed 9 --count 100 --start-mtime $START --per-ms 10 --dump --since-mtime $((START + 3)) |
	head -n 1 | grep -q '"rsvp_id":1800000030,"mtime":1700000000003,' || fail "synthetic since_mtime boundary wrong"

# --- 3. synthetic: deterministic per seed, different across seeds, same over HTTP as --dump ---
syn=("$BIN/rsvp-replay" --synthetic --count 3000 --start-mtime $START)
"${syn[@]}" --seed 5 --dump >"$W/syn5a.ndjson"
"${syn[@]}" --seed 5 --dump >"$W/syn5b.ndjson"
"${syn[@]}" --seed 6 --dump >"$W/syn6.ndjson"
cmp -s "$W/syn5a.ndjson" "$W/syn5b.ndjson" || fail "two dumps with seed 5 differ"
cmp -s "$W/syn5a.ndjson" "$W/syn6.ndjson" && fail "seeds 5 and 6 gave the same stream"
python3 - "$W/syn5a.ndjson" <<'PY' || fail "synthetic lines are not the stream's JSON"
import json, sys
order = ["venue", "visibility", "response", "guests", "member", "rsvp_id", "mtime", "event", "group"]
events, last, n, no_venue, yes, esc, raw_utf8 = {}, 0, 0, 0, 0, 0, 0
for raw in open(sys.argv[1], "rb"):
    d = json.loads(raw); n += 1
    keys = list(d)
    assert keys == order or keys == order[1:], keys
    no_venue += "venue" not in d
    if "venue" in d:
        assert list(d["venue"]) == ["venue_name", "lon", "lat", "venue_id"]
    assert d["response"] in ("yes", "no"); yes += d["response"] == "yes"
    assert isinstance(d["guests"], int) and isinstance(d["rsvp_id"], int)
    assert d["mtime"] >= last; last = d["mtime"]
    assert {"member_id", "member_name"} <= set(d["member"])
    e, g = d["event"], d["group"]
    assert list(e) == ["event_name", "event_id", "time", "event_url"], list(e)
    assert isinstance(e["event_id"], str) and isinstance(e["time"], int)
    assert 1 <= len(g["group_topics"]) <= 10
    assert all(list(t) == ["urlkey", "topic_name"] for t in g["group_topics"])
    assert ("group_state" in g) == (g["group_country"] in ("us", "ca")), g
    for k in ("group_city", "group_country", "group_id", "group_name", "group_lon", "group_urlname", "group_lat"):
        assert k in g, k
    key = (e["event_name"], e["event_url"], e["time"], g["group_name"], g["group_city"], g["group_lat"],
           g["group_lon"], json.dumps(d.get("venue")))
    assert events.setdefault(e["event_id"], key) == key, "event %s changed its columns" % e["event_id"]
    esc += b"\\u" in raw; raw_utf8 += any(b > 127 for b in raw)
    assert b"https:\\/\\/www.meetup.com\\/" in raw
assert 0.70 < yes / n < 0.80 and 0.05 < no_venue / n < 0.25 and esc and raw_utf8, (yes, no_venue, esc, raw_utf8)
assert len(events) > 500, len(events)
PY
replay synth --synthetic --seed 5 --count 3000 --start-mtime $START
fetch "http://127.0.0.1:$PORT/2/rsvps" 3000 "$W/syn_http.ndjson"
cmp -s "$W/syn_http.ndjson" "$W/syn5a.ndjson" || fail "synthetic stream over HTTP differs from --dump"

# --- 4. --loop: laps rewrite rsvp_id (+1e10 per lap) and mtime, nothing else ---
"$BIN/rsvp-replay" --file "$DATA" --loop --count 5730 --start-mtime $START --per-ms 10 --dump >"$W/loop.ndjson"
python3 - "$DATA" "$W/loop.ndjson" $START <<'PY' || fail "--loop rewriting is wrong"
import json, re, sys
src = [l for l in open(sys.argv[1], "rb").read().split(b"\n") if l]
out = open(sys.argv[2], "rb").read().split(b"\n")[:-1]
start = int(sys.argv[3]); n = len(src)
assert len(out) == 2 * n
for i, l in enumerate(out):
    d, s = json.loads(l), json.loads(src[i % n])
    assert d["rsvp_id"] == s["rsvp_id"] + (i // n) * 10**10 and d["mtime"] == start + i // 10
    strip = lambda b: re.sub(rb'"(rsvp_id|mtime)":\s*-?\d+', b"", b)
    assert strip(l) == strip(src[i % n])
PY

# --- 5. --rate paces smoothly: 200 live messages at 1000/s take >= 0.15 s ---
replay paced --synthetic --seed 2 --rate 1000
t0=$(date +%s%N)
fetch "http://127.0.0.1:$PORT/2/rsvps" 200 "$W/paced.ndjson"
ms=$((($(date +%s%N) - t0) / 1000000))
((ms >= 150)) || fail "200 messages at --rate 1000 arrived in $ms ms"
((ms < 5000)) || fail "200 messages at --rate 1000 took $ms ms"
# a live client starts at "now": the first mtime (server start + i ms at 1000/s) is close to the request time
first=$(head -n 1 "$W/paced.ndjson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["mtime"])')
((first >= t0 / 1000000 - 100 && first <= t0 / 1000000 + 1000)) || fail "live stream started at mtime $first, requested at $((t0 / 1000000))"

# --- 6. error statuses first, then the stream works; faults counted ---
replay status --file "$DATA" --fault-status 429 --fault-status-count 2
for k in 1 2; do
	curl -s -D "$W/h429.txt" -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/2/rsvps" || true
	head -n 1 "$W/h429.txt" | grep -q ' 429 ' || fail "request $k: $(head -n 1 "$W/h429.txt")"
	grep -qi '^Retry-After: 1' "$W/h429.txt" || fail "429 without Retry-After"
done
fetch "http://127.0.0.1:$PORT/2/rsvps" 2865 "$W/after429.ndjson"
cmp -s "$W/after429.ndjson" "$W/sorted.ndjson" || fail "stream after the 429s is not the recording"
[[ $(metric 'rsvp_replay_faults_injected_total{kind="status"}') == 2 ]] || fail "status faults not counted"
if command -v promtool >/dev/null; then
	curl -s "http://127.0.0.1:$MPORT/metrics" | promtool check metrics || fail "promtool rejects /metrics"
fi

# --- 7. injected bad lines are extra: filtering them gives the timeline back; close-after closes ---
replay bad --file "$DATA" --fault-nonjson-every 100 --fault-truncated-every 300 --fault-bad-utf8-every 500 \
	--fault-huge-every 1000 --fault-huge-bytes 256k
extra=$((28 + 9 + 5 + 2))
fetch "http://127.0.0.1:$PORT/2/rsvps" $((2865 + extra)) "$W/bad.ndjson"
python3 - "$W/bad.ndjson" "$W/sorted.ndjson" <<'PY' || fail "injected lines broke the timeline"
import json, sys
got, bad = [], 0
for l in open(sys.argv[1], "rb"):
    try:
        json.loads(l.decode("utf-8")); got.append(l)
    except (ValueError, UnicodeDecodeError):
        bad += 1
assert bad == 44, bad
assert b"".join(got) == open(sys.argv[2], "rb").read()
PY
[[ $(metric 'rsvp_replay_faults_injected_total{kind="huge"}') == 2 ]] || fail "huge faults not counted"
replay close --file "$DATA" --fault-close-after 700
rc=0
curl -sN --max-time 20 "http://127.0.0.1:$PORT/2/rsvps" >"$W/closed.ndjson" || rc=$?
((rc == 18)) || fail "curl after --fault-close-after ended with $rc, want 18 (transfer closed early)"
head -n 700 "$W/sorted.ndjson" | cmp -s - "$W/closed.ndjson" || fail "close-after did not send exactly 700 messages"

replay stall --file "$DATA" --fault-stall-after 100 --fault-stall-seconds 1.5
for k in 1 2; do
	t0=$(date +%s%N)
	fetch "http://127.0.0.1:$PORT/2/rsvps" 2865 "$W/stall$k.ndjson"
	took[k]=$((($(date +%s%N) - t0) / 1000000))
	cmp -s "$W/stall$k.ndjson" "$W/sorted.ndjson" || fail "stalled stream $k is not the recording"
done
((took[1] >= 1400 && took[2] < 1400)) || fail "stall once per server: took ${took[1]} ms then ${took[2]} ms"
[[ $(metric 'rsvp_replay_faults_injected_total{kind="stall"}') == 1 ]] || fail "stall not counted once"

# --- 8. several clients at once, each walks the timeline on its own; SIGTERM exits 0 ---
replay multi --file "$DATA"
pids=()
for k in 1 2 3 4; do
	curl -sN "http://127.0.0.1:$PORT/2/rsvps" >"$W/multi$k.ndjson" &
	pids+=($!)
done
wait_for "[[ \$(cat $W/multi{1,2,3,4}.ndjson | wc -l) -ge $((4 * 2865)) ]]" 30 || fail "4 clients did not all get the file"
[[ $(metric rsvp_replay_active_connections) == 4 ]] || fail "active connections $(metric rsvp_replay_active_connections), want 4"
for k in 1 2 3 4; do cmp -s "$W/multi$k.ndjson" "$W/sorted.ndjson" || fail "client $k got a different stream"; done
rc=0
stop_bg multi 10 || rc=$?
((rc == 0)) || fail "SIGTERM exit status $rc"
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pass
