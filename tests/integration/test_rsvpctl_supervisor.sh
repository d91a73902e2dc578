#!/usr/bin/env bash
# test_rsvpctl_supervisor.sh: rsvpctl supervises dummy services (shell scripts named like the real
# binaries, via --bin): every replica starts with its own INSTANCE_ID / METRICS_ADDR (writer LISTEN,
# aggregator WRITER_URL, config-file env), a kill -9'd replica is restarted (restarts=1, new pid),
# scale up and down changes the process count, a second `rsvpctl up` on the same control socket is
# refused without disturbing the first, stop goes ingestor -> parser -> aggregator -> writer,
# SIGTERM to rsvpctl exits 0 and leaves no process behind, a child that ignores SIGTERM is killed
# after --stop-timeout (exit 1: not a clean stop), a crashing child is restarted with backoff but
# one exiting 2 (bad config) is not, and kill -9 of rsvpctl takes its children down
# (PR_SET_PDEATHSIG). With WRITER_SCHEME=tls+tcp the writer LISTEN and every aggregator WRITER_URL
# are tls+tcp:// and TLS_CA passes through unchanged; an unknown scheme is refused (exit 2).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_rsvpctl_supervisor
need_bin rsvpctl
RSVPCTL=$BIN/rsvpctl
export CONTROL_URL="ipc://$TEST_DIR/ctl.sock"
SEEN_PIDS=()

# every child pid ever seen is killed at exit too: they live in their own process groups
test_cleanup() {
	local rc=$? p
	for p in "${SEEN_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	(exit $rc)
	lib_cleanup
}
trap test_cleanup EXIT

# --- dummy services: log one JSON line with their settings, exit 0 on SIGTERM ---
mkdir -p "$TEST_DIR/bin"
cat >"$TEST_DIR/bin/dummy" <<'SH'
#!/usr/bin/env bash
if [ -n "${EXIT_WITH:-}" ]; then echo "{\"msg\":\"failing\"}"; exit "$EXIT_WITH"; fi
if [ "${IGNORE_TERM:-}" = 1 ]; then trap '' TERM; else trap 'echo "{\"msg\":\"bye\"}"; exit 0' TERM; fi
echo "{\"msg\":\"up\",\"instance\":\"$INSTANCE_ID\",\"metrics_addr\":\"$METRICS_ADDR\",\"listen\":\"${LISTEN:-}\",\"writer_url\":\"${WRITER_URL:-}\",\"color\":\"${COLOR:-}\",\"tls_ca\":\"${TLS_CA:-}\"}"
while :; do sleep 0.2 & wait $! || true; done
SH
chmod +x "$TEST_DIR/bin/dummy"
for s in ingestor parser aggregator writer replay; do cp "$TEST_DIR/bin/dummy" "$TEST_DIR/bin/rsvp-$s"; done

status_json() { "$RSVPCTL" status --json --ready-timeout 100ms 2>/dev/null || echo '{"processes":[]}'; }
# count STATE [SERVICE]: how many processes are in that state
count() {
	status_json | python3 -c '
import json, sys
ps = json.load(sys.stdin)["processes"]
print(sum(1 for p in ps if p["state"] == sys.argv[1] and (len(sys.argv) < 3 or p["service"] == sys.argv[2])))' "$@"
}
# field NAME KEY: one field of one process from status --json ("" if there is no such process)
field() {
	status_json | python3 -c '
import json, sys
ps = {p["name"]: p for p in json.load(sys.stdin)["processes"]}
print(ps[sys.argv[1]][sys.argv[2]] if sys.argv[1] in ps else "")' "$1" "$2"
}
alive() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" | cut -c1)" != Z ]; }
none_alive() { local p; for p in "$@"; do alive "$p" && return 1; done; return 0; }
children() { echo $(pgrep -P "$1" || true); }
nchildren() { pgrep -c -P "$1" || true; }
remember() { local p; for p in $(children "$1"); do SEEN_PIDS+=("$p"); done; }
log_of() { echo "$TEST_DIR/$1.log"; }

# --- 1. up with a config file: replicas, env for every child, env for one service ---
cat >"$TEST_DIR/rsvpctl.conf" <<CONF
# test config
replicas.parser=2
replicas.aggregator=2
env.COLOR=blue
writer.env.COLOR=red
restart-base=200ms
metrics-port-base=31500
writer-port-base=31590
CONF
start_bg up1 "$RSVPCTL" up --config "$TEST_DIR/rsvpctl.conf" --bin "$TEST_DIR/bin" --replicas ingestor=1 \
	--stop-timeout 2s
UP=$BG_PID
LOG=$(log_of up1)
wait_for '[ "$(count running)" = 6 ]' 10 || fail "6 processes not running: $(status_json)"
wait_for '[ "$(nchildren $UP)" = 6 ]' 5 || fail "rsvpctl does not have 6 children"
remember "$UP"
"$RSVPCTL" status >"$TEST_DIR/status.txt" || fail "rsvpctl status failed"
for n in writer-0 aggregator-0 aggregator-1 parser-0 parser-1 ingestor-0; do
	grep -q "^$n .* running " "$TEST_DIR/status.txt" || fail "status does not list $n as running: $(cat "$TEST_DIR/status.txt")"
done
wait_for "grep -q '\"child\":\"aggregator-1\"' $LOG" 5 || fail "no child output re-emitted"
grep -q '"child":"parser-1","line":"{\\"msg\\":\\"up\\",\\"instance\\":\\"parser-1\\",\\"metrics_addr\\":\\"127.0.0.1:31512\\"' "$LOG" ||
	fail "parser-1 did not get INSTANCE_ID/METRICS_ADDR (or its output was not re-emitted as JSON)"
grep -q '"child":"writer-0","line":"{.*listen\\":\\"tcp://127.0.0.1:31590\\".*color\\":\\"red\\"' "$LOG" ||
	fail "writer-0 did not get LISTEN or its own COLOR"
grep -q '"child":"aggregator-1","line":"{.*writer_url\\":\\"tcp://127.0.0.1:31590\\".*color\\":\\"blue\\"' "$LOG" ||
	fail "aggregator-1 did not get WRITER_URL or COLOR"

# a second supervisor on the same control socket is refused and does not disturb the first
rc=0
"$RSVPCTL" up --bin "$TEST_DIR/bin" --metrics-port-base 31540 2>"$TEST_DIR/second.log" || rc=$?
[ $rc = 1 ] || fail "second rsvpctl up exited $rc, want 1"
grep -q "another rsvpctl" "$TEST_DIR/second.log" || fail "second rsvpctl up did not say why"
[ "$(count running)" = 6 ] || fail "first supervisor disturbed by the second"

# --- 2. kill -9 of a replica: restarted with a new pid, restarts=1 ---
old=$(field parser-1 pid)
[ -n "$old" ] && [ "$old" != 0 ] || fail "no pid for parser-1"
kill -9 "$old"
wait_for '[ "$(field parser-1 restarts)" = 1 ] && [ "$(field parser-1 state)" = running ] &&
	p=$(field parser-1 pid) && [ "$p" != "$old" ] && [ "$p" != 0 ] && alive "$p"' 10 ||
	fail "parser-1 not restarted: $(status_json)"
grep -q '"msg":"restarting","child":"parser-1".*"signal":9.*"restarts":1' "$LOG" ||
	fail "no 'restarting' log line with signal and restart count (killed $old): $(grep -v '"msg":"child"' "$LOG" | grep 'parser-1')"
[ "$(field parser-1 last_exit)" = "signal 9" ] || fail "last_exit is not 'signal 9'"
remember "$UP"

# --- 3. scale up, then down (highest index first, graceful) ---
"$RSVPCTL" scale parser=4 >/dev/null || fail "scale up refused"
wait_for '[ "$(count running parser)" = 4 ]' 10 || fail "not 4 parsers: $(status_json)"
wait_for '[ "$(nchildren $UP)" = 8 ]' 5 || fail "not 8 children after scale up"
remember "$UP"
p2=$(field parser-2 pid) p3=$(field parser-3 pid) a1=$(field aggregator-1 pid)
"$RSVPCTL" scale parser=2 aggregator=1 >/dev/null || fail "scale down refused"
wait_for '[ "$(nchildren $UP)" = 5 ]' 10 || fail "not 5 children after scale down"
wait_for "none_alive $p2 $p3 $a1" 5 || fail "removed replicas still alive"
[ -z "$(field parser-3 pid)" ] && [ -n "$(field parser-1 pid)" ] || fail "scale-down removed the wrong replicas"
grep -q '"msg":"stopped","child":"parser-3","exit_code":0' "$LOG" || fail "parser-3 not stopped gracefully"
"$RSVPCTL" scale writer=2 2>"$TEST_DIR/err.txt" && fail "writer scale should be refused"
grep -q "writer count is fixed" "$TEST_DIR/err.txt" || fail "writer scale refusal not explained"
rc=0
"$RSVPCTL" scale bogus=1 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "bad scale spec: exit $rc, want 2"

# --- 4. SIGTERM to rsvpctl: ordered stop, exit 0, nothing left ---
pids=$(children "$UP")
rc=0
stop_bg up1 30 || rc=$?
[ $rc = 0 ] || fail "rsvpctl exited $rc after SIGTERM"
none_alive $pids || fail "children left behind after SIGTERM: $pids"
order=$(grep -o '"msg":"stopping","child":"[a-z]*' "$LOG" | sed 's/.*"child":"//' | uniq | tr '\n' ' ')
case "$order" in
*"ingestor parser aggregator writer "*) ;;
*) fail "stop order was: $order" ;;
esac
"$RSVPCTL" status >/dev/null 2>&1 && fail "status answered after the stop"

# --- 5. a child that ignores SIGTERM is killed after --stop-timeout; `rsvpctl stop` waits for it ---
start_bg up2 env IGNORE_TERM=1 "$RSVPCTL" up --bin "$TEST_DIR/bin" \
	--replicas ingestor=0,parser=1,aggregator=0,writer=0 --metrics-port-base 31500 --stop-timeout 1s
UP=$BG_PID
wait_for '[ "$(count running)" = 1 ]' 10 || fail "parser that ignores SIGTERM not running"
pids=$(children "$UP")
remember "$UP"
"$RSVPCTL" stop --wait 20s || fail "rsvpctl stop failed"
rc=0
stop_bg up2 5 || rc=$?
[ $rc = 1 ] || fail "rsvpctl exited $rc after a stop that needed SIGKILL, want 1"
grep -q '"msg":"killing after stop timeout","child":"parser-0"' "$(log_of up2)" || fail "no SIGKILL after the stop timeout"
none_alive $pids || fail "child that ignores SIGTERM left behind"

# --- 6. a crashing child is retried with backoff; exit 2 (bad config) is not retried; the stop
# does not wait for pending restarts ---
cat >"$TEST_DIR/crash.conf" <<CONF
parser.env.EXIT_WITH=1
writer.env.EXIT_WITH=2
replicas.ingestor=0
replicas.aggregator=0
replicas.parser=1
replicas.writer=1
restart-base=2s
metrics-port-base=31500
CONF
start_bg up5 "$RSVPCTL" up --config "$TEST_DIR/crash.conf" --bin "$TEST_DIR/bin"
UP=$BG_PID
wait_for '[ "$(field parser-0 state)" = restarting ] && [ "$(field parser-0 restarts)" -ge 1 ]' 10 ||
	fail "crashing parser not restarting: $(status_json)"
wait_for '[ "$(field writer-0 state)" = stopped ]' 10 || fail "writer exiting 2 not stopped: $(status_json)"
[ "$(field writer-0 restarts)" = 0 ] && [ "$(field writer-0 last_exit)" = "exit 2" ] ||
	fail "writer exiting 2 was restarted: $(status_json)"
grep -q '"msg":"restarting","child":"parser-0","exit_code":1' "$(log_of up5)" || fail "no restarting line for exit 1"
t0=$SECONDS
"$RSVPCTL" stop --wait 10s || fail "stop with a pending restart failed"
rc=0
stop_bg up5 5 || rc=$?
[ $rc = 0 ] || fail "rsvpctl exited $rc: $(grep -v '^{"ts"' "$(log_of up5)")"
[ $((SECONDS - t0)) -le 3 ] || fail "stop waited for a pending restart"

# --- 7. kill -9 of rsvpctl: the kernel sends SIGTERM to its children (this run: writer link over TLS) ---
rc=0
"$RSVPCTL" up --bin "$TEST_DIR/bin" --writer-scheme ipc 2>"$TEST_DIR/scheme.log" || rc=$?
[ $rc = 2 ] || fail "--writer-scheme ipc: exit $rc, expected 2"
start_bg up3 env WRITER_SCHEME=tls+tcp TLS_CA=/pki/ca.crt "$RSVPCTL" up --bin "$TEST_DIR/bin" \
	--metrics-port-base 31500 --writer-port-base 31590 --replicas writer=2
UP=$BG_PID
wait_for '[ "$(count running)" = 7 ]' 10 || fail "7 processes not running again"
LOG=$(log_of up3)
wait_for "grep -q '\"child\":\"aggregator-1\"' $LOG" 5 || fail "no aggregator output"
grep -q '"child":"writer-1","line":"{.*listen\\":\\"tls+tcp://127.0.0.1:31591\\".*tls_ca\\":\\"/pki/ca.crt\\"' "$LOG" ||
	fail "writer-1 did not get LISTEN=tls+tcp://... and TLS_CA: $(grep writer-1 "$LOG")"
grep -q '"child":"aggregator-1","line":"{.*writer_url\\":\\"tls+tcp://127.0.0.1:31590,tls+tcp://127.0.0.1:31591\\".*tls_ca\\":\\"/pki/ca.crt\\"' "$LOG" ||
	fail "aggregator-1 did not get WRITER_URL=tls+tcp://... and TLS_CA: $(grep aggregator-1 "$LOG")"
pids=$(children "$UP")
remember "$UP"
kill -9 "$UP"
{ wait "$UP"; } 2>/dev/null || true # also keeps bash from reporting "Killed"
wait_for "none_alive $pids" 10 || fail "orphans left after kill -9 of rsvpctl: $pids"

# --- 8. the stale control socket file of the killed rsvpctl does not block the next start ---
start_bg up4 "$RSVPCTL" up --bin "$TEST_DIR/bin" --replicas ingestor=0,parser=1,aggregator=0,writer=0 \
	--metrics-port-base 31500
UP=$BG_PID
wait_for '[ "$(count running)" = 1 ]' 10 || fail "no start after kill -9: $(cat "$(log_of up4)")"
pids=$(children "$UP")
remember "$UP"
"$RSVPCTL" stop >/dev/null || fail "stop failed"
rc=0
stop_bg up4 5 || rc=$?
[ $rc = 0 ] || fail "rsvpctl exited $rc"
none_alive $pids || fail "children left behind"

pass
