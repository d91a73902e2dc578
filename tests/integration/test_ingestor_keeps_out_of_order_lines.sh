#!/usr/bin/env bash
# test_ingestor_keeps_out_of_order_lines: a live stream is not sorted by mtime (the recorded
# RSVPs, in their recorded order, go back in mtime 1,956 times). On one connection, with no
# reconnect, every line is new: none may be dropped as "behind the resume point". Then the
# source is cut and the ingestor restarted: the resumed connection still drops what is committed.
set -euo pipefail
. "$(dirname "$0")/ingestor_lib.sh"
ingestor_init test_ingestor_keeps_out_of_order_lines
command -v python3 >/dev/null || fail "python3 not installed"


# A stream server that sends the file in its own order and keeps the connection open; with
# ?since_mtime=L it sends, as the Meetup API does, the lines with mtime >= L (sorted) first.
cat >"$TEST_DIR/server.py" <<'PY'
import http.server, json, sys, time, urllib.parse
lines = open(sys.argv[2], "rb").read().splitlines(keepends=True)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        body = lines
        if "since_mtime" in q:
            since = int(q["since_mtime"][0])
            body = sorted((l for l in lines if json.loads(l)["mtime"] >= since),
                          key=lambda l: json.loads(l)["mtime"])
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"".join(body))
        self.wfile.flush()
        time.sleep(120)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
N=$(wc -l <"$DATA")
free_port && SPORT=$PORT
start_bg stream python3 "$TEST_DIR/server.py" "$SPORT" "$DATA"
wait_for "(exec 3<>/dev/tcp/127.0.0.1/$SPORT) 2>/dev/null" 10 || fail "stream server did not come up"
REPLAY_PORT=$SPORT # start_ingestor reads the source from here
start_ingestor COMMIT_INTERVAL=100ms INITIAL_SINCE_MTIME=-1
wait_for "[ \$(metric rsvp_ingestor_lines_total) -ge $N ]" 30 || fail "not all $N lines received"
wait_topic_count "$N" 20 || true
got=$(topic_count)
dropped=$(metric rsvp_ingestor_duplicates_dropped_total)
[ "$got" -eq "$N" ] || fail "topic holds $got of $N lines ($dropped dropped as duplicates)"
# restart: resumes at since_mtime = highest committed mtime, the repeated lines at L are dropped
stop_ingestor
start_ingestor COMMIT_INTERVAL=100ms INITIAL_SINCE_MTIME=-1
wait_for "[ \$(metric rsvp_ingestor_duplicates_dropped_total) -ge 1 ]" 30 ||
    fail "the restarted ingestor did not drop the line(s) at its resume point"
stop_ingestor
topic_dump "$TEST_DIR/got.raw"
[ "$(wc -l <"$TEST_DIR/got.raw")" -eq "$N" ] || fail "after restart: $(wc -l <"$TEST_DIR/got.raw") lines, want $N"
LC_ALL=C sort "$TEST_DIR/got.raw" | cmp -s - <(LC_ALL=C sort "$DATA") || fail "topic differs from the stream"
pass
