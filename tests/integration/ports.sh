# ports.sh: the one TCP port allocator of the integration tests (sourced by lib.sh and writer_lib.sh).
# A port is reserved by an atomic symlink $TEST_PORTS_DIR/PORT -> the test's pid, so two calls never hand out
# the same port: not from $(...) subshells of one test, not across tests running at once. Reservations of a
# test that is gone (killed, crashed) are taken over; port_release_all drops a test's own on exit.
# Dynamic ports come from 30000-30999; tests with fixed ports use 31500-31999 and 32100+.

TEST_PORTS_DIR=${TEST_PORTS_DIR:-/tmp/rsvp-test-ports}
TEST_PORTS_LO=${TEST_PORTS_LO:-30000}
TEST_PORTS_N=${TEST_PORTS_N:-1000}

# port_try PORT: reserves PORT for this test ($$) if no live test holds it and nobody listens there; returns 1
# otherwise (a port someone outside the tests listens on stays reserved, so nobody tries it again).
port_try() {
	local p=$1 owner link=$TEST_PORTS_DIR/$1
	if ! ln -s "$$" "$link" 2>/dev/null; then
		owner=$(readlink "$link" 2>/dev/null) || return 1
		[[ $owner == "$$" ]] && return 1 # ours already
		[[ -n $owner ]] && kill -0 "$owner" 2>/dev/null && return 1
		rm -f "$link" # its test is gone
		ln -s "$$" "$link" 2>/dev/null || return 1
	fi
	(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 1
	return 0
}

# port_reserve: prints a port nobody listens on and no live test holds, reserved for this test ($$); returns 1
# if none was found.
port_reserve() {
	local p i
	mkdir -p "$TEST_PORTS_DIR" 2>/dev/null || true
	for ((i = 0; i < 2000; i++)); do
		p=$((TEST_PORTS_LO + (RANDOM * 32768 + RANDOM) % TEST_PORTS_N))
		port_try "$p" && { echo "$p"; return 0; }
	done
	return 1
}

# port_reserve_block N: prints the first of N consecutive ports, each reserved as port_reserve does (for a
# tool that derives its ports from a base, as rsvpctl does from metrics-port-base); returns 1 if none was
# found. The ports of a block that could not be completed are released again.
port_reserve_block() {
	local n=$1 p i k
	mkdir -p "$TEST_PORTS_DIR" 2>/dev/null || true
	for ((i = 0; i < 500; i++)); do
		p=$((TEST_PORTS_LO + (RANDOM * 32768 + RANDOM) % (TEST_PORTS_N - n)))
		for ((k = 0; k < n; k++)); do
			port_try $((p + k)) || break
		done
		((k == n)) && { echo "$p"; return 0; }
		while ((k-- > 0)); do rm -f "$TEST_PORTS_DIR/$((p + k))"; done
	done
	return 1
}

# port_release_all: drops every reservation of this test.
port_release_all() {
	local link
	for link in "$TEST_PORTS_DIR"/*; do
		[[ -L $link && $(readlink "$link") == "$$" ]] && rm -f "$link"
	done
	return 0
}
