#!/usr/bin/env bash
# test_ingestor_skips_line_broker_refuses: a line under MAX_LINE_BYTES that the broker still
# refuses (MAX_LINE_BYTES=2M, an incompressible 1.5 MB line: over the broker's message.max.bytes)
# must be skipped and counted as oversize, not abort, refetch and abort again forever: the lines
# after it reach the topic exactly once.
set -euo pipefail
. "$(dirname "$0")/ingestor_lib.sh"
ingestor_init test_ingestor_skips_line_broker_refuses
command -v python3 >/dev/null || fail "python3 not installed"


# 20 recorded lines sorted by mtime, a huge random line in the middle (mtime between its
# neighbours), served by a tiny stream server that ignores since_mtime and keeps the connection
# open (a reconnect re-sends everything: the resume filter drops what is committed).
python3 - "$DATA" "$TEST_DIR" <<'PY'
import base64, json, os, sys
src, d = sys.argv[1], sys.argv[2]
lines = [l.rstrip("\n") for l in open(src, encoding="utf-8")][:20]
lines.sort(key=lambda l: json.loads(l)["mtime"])
want = lines[:]
m10, m9 = json.loads(lines[10])["mtime"], json.loads(lines[9])["mtime"]
pad = base64.b64encode(os.urandom(1125000)).decode()  # ~1,500,000 incompressible bytes
huge = json.dumps({"rsvp_id": 999000111, "mtime": m9, "pad": pad}, separators=(",", ":"))
lines.insert(10, huge)
open(d + "/stream.ndjson", "w").write("\n".join(lines) + "\n")
open(d + "/want", "w").write("\n".join(sorted(want)) + "\n")
print(len(huge), file=sys.stderr)
PY
cat >"$TEST_DIR/server.py" <<'PY'
import http.server, sys, time
body = open(sys.argv[2], "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        time.sleep(120)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
free_port && SPORT=$PORT
start_bg stream python3 "$TEST_DIR/server.py" "$SPORT" "$TEST_DIR/stream.ndjson"
wait_for "(exec 3<>/dev/tcp/127.0.0.1/$SPORT) 2>/dev/null" 10 || fail "stream server did not come up"
REPLAY_PORT=$SPORT # start_ingestor reads the source from here
start_ingestor COMMIT_INTERVAL=100ms INITIAL_SINCE_MTIME=0 MAX_LINE_BYTES=2M
wait_topic_count 20 120 || fail "topic has $(topic_count) of 20 lines after 120 s (aborts: $(metric rsvp_ingestor_transaction_aborts_total))"
[ "$(metric rsvp_ingestor_oversize_lines_total)" -ge 1 ] || fail "the refused line was not counted as oversize"
stop_ingestor
topic_dump "$TEST_DIR/got.raw"
LC_ALL=C sort "$TEST_DIR/got.raw" >"$TEST_DIR/got"
LC_ALL=C sort "$TEST_DIR/want" -o "$TEST_DIR/want"
cmp -s "$TEST_DIR/want" "$TEST_DIR/got" || fail "topic differs: want 20 lines, got $(wc -l <"$TEST_DIR/got")"
pass
