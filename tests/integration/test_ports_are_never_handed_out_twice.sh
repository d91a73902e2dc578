#!/usr/bin/env bash
# test_ports_are_never_handed_out_twice.sh: ports.sh's port_reserve gives distinct ports to $(...) subshells of
# one test (the bug that made an aggregator and a writer share a metrics port), keeps a live test's ports
# from another test, and takes over the reservations of a test that is gone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init test_ports_are_never_handed_out_twice
export TEST_PORTS_DIR=$TEST_DIR/ports TEST_PORTS_LO=30000 TEST_PORTS_N=60

# 1. fifty subshells of this test: fifty different ports
ports=()
for _ in $(seq 1 50); do ports+=("$(port_reserve)") || fail "no port"; done
[[ $(printf '%s\n' "${ports[@]}" | sort -u | wc -l) == 50 ]] || fail "a port handed out twice: ${ports[*]}"

# 2. another live test cannot get any of them: 10 ports are left for it, and the 11th call fails
other=$(bash -c '. tests/integration/ports.sh; for i in $(seq 1 10); do port_reserve || exit 1; done
	port_reserve && echo "11th port" >&2; sleep 0' 2>&1 | tr '\n' ' ') || true
for p in $other; do
	[[ " ${ports[*]} " == *" $p "* ]] && fail "port $p of this live test handed to another"
done
[[ $other != *"11th port"* ]] || fail "more ports than the range holds: $other"

# 3. that other test has exited: its 10 reservations are stale and taken over
more=()
for _ in $(seq 1 10); do more+=("$(port_reserve)") || fail "stale reservations were not taken over"; done

# 4. release: this test's reservations are gone
port_release_all
left=$(find "$TEST_PORTS_DIR" -type l | wc -l)
((left == 0)) || fail "$left reservation(s) left after port_release_all"
pass
