# parser_lib.sh: helpers of the rsvp-parser integration tests (sourced after lib.sh and lib_init).
# parser_setup makes the topics and the raw input; parser_start runs a replica; parser_verify checks
# the topics (tests/integration/parser_check.py) and the group's committed offsets.

RECORDED=$TESTDATA_RECORDED

# parser_setup [LINES]: topics $RAW (4 partitions), $PARSED, $DLQ and group $GROUP unique to this run; the
# raw topic filled with the recorded RSVPs plus the bad messages, or only with the first LINES of them (the
# test produces the rest with parser_produce). Sets TOTAL, GOOD, BAD and PRODUCED (lines produced so far).
parser_setup() {
	need_bin rsvp-parser
	[[ -f $RECORDED ]] || fail "no recorded data at $RECORDED (set RSVP_DATA_DIR)"
	RAW=parser-$SUFFIX.raw PARSED=parser-$SUFFIX.parsed DLQ=parser-$SUFFIX.dlq GROUP=parser-$SUFFIX
	kafka_topic "$RAW" 4 || fail "creating $RAW"
	python3 tests/integration/parser_check.py gen "$RECORDED" "$TEST_DIR" || fail "generating input"
	TOTAL=$(wc -l <"$TEST_DIR/input.txt")
	GOOD=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["good"])' "$TEST_DIR/expect.json")
	BAD=$((TOTAL - GOOD))
	PRODUCED=0
	parser_produce "${1:-$TOTAL}"
}

# parser_produce [N]: produces the next N lines of the input to $RAW (default: all that are left), keyed
# by line number so the messages spread over the 4 partitions; the order in a partition is the input's.
parser_produce() {
	local n=${1:-$((TOTAL - PRODUCED))}
	((PRODUCED + n <= TOTAL)) || n=$((TOTAL - PRODUCED))
	((n > 0)) || return 0
	sed -n "$((PRODUCED + 1)),$((PRODUCED + n))p" "$TEST_DIR/input.txt" >"$TEST_DIR/chunk.txt"
	kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -K $'\t' -l "$TEST_DIR/chunk.txt" || fail "producing $RAW"
	PRODUCED=$((PRODUCED + n))
}

# parser_free_port: a free TCP port reserved for this test (ports.sh).
parser_free_port() { port_reserve; }

# parser_start NAME INSTANCE_ID PORT [ARGS...]: a replica in the background (lib.sh's start_bg), small
# transactions so a run spans many of them, a short session timeout so a killed member leaves fast.
parser_start() {
	local name=$1 instance=$2 port=$3
	shift 3
	# strict mode: these tests check its dead-letter reasons, too_large at 64k (reference mode: tests/differential)
	start_bg "$name" env VALIDATION=strict MAX_MESSAGE_BYTES=64k RAW_TOPIC="$RAW" PARSED_TOPIC="$PARSED" DLQ_TOPIC="$DLQ" GROUP_ID="$GROUP" \
		INSTANCE_ID="$instance" TXN_MESSAGES=20 TXN_INTERVAL=50ms METRICS_ADDR="127.0.0.1:$port" \
		"$BIN/rsvp-parser" -X bootstrap.servers="$KAFKA_BROKERS" -X session.timeout.ms=6000 \
		-X heartbeat.interval.ms=500 "$@"
}

# parser_metric PORT REGEX: the sum of the samples whose name matches ^REGEX (0 if unreachable).
parser_metric() {
	{ curl -s "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } |
		awk -v re="^$2" '$1 ~ re {s += $2} END {printf "%d\n", s}'
}

# parser_invariant PORT [TIMEOUT_S]: the replica's metrics say consumed = parsed + dead-lettered. The three
# counters are read from ONE scrape: separate scrapes of a replica that is still committing see different
# transactions. Even one scrape can tear (a commit adds dead-lettered, parsed, then consumed while /metrics
# renders them), so poll until a scrape shows the invariant (default 30 s); a real miscount stays wrong in every
# scrape and fails at the deadline. A scrape that fails or lacks the counters never counts as a pass.
parser_invariant() {
	local port=$1 timeout=${2:-30} deadline body vals=
	deadline=$((SECONDS + timeout))
	while :; do
		if body=$(curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" 2>/dev/null); then
			vals=$(awk '$1 ~ /^rsvp_parser_consumed_total/ {c += $2; n++}
				$1 ~ /^rsvp_parser_parsed_total/ {p += $2; n++}
				$1 ~ /^rsvp_parser_dead_lettered_total/ {d += $2}
				END {printf "%d %d %d %d\n", c, p, d, n}' <<<"$body")
			set -- $vals
			(($4 >= 2 && $1 == $2 + $3)) && return 0
		fi
		((SECONDS >= deadline)) && break
		sleep 0.1
	done
	[[ -n $vals ]] || fail "metrics on :$port: no scrape succeeded within ${timeout}s"
	set -- $vals
	fail "metrics on :$port (one scrape, for ${timeout}s): consumed $1 != parsed $2 + dead-lettered $3"
}

# parser_committed_total: messages committed on the parsed and dead-letter topics (read_committed).
parser_committed_total() {
	echo $(($(kafka_count "$PARSED" || echo 0) + $(kafka_count "$DLQ" || echo 0)))
}

# parser_written_total: the same counting aborted and open transactions' messages.
parser_written_total() {
	local n=0 t
	for t in "$PARSED" "$DLQ"; do
		n=$((n + $(timeout 60 kcat -C -b "$KAFKA_BROKERS" -t "$t" -o beginning -e -q \
			-X isolation.level=read_uncommitted -f '%p\n' 2>/dev/null | wc -l)))
	done
	echo "$n"
}

# parser_verify: the topics hold exactly the expected messages, and the group's committed offsets
# are at the end of every raw partition (nothing would be redone by a restart).
parser_verify() {
	kcat -C -b "$KAFKA_BROKERS" -t "$PARSED" -o beginning -e -q -X isolation.level=read_committed \
		-f '%p %K %S\n%k%s' >"$TEST_DIR/parsed.bin" 2>/dev/null || fail "reading $PARSED"
	kcat -C -b "$KAFKA_BROKERS" -t "$DLQ" -o beginning -e -q -X isolation.level=read_committed \
		-f '%p %K %S %h\n%k%s' >"$TEST_DIR/dlq.bin" 2>/dev/null || fail "reading $DLQ"
	python3 tests/integration/parser_check.py verify "$RECORDED" "$TEST_DIR" "$RAW" ||
		fail "topic contents differ (above)"
	local lag
	lag=$(deploy/local/kafka.sh tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
		--bootstrap-server "$KAFKA_BROKERS" --describe --group "$GROUP" 2>/dev/null |
		awk -v t="$RAW" '$2 == t {n++; if ($6 != "0") bad++} END {print n + 0, bad + 0}')
	[[ ${lag%% *} -eq 4 && ${lag##* } -eq 0 ]] ||
		fail "group $GROUP: committed offsets not at the end (partitions, lagging): $lag"
}
