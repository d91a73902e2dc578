# ports.sh: the one TCP port allocator of the integration tests (sourced by lib.sh and writer_lib.sh).
# A port is reserved by an atomic symlink $TEST_PORTS_DIR/PORT -> the test's pid, so two calls never hand out
# the same port: not from $(...) subshells of one test, not across tests running at once. Reservations of a
# test that is gone (killed, crashed) are taken over; port_release_all drops a test's own on exit.
# Dynamic ports come from 30000-30999; tests with fixed ports use 31500-31999 and 32100+.

TEST_PORTS_DIR=${TEST_PORTS_DIR:-/tmp/rsvp-test-ports}
TEST_PORTS_LO=${TEST_PORTS_LO:-30000}
TEST_PORTS_N=${TEST_PORTS_N:-1000}

# port_reserve: prints a port nobody listens on and no live test holds, reserved for this test ($$); returns 1
# if none was found.
port_reserve() {
	local p i owner link
	mkdir -p "$TEST_PORTS_DIR" 2>/dev/null || true
	for ((i = 0; i < 2000; i++)); do
		p=$((TEST_PORTS_LO + (RANDOM * 32768 + RANDOM) % TEST_PORTS_N))
		link=$TEST_PORTS_DIR/$p
		if ! ln -s "$$" "$link" 2>/dev/null; then
			owner=$(readlink "$link" 2>/dev/null) || continue
			[[ $owner == "$$" ]] && continue # ours already
			[[ -n $owner ]] && kill -0 "$owner" 2>/dev/null && continue
			rm -f "$link" # its test is gone
			ln -s "$$" "$link" 2>/dev/null || continue
		fi
		# reserved; somebody outside the tests may still listen there: then keep it reserved and move on
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		echo "$p"
		return 0
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
