#!/usr/bin/env bash
# hostile.sh: attack a running rsvp-writer as anyone holding a valid aggregator certificate (or no
# certificate at all) could, and check that nothing got in: every attack of `rsvp-writer-client
# hostile` refused (no certificate, another CA's, plain TCP included), no key of the attacks in the
# database, the writer's memory under its limit and its connections under MAX_CONNECTIONS while it
# happens. Works against a local writer (tests/integration/test_writer_hostile_clients_change_nothing.sh)
# and one in a cluster (test_k8s_cluster.sh runs it from the host at the writer pod's node address and port).
#
# Usage: tools/writer-client/hostile.sh --url tls+tcp://HOST:PORT --ca CA --cert CERT --key KEY
#          [--server-name NAME]    DNS name in the writer's certificate (default: the URL's host)
#          [--topic T] [--partition P]  the partition attacked (default rsvps.parsed 0)
#          [--attacks LIST]        comma-separated attack names (default all; see rsvp-writer-client --help)
#          [--connections N]       connections opened at once (default 2000)
#          [--timeout D]           per request (default 20s)
#          [--max-request-bytes S] the writer's MAX_REQUEST_BYTES (default 8M)
#          [--pg-url URL]          check the database: no key of the attacks, no offset past 2^53
#          [--idle]                nothing else writes meanwhile: the whole database must not change
#          [--metrics URL]         the writer's /metrics, sampled every 0.2 s during the attacks
#          [--memory-limit BYTES]  peak process_resident_memory_bytes must stay below (default 268435456)
#          [--max-connections N]   peak rsvp_writer_connections must not exceed it
#          [--client PATH]         rsvp-writer-client (default: build/bin, then PATH)
# Prints the client's JSON lines and one "ok:"/"FAIL:" line per check; exit 0 when all pass.
set -euo pipefail

URL= CA= CERT= KEY= NAME= TOPIC=rsvps.parsed PART=0 ATTACKS=all CONNS=2000 TIMEOUT=20s MAXREQ=8M
PGURL_CHECK= IDLE=0 METRICS= MEMLIMIT=268435456 MAXCONNS= CLIENT=
while (($#)); do
	case $1 in
	--url) URL=$2 ;;
	--ca) CA=$2 ;;
	--cert) CERT=$2 ;;
	--key) KEY=$2 ;;
	--server-name) NAME=$2 ;;
	--topic) TOPIC=$2 ;;
	--partition) PART=$2 ;;
	--attacks) ATTACKS=$2 ;;
	--connections) CONNS=$2 ;;
	--timeout) TIMEOUT=$2 ;;
	--max-request-bytes) MAXREQ=$2 ;;
	--pg-url) PGURL_CHECK=$2 ;;
	--idle) IDLE=1 && shift && continue ;;
	--metrics) METRICS=$2 ;;
	--memory-limit) MEMLIMIT=$2 ;;
	--max-connections) MAXCONNS=$2 ;;
	--client) CLIENT=$2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' && exit 0 ;;
	*) echo "hostile.sh: unknown argument $1 (see --help)" >&2 && exit 2 ;;
	esac
	shift 2
done
[[ -n $URL && -n $CA && -n $CERT && -n $KEY ]] || { echo "hostile.sh: --url, --ca, --cert and --key are required" >&2 && exit 2; }
if [[ -z $CLIENT ]]; then
	CLIENT=$(cd "$(dirname "$0")/../.." && pwd)/build/bin/rsvp-writer-client
	[[ -x $CLIENT ]] || CLIENT=$(command -v rsvp-writer-client || true)
fi
[[ -x $CLIENT ]] || { echo "hostile.sh: rsvp-writer-client not found (--client)" >&2 && exit 2; }
command -v openssl >/dev/null || { echo "hostile.sh: openssl not found" >&2 && exit 2; }

WORK=$(mktemp -d /tmp/rsvp-hostile.XXXXXX)
SAMPLER=
cleanup() {
	[[ -n $SAMPLER ]] && kill "$SAMPLER" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
failed=0
check() { # check CONDITION-RESULT WHAT
	if (($1 == 0)); then echo "ok: $2"; else
		echo "FAIL: $2"
		failed=1
	fi
}

# A client certificate from a CA the writer does not trust (the "other_ca" attack).
(
	cd "$WORK"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=not the rsvp CA" \
		-keyout other-ca.key -out other-ca.crt -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign >>openssl.log 2>&1
	printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' >ext
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=aggregator" \
		-keyout intruder.key -out intruder.csr >>openssl.log 2>&1
	openssl x509 -req -in intruder.csr -CA other-ca.crt -CAkey other-ca.key -CAcreateserial -days 1 -extfile ext \
		-out intruder.crt >>openssl.log 2>&1
) || { echo "hostile.sh: openssl failed: $(tail -n 3 "$WORK/openssl.log")" >&2 && exit 2; }

db() { psql "$PGURL_CHECK" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
STATE_SQL="SELECT (SELECT count(*) || ':' || coalesce(sum(response_count), 0) FROM rsvp_counts) || '|' ||
  (SELECT count(*) || ':' || coalesce(sum(next_offset), 0) FROM rsvp_offsets) || '|' ||
  (SELECT count(*) FROM rsvp_batches) || '|' || (SELECT count(*) FROM meetup_table)"
before=
[[ -n $PGURL_CHECK && $IDLE == 1 ]] && before=$(db "$STATE_SQL")

# The writer's memory and connections, sampled while the attacks run.
if [[ -n $METRICS ]]; then
	(
		while :; do
			curl -fsS -m 2 "$METRICS" 2>/dev/null |
				awk '$1 == "process_resident_memory_bytes" || $1 == "rsvp_writer_connections" { print $1, $2 }'
			sleep 0.2
		done
	) >"$WORK/samples" &
	SAMPLER=$!
fi

args=(--url "$URL" --timeout "$TIMEOUT" --tls-ca "$CA" --tls-cert "$CERT" --tls-key "$KEY")
[[ -n $NAME ]] && args+=(--tls-server-name "$NAME")
rc=0
"$CLIENT" "${args[@]}" hostile --topic "$TOPIC" --partition "$PART" --attack "$ATTACKS" --connections "$CONNS" \
	--max-request-bytes "$MAXREQ" --other-cert "$WORK/intruder.crt" --other-key "$WORK/intruder.key" \
	$([[ $IDLE == 1 ]] && echo --offset-must-hold) | tee "$WORK/out" || rc=$?
check "$rc" "rsvp-writer-client hostile: every attack refused, the writer answers again (exit $rc)"
again=$(grep -o '"answered_again_after_ms":-\{0,1\}[0-9]*' "$WORK/out" | cut -d: -f2)
[[ -n $again && $again -ge 0 ]] && r=0 || r=1
check $r "the writer takes new connections after the attacks (after ${again:-?} ms)"
n=$(grep -c '"verdict":"refused"' "$WORK/out" || true)
ran=$(grep -c '"attack":' "$WORK/out" || true)
[[ $n == "$ran" && $n -ge 1 && ($n -ge 19 || $ATTACKS != all) ]] && r=0 || r=1
check $r "$n of $ran attacks ran and were refused"
# Each refusal is the one expected: the reason of the writer's checks, STALE, or no answer at all.
bad=$(python3 - "$WORK/out" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if "attack" not in o or "error" in o:
        continue
    exp, msg, rep = o["expect"], o.get("message", ""), o["replies"]
    if exp == "no reply":
        ok = not rep
    elif exp == "STALE":
        ok = set(rep) == {"STALE"}
    elif exp == "ERROR":  # refused by the database; STALE when the partition moved meanwhile
        ok = len(rep) == 1 and set(rep) <= {"ERROR", "STALE"}
    else:  # a reason: every answer an ERROR with it (the many-connection attacks may also time out)
        ok = set(rep) <= {"ERROR"} and (not rep or msg.startswith(exp + ":"))
    if not ok:
        print(o["attack"], rep, msg)
EOF
)
[[ -z $bad ]] && r=0 || r=1
check $r "every attack got the answer expected${bad:+: $bad}"

if [[ -n $SAMPLER ]]; then
	kill "$SAMPLER" 2>/dev/null || true
	wait "$SAMPLER" 2>/dev/null || true
	SAMPLER=
	peak=$(awk '$1 == "process_resident_memory_bytes" && $2 > m { m = $2 } END { printf "%.0f", m }' "$WORK/samples")
	conns=$(awk '$1 == "rsvp_writer_connections" && $2 > m { m = $2 } END { printf "%.0f", m }' "$WORK/samples")
	samples=$(grep -c process_resident "$WORK/samples" || true)
	((samples > 0 && peak > 0 && peak < MEMLIMIT)) && r=0 || r=1
	check $r "writer memory: peak $peak bytes < $MEMLIMIT ($samples samples)"
	if [[ -n $MAXCONNS ]]; then
		((conns <= MAXCONNS)) && r=0 || r=1
		check $r "writer connections: peak $conns <= $MAXCONNS"
	fi
fi

if [[ -n $PGURL_CHECK ]]; then
	keys=$(db "SELECT (SELECT count(*) FROM rsvp_counts WHERE event_name LIKE 'hostile-%') + (SELECT count(*) FROM meetup_table WHERE event_name LIKE 'hostile-%')")
	((keys == 0)) && r=0 || r=1
	check $r "no key of the attacks in rsvp_counts or meetup_table ($keys)"
	far=$(db "SELECT count(*) FROM rsvp_offsets WHERE next_offset > 9007199254740992")
	((far == 0)) && r=0 || r=1
	check $r "no stored offset beyond 2^53 ($far)"
	if [[ $IDLE == 1 ]]; then
		after=$(db "$STATE_SQL")
		[[ $after == "$before" ]] && r=0 || r=1
		check $r "the database did not change: $before -> $after"
	fi
fi
((failed == 0)) && echo "PASS: hostile clients got nothing in ($URL)" || echo "FAIL: see above ($URL)"
exit $failed
