# parser_lib.sh: helpers of the rsvp-parser integration tests (sourced after lib.sh and lib_init).
# parser_setup makes the topics and the raw input; parser_start runs a replica; parser_verify checks
# the topics (tests/integration/parser_check.py) and the group's committed offsets.

DATA=${RSVP_DATA_DIR:-$LIB_ROOT/../shared/data}
RECORDED=$DATA/meetup-rsvps-recorded.ndjson

# parser_setup: topics $RAW (4 partitions), $PARSED, $DLQ and group $GROUP unique to this run; the raw
# topic filled with the recorded RSVPs plus the bad messages. Sets TOTAL, GOOD, BAD.
parser_setup() {
	need_bin rsvp-parser
	[[ -f $RECORDED ]] || fail "no recorded data at $RECORDED (set RSVP_DATA_DIR)"
	RAW=parser-$SUFFIX.raw PARSED=parser-$SUFFIX.parsed DLQ=parser-$SUFFIX.dlq GROUP=parser-$SUFFIX
	kafka_topic "$RAW" 4 || fail "creating $RAW"
	python3 tests/integration/parser_check.py gen "$RECORDED" "$TEST_DIR" || fail "generating input"
	TOTAL=$(wc -l <"$TEST_DIR/input.txt")
	GOOD=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["good"])' "$TEST_DIR/expect.json")
	BAD=$((TOTAL - GOOD))
	# keyed by line number so the messages spread over the 4 partitions
	kcat -P -b "$KAFKA_BROKERS" -t "$RAW" -K $'\t' -l "$TEST_DIR/input.txt" || fail "producing $RAW"
}

# parser_free_port: a free TCP port of the parser's range 31150-31199.
parser_free_port() {
	local p
	for p in $(shuf -i 31150-31199); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}

# parser_start NAME INSTANCE_ID PORT [ARGS...]: a replica in the background (lib.sh's start_bg), small
# transactions so a run spans many of them, a short session timeout so a killed member leaves fast.
parser_start() {
	local name=$1 instance=$2 port=$3
	shift 3
	start_bg "$name" env RAW_TOPIC="$RAW" PARSED_TOPIC="$PARSED" DLQ_TOPIC="$DLQ" GROUP_ID="$GROUP" \
		INSTANCE_ID="$instance" TXN_MESSAGES=20 TXN_INTERVAL=50ms METRICS_ADDR="127.0.0.1:$port" \
		"$BIN/rsvp-parser" -X bootstrap.servers="$KAFKA_BROKERS" -X session.timeout.ms=6000 \
		-X heartbeat.interval.ms=500 "$@"
}

# parser_metric PORT REGEX: the sum of the samples whose name matches ^REGEX (0 if unreachable).
parser_metric() {
	{ curl -s "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } |
		awk -v re="^$2" '$1 ~ re {s += $2} END {printf "%d\n", s}'
}

# parser_invariant PORT: the replica's metrics say consumed = parsed + dead-lettered.
parser_invariant() {
	local c p d
	c=$(parser_metric "$1" rsvp_parser_consumed_total)
	p=$(parser_metric "$1" rsvp_parser_parsed_total)
	d=$(parser_metric "$1" rsvp_parser_dead_lettered_total)
	((c == p + d)) || fail "metrics on :$1: consumed $c != parsed $p + dead-lettered $d"
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
