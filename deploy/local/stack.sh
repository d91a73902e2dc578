#!/usr/bin/env bash
# The local stack the pipeline runs and is tested against: a single-node Kafka (kafka.sh) and a PostgreSQL 15
# cluster (postgres.sh), both started in parallel. Ports and state dirs come from the same environment variables
# as the two scripts (KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_VAR, PG_PORT, PG_VAR).
set -euo pipefail
PROG=stack
source "$(dirname "$0")/common.sh"
HERE=$ROOT/deploy/local

usage() {
	echo "usage: deploy/local/stack.sh up|down|status|clean   (single-node Kafka + PostgreSQL, see kafka.sh/postgres.sh)"
}

# both CMD: runs "kafka.sh CMD" and "postgres.sh CMD" in parallel, prints their output in a fixed order,
# fails if either failed.
both() {
	local out_k out_p rc_k=0 rc_p=0 pid_k pid_p
	out_k=$(mktemp) out_p=$(mktemp)
	"$HERE/kafka.sh" "$1" >"$out_k" 2>&1 &
	pid_k=$!
	"$HERE/postgres.sh" "$1" >"$out_p" 2>&1 &
	pid_p=$!
	wait "$pid_k" || rc_k=$?
	wait "$pid_p" || rc_p=$?
	cat "$out_k" "$out_p"
	rm -f "$out_k" "$out_p"
	((rc_k == 0 && rc_p == 0))
}

cmd=${1:-}
t0=$(now_ms)
case $cmd in
up)
	both up || die "start failed (see above); 'deploy/local/stack.sh status' shows what runs"
	brokers=$("$HERE/kafka.sh" brokers | cut -d, -f1) # the single node is listed first
	pgurl=$("$HERE/postgres.sh" url)
	say "up in $(since "$t0") s. Use:"
	echo "  export KAFKA_BROKERS=$brokers"
	echo "  export PGURL=$pgurl PG_URL=$pgurl"
	echo "  kcat -b $brokers -L          psql $pgurl"
	echo "  stop: deploy/local/stack.sh down   (state: ${KAFKA_VAR:-var/kafka}, ${PG_VAR:-var/postgres})"
	;;
down) both down ;;
status) "$HERE/kafka.sh" status; "$HERE/postgres.sh" status ;;
clean) both clean ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
