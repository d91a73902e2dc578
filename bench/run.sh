#!/usr/bin/env bash
# bench/run.sh: `make bench`. Measures on this machine, in one run, everything the report compares: the
# pipeline end to end (throughput, CPU and memory per service), on a pre-filled raw topic, the reference
# Spark job on the same pre-filled topic (bench/spark.sh), the broker's own limit with kcat for the same
# bytes, the per-stage micro-benchmarks, and the cost at a steady stream: cores used and freshness at paced
# rates for the pipeline and for the Spark job (tuned and reference settings). Every ratio of the report
# comes from figures of this run. Prints one Markdown report (also $BENCH_RESULTS/latest.md) and plots
# latest.svg beside it. Progress goes to stderr. bench/ab.sh sources this file for its functions.
#   env: BENCH_SCALE (1: 2M RSVPs per backlog run; 0.05 for a quick check), BENCH_RUNS (3),
#        BENCH_RATES ("5000 10000 20000"), BENCH_WARMUP (20 s), BENCH_STEADY_SECONDS (60 s per rate and system),
#        BENCH_SPARK_SETTINGS ("tuned reference"), BENCH_SEED (1), BENCH_PORT_BASE (32100: first free block of 42
#        ports from there), KAFKA_BROKERS + PGURL (else deploy/local/stack.sh up), BUILD (build),
#        BENCH_RESULTS (bench/results), BENCH_SKIP (phases to leave out: micro,kcat,ingest,e2e,pre,spark,steady),
#        BENCH_PERF (dir: perf record each service in e2e), BENCH_REPLAY_ARGS (extra rsvp-replay flags),
#        BENCH_THREADS (dir: CPU and context switches of every thread of each service over steady windows)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
source bench/spark.sh

BUILD=${BUILD:-build}
BIN=$(realpath -m "$BUILD/bin")
CACHE=$(realpath -m "${BENCH_CACHE:-.cache}")
SCALE=${BENCH_SCALE:-1}
N=$(awk -v s="$SCALE" 'BEGIN { printf "%d", 2000000 * s }')
RUNS=${BENCH_RUNS:-3}
SPARK_RUNS=${SPARK_RUNS:-$RUNS}
SEED=${BENCH_SEED:-1}
# the steady stream: full length at BENCH_SCALE >= 1, shorter for a quick check (at least 10 s + 5 s warm-up)
STEADY_S=${BENCH_STEADY_SECONDS:-$(awk -v s="$SCALE" 'BEGIN { v = 60 * s; printf "%d", (v > 60 ? 60 : (v < 10 ? 10 : v)) }')}
WARM=${BENCH_WARMUP:-$(awk -v s="$SCALE" 'BEGIN { v = 20 * s; printf "%d", (v > 20 ? 20 : (v < 5 ? 5 : v)) }')}
CATCHUP=${BENCH_CATCHUP:-120}
read -r -a RATES <<<"${BENCH_RATES:-5000 10000 20000}"
read -r -a SPARK_SETTINGS <<<"${BENCH_SPARK_SETTINGS:-tuned reference}"
PORT=${BENCH_PORT_BASE:-}
TRIGGER=${BENCH_TRIGGER:-1s}
BENCH_ID=bench-$$-$RANDOM
DB_PREFIX=${BENCH_ID//-/_}
RES=${BENCH_RESULTS:-bench/results}
TMP=$(realpath -m "$RES/tmp/$BENCH_ID")
SERVICES=(ingestor parser aggregator writer)
declare -A PID

cleanup() {
	local rc=$? s
	[[ -n ${PID[spark]:-} ]] && kill -KILL "${PID[py]:-}" "${PID[jvm]:-}" "${PID[spark]}" 2>/dev/null
	for s in ingestor replay parser aggregator writer; do stop_pid "${PID[$s]:-}" 5; done
	kill "${LOADPID:-}" 2>/dev/null || true
	topics_delete "$BENCH_ID-.*"
	drop_databases "$DB_PREFIX"
	if [[ -n ${BENCH_REPORT_FROM:-} ]]; then :
	elif ((rc == 0)) && [[ -z ${BENCH_KEEP:-} ]]; then rm -rf "$TMP"
	else progress "logs and figures of this run kept in $TMP (exit $rc)"; fi
}

# ---------------------------------------------------------------------------------------------
# Helpers

# put FILE KEY VALUE: one measured figure of one run ("key value" lines, one file per kind of run).
put() { echo "$2 $3" >>"$TMP/$1"; }
# get FILE KEY: "median min max n" of KEY over the runs in FILE.
get() { { awk -v k="$2" '$1 == k { print $2 }' "$TMP/$1" 2>/dev/null || true; } | stats; }
med() { get "$1" "$2" | cut -d' ' -f1; }
r0() { awk -v v="$1" 'BEGIN { if (v == "nan" || v == "") print "n/a"; else printf "%.0f", v }'; }
# r VALUE DECIMALS: VALUE rounded, or n/a.
r() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "nan" || v == "") print "n/a"; else printf "%." d "f", v }'; }
# x RATIO: "R×", or n/a.
x() { if [[ $1 == nan || -z $1 ]]; then echo n/a; else echo "$1×"; fi; }
# div A B [DECIMALS]: A / B, or nan if either is missing or B is 0.
div() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (a == "" || b == "" || a == "nan" || b == "nan" || b + 0 == 0) print "nan"; else printf "%." d "f", a / b }'; }
# ticks_per TICKS DIVISOR SCALE: TICKS as seconds, / DIVISOR * SCALE.
ticks_per() { awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" -v s="$3" 'BEGIN { print (n > 0 ? t / hz / n * s : "nan") }'; }

build() {
	progress "building the services and benchmarks into $BUILD"
	# targets spelled as the Makefile's rules spell them ($(BUILD)/bin/...), not as absolute paths
	make --no-print-directory -s -j"$(nproc)" BUILD="$BUILD" "$BUILD"/bin/rsvp-{replay,ingestor,parser,aggregator,writer,writer-client} \
		"$BUILD"/bin/bench-{parser,aggregator} >&2
}

machine() {
	local kafka_ver
	kafka_ver=$(tr '\0' '\n' <"/proc/$BROKER_PID/cmdline" 2>/dev/null | grep -o 'kafka_2\.1[0-9]-[0-9.]*[0-9]' | head -n1 || true)
	[[ -n $kafka_ver ]] || kafka_ver=$(ls "$(kafka_libs 2>/dev/null || echo /nonexistent)" 2>/dev/null | grep -o '^kafka_2\.1[0-9]-[0-9.]*[0-9]' | head -n1 || true)
	CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
	MACHINE="$(nproc) cores ($CPU_MODEL), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)"
	VERSIONS="librdkafka $(pkg-config --modversion rdkafka), Kafka broker ${kafka_ver#kafka_2.13-} (${KAFKA_BROKERS}), PostgreSQL $(psql -XAtq "$PGURL" -c 'show server_version'), $(cc --version | head -n1), kcat $(kcat -V 2>&1 | grep -o 'Version [0-9.]*' | head -n1 | cut -d' ' -f2), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$( [[ -z $(git status --porcelain -uno 2>/dev/null | head -n1) ]] || echo ' + uncommitted changes')"
}

# load sampler: load1 every 2 s into $TMP/load for the whole run.
start_load_sampler() {
	(while :; do cut -d' ' -f1 /proc/loadavg >>"$TMP/load"; sleep 2; done) &
	LOADPID=$!
}

# The ports: a block of 50 from PORT, one of the 4 blocks from PORT_FROM (BENCH_PORT_BASE, 32100): 200 ports
# in all. PORT the writer (nng), +1 the ingestor's metrics, +2 parser, +3 aggregator, +4 writer metrics, +5/+6
# rsvp-replay's metrics/stream (the source's three move to +10.. when one of them is taken), +40/+41 the writer
# micro-benchmark, +42.. Spark's web UI.

# ports_busy BASE: true if a TCP socket not in TIME-WAIT has a local port in BASE..BASE+41 (what our processes
# bind; Spark's UI above is its own): a listener, or an outgoing connection the kernel gave a port of its
# ephemeral range (32768-60999 by default), which anyone's client on the machine can hold at any moment.
ports_busy() { ss -tanH exclude time-wait "( sport >= :$1 and sport <= :$(($1 + 41)) )" 2>/dev/null | grep -q .; }

# free_port_base FROM: the first of the 4 blocks, from FROM's on (wrapping around), whose ports are all free.
free_port_base() {
	local k b first=$(((($1 - PORT_FROM) / 50) % 4))
	for k in 0 1 2 3; do
		b=$((PORT_FROM + ((first + k) % 4) * 50))
		ports_busy "$b" || { echo "$b"; return 0; }
	done
	bench_die "no free block of 50 ports in $PORT_FROM-$((PORT_FROM + 199))"
}

# fresh_ports [next]: called before a run starts its processes: keeps PORT while its block is free, else (or
# with "next": a service of the block could not bind its port) takes the next free block.
fresh_ports() {
	local old=$PORT
	if [[ ${1:-} == next ]]; then PORT=$(free_port_base $((PORT + 50)))
	elif ports_busy "$PORT"; then PORT=$(free_port_base "$PORT")
	else return 0; fi
	SPARK_UI_PORT=$((PORT + 42))
	progress "  a port of $old-$((old + 49)) is taken: now on $PORT-$((PORT + 49))"
}

# up PORT SECONDS NAME: waits until NAME (PID[NAME], log $LOGS/NAME.log) answers ready on PORT. Returns 2 at once
# if it could not bind a port (the caller tries other ports); dies if it exited otherwise or stays unready.
up() {
	local deadline=$((SECONDS + $2))
	until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz") == 200 ]]; do
		grep -Eq "Address in use|cannot listen" "$LOGS/$3.log" 2>/dev/null && return 2
		if ! kill -0 "${PID[$3]}" 2>/dev/null; then # (its last words may have come just now)
			grep -Eq "Address in use|cannot listen" "$LOGS/$3.log" 2>/dev/null && return 2
			bench_die "$3 exited (see $LOGS/$3.log)"
		fi
		((SECONDS < deadline)) || bench_die "$3 not ready after $2 s (see $LOGS/$3.log)"
		sleep 0.1
	done
}

# bench_init: what every benchmark of this file needs before its first phase: the stack, the broker's and
# PostgreSQL's processes, a port block, the machine's description, the input file and the load sampler.
bench_init() {
	mkdir -p "$TMP" "$RES"
	bench_stack
	trap cleanup EXIT
	BROKER_PID=$(listener_pid "${KAFKA_BROKERS##*:}")
	PG_PID=$(pg_postmaster_pid)
	[[ -n $BROKER_PID ]] || progress "broker process not found on this machine: its CPU is not measured"
	[[ -n $PG_PID ]] || progress "PostgreSQL postmaster not readable on this machine: its CPU is not measured"
	PORT_FROM=${PORT:-32100}
	PORT=$(free_port_base "$PORT_FROM")
	SPARK_UI_PORT=$((PORT + 42))
	machine
	synthetic_input "$BIN/rsvp-replay"
}

# ---------------------------------------------------------------------------------------------
# 1. Micro-benchmarks (one core each)

micro() {
	local i out recorded=tests/data/meetup-rsvps-recorded.ndjson
	for i in $(seq 1 "$RUNS"); do
		progress "micro-benchmarks run $i/$RUNS: bench-parser"
		out=$("$BIN/bench-parser" "$recorded" 2 2>/dev/null)
		echo "$out" >"$TMP/bench-parser.$i.md"
		put micro parser_cpu "$(awk -F'|' '$2 ~ /parse\+encode/ { print $3 + 0 }' <<<"$out")"
		put micro parser_wall "$(awk -F'|' '$2 ~ /parse\+encode/ { print $6 + 0 }' <<<"$out")"
		put micro jsmn_cpu "$(awk -F'|' '$2 ~ /bare jsmn/ { print $3 + 0 }' <<<"$out")"
		put micro parser_vs_jsmn "$(sed -n 's/^parse+encode \/ jsmn: //p' <<<"$out")"
		progress "micro-benchmarks run $i/$RUNS: bench-aggregator (1M messages, 1M distinct keys)"
		out=$("$BIN/bench-aggregator" "$recorded" 1000000 2>/dev/null)
		echo "$out" >"$TMP/bench-aggregator.$i.md"
		put micro agg_msgs "$(grep -o '\*\*[0-9.]* msgs/s/core' <<<"$out" | tr -dc '0-9.')"
		put micro agg_bytes_key "$(grep -o '\*\*[0-9.]* B/key' <<<"$out" | tr -dc '0-9.')"
		put micro agg_strings_key "$(grep -o 'strings [0-9.]* B/key' <<<"$out" | tr -dc '0-9.')"
		progress "micro-benchmarks run $i/$RUNS: writer rows/s (bench/bench_writer.sh)"
		fresh_ports
		out=$(BIN="$BIN" PGURL="$PGURL" BATCHES="${WRITER_BATCHES:-30}" ROWS=10000 PORT=$((PORT + 40)) MPORT=$((PORT + 41)) \
			bench/bench_writer.sh 2>/dev/null) || { progress "  writer benchmark failed"; continue; }
		echo "$out" >"$TMP/bench-writer.$i.md"
		put micro writer_upsert "$(awk -F'|' '$2 ~ /upsert/ { print $5 + 0 }' <<<"$out")"
		put micro writer_insert "$(awk -F'|' '$2 ~ /insert/ { print $5 + 0 }' <<<"$out")"
	done
}

# ---------------------------------------------------------------------------------------------
# 3. The machine's limit: kcat produce + consume of the same bytes, on fresh topics

kcat_raw() {
	local i t t0 t1 t2
	for i in $(seq 1 "$RUNS"); do
		t=$BENCH_ID-kcat-$i
		topic_create "$t" 4
		progress "kcat limit run $i/$RUNS: produce $N RSVPs ($((BYTES / 1000000)) MB, lz4 as the ingestor) and consume them back"
		t0=$(now_ms)
		kcat -P -b "$KAFKA_BROKERS" -t "$t" -l -X linger.ms=5 -X batch.size=1000000 -X compression.codec=lz4 "$DATA"
		t1=$(now_ms)
		kcat -C -b "$KAFKA_BROKERS" -t "$t" -o beginning -e -q >/dev/null
		t2=$(now_ms)
		put kcat raw_produce "$(awk -v n="$N" -v ms=$((t1 - t0)) 'BEGIN { print n * 1000 / ms }')"
		put kcat raw_consume "$(awk -v n="$N" -v ms=$((t2 - t1)) 'BEGIN { print n * 1000 / ms }')"
		topics_delete "$t"
	done
}

# kcat_parsed TOPIC: consume the pipeline's parsed topic (read_committed, as the aggregator), and
# produce the same messages to a fresh topic. kcat 1.7 splits its input on one byte only, so the
# messages are joined with the byte that is rarest in them; the count produced is reported.
kcat_parsed() {
	local src=$1 i t t0 t1 dump=$TMP/parsed.bin delim hex
	progress "parsed topic: dumping $src for the kcat produce limit"
	kcat -C -b "$KAFKA_BROKERS" -t "$src" -o beginning -e -q -c 20000 -f '%s' >"$TMP/parsed.sample"
	hex=$(od -An -v -tx1 "$TMP/parsed.sample" | tr -s ' ' '\n' | grep . | sort | uniq -c |
		awk '{ c[$2] = $1 } END { best = ""; for (i = 1; i < 256; i++) { h = sprintf("%02x", i); if (best == "" || c[h] + 0 < c[best] + 0) best = h }; print best }')
	delim=$(printf "\\x$hex")
	kcat -C -b "$KAFKA_BROKERS" -t "$src" -o beginning -e -q -f "%s$delim" >"$dump"
	PARSED_BYTES=$(kcat -C -b "$KAFKA_BROKERS" -t "$src" -o beginning -e -q -f '%S\n' | awk '{ s += $1; n++ } END { print s + 0, n + 0 }')
	PARSED_N=${PARSED_BYTES#* }
	PARSED_BYTES=${PARSED_BYTES% *}
	put kcat parsed_n "$PARSED_N"
	put kcat parsed_bytes "$PARSED_BYTES"
	for i in $(seq 1 "$RUNS"); do
		progress "parsed topic kcat limit run $i/$RUNS: consume $PARSED_N messages, produce them again"
		t0=$(now_ms)
		kcat -C -b "$KAFKA_BROKERS" -t "$src" -o beginning -e -q >/dev/null
		t1=$(now_ms)
		put kcat parsed_consume "$(awk -v n="$PARSED_N" -v ms=$((t1 - t0)) 'BEGIN { print n * 1000 / ms }')"
		t=$BENCH_ID-kcatp-$i
		topic_create "$t" 4
		t0=$(now_ms)
		kcat -P -b "$KAFKA_BROKERS" -t "$t" -l -D "$delim" -X linger.ms=5 -X batch.size=1000000 -X compression.codec=lz4 "$dump"
		t1=$(now_ms)
		put kcat parsed_produce "$(awk -v n="$PARSED_N" -v ms=$((t1 - t0)) 'BEGIN { print n * 1000 / ms }')"
		topics_delete "$t"
	done
	rm -f "$dump"
}

# ingest_alone I: the ingestor by itself (unpaced replay -> ingestor -> fresh raw topic), beside
# kcat producing the same bytes: the first hop against the bare broker. From the ingestor's start.
ingest_alone() {
	local i=$1 t1 got=0 deadline
	RAW=$BENCH_ID-ing-$i
	LOGS=$TMP/logs-ing$i
	mkdir -p "$LOGS"
	topic_create "$RAW" 4
	progress "ingestor alone run $i/$RUNS: $N unpaced RSVPs from rsvp-replay into $RAW"
	fresh_ports
	source_up 0 "$N" 1700000000000
	deadline=$((SECONDS + 600))
	while ((got < N)); do
		kill -0 "${PID[ingestor]}" 2>/dev/null || bench_die "ingestor exited (see $LOGS/ingestor.log)"
		((SECONDS < deadline)) || bench_die "ingestor alone: $got of $N after 600 s"
		sleep 0.05
		got=$(metric "$P_ING" rsvp_ingestor_produced_total)
	done
	t1=$(now_ms)
	put ingest rsvps_per_s "$(awk -v n="$N" -v ms=$((t1 - SRC_T0)) 'BEGIN { print n * 1000 / ms }')"
	put ingest mb_per_s "$(awk -v b="$BYTES" -v ms=$((t1 - SRC_T0)) 'BEGIN { print b / 1000 / ms }')"
	put ingest cpu_s_per_m "$(ticks_per "$(cpu_ticks "${PID[ingestor]}")" "$N" 1e6)"
	source_down
	topics_delete "$RAW"
}

# ---------------------------------------------------------------------------------------------
# 4. The pipeline: four services on fresh topics and a fresh database

# pipeline_up TAG TRIGGER: starts writer, aggregator and parser, waits until each is ready.
pipeline_up() {
	local tag=$1 trigger=$2 pre=$BENCH_ID-$1
	RAW=$pre-raw PARSED=$pre-parsed DLQ=$pre-dlq DB=${DB_PREFIX}_${1//-/_}
	fresh_ports
	topic_create "$RAW" 4
	topic_create "$PARSED" 4
	topic_create "$DLQ" 4
	psql -XAtq "$PGURL" -c "create database $DB" >/dev/null
	LOGS=$TMP/logs-$tag
	mkdir -p "$LOGS"
	local try
	for try in 1 2 3 4; do
		((try == 1)) && fresh_ports || fresh_ports next
		PG_URL=$(db_url "$DB") LISTEN=tcp://127.0.0.1:$PORT METRICS_ADDR=127.0.0.1:$((PORT + 4)) \
			"$BIN/rsvp-writer" 2>"$LOGS/writer.log" &
		PID[writer]=$!
		if up $((PORT + 4)) 60 writer; then
			PARSED_TOPIC=$PARSED GROUP_ID=$pre-agg WRITER_URL=tcp://127.0.0.1:$PORT TRIGGER_INTERVAL=$trigger \
				METRICS_ADDR=127.0.0.1:$((PORT + 3)) INSTANCE_ID=$pre-agg "$BIN/rsvp-aggregator" 2>"$LOGS/aggregator.log" &
			PID[aggregator]=$!
			RAW_TOPIC=$RAW PARSED_TOPIC=$PARSED DLQ_TOPIC=$DLQ GROUP_ID=$pre-parser METRICS_ADDR=127.0.0.1:$((PORT + 2)) \
				INSTANCE_ID=$pre-parser "$BIN/rsvp-parser" 2>"$LOGS/parser.log" &
			PID[parser]=$!
			up $((PORT + 3)) 120 aggregator && up $((PORT + 2)) 120 parser && return 0
		fi
		pipeline_down
	done
	bench_die "the pipeline could not bind its ports in 4 tries (see $LOGS)"
}

# source_up RATE COUNT [START_MTIME]: rsvp-replay (synthetic, COUNT RSVPs or -1 for endless, paced at RATE or
# unpaced with 0) and the ingestor reading it into $RAW, both ready. Sets P_ING (the ingestor's metrics port)
# and SRC_T0 (when the ingestor was started, epoch ms).
source_up() {
	local extra=() k
	[[ -n ${3:-} ]] && extra=(--start-mtime "$3")
	# shellcheck disable=SC2206 # word-split on purpose: extra replay flags, e.g. --gzip=false
	extra+=(${BENCH_REPLAY_ARGS:-})
	for k in 0 1 2 3 4 5; do # +5/+6/+1, then +10.. in steps of 3 when a port is taken
		local pm=$((PORT + 5)) ps=$((PORT + 6))
		P_ING=$((PORT + 1))
		((k == 0)) || { pm=$((PORT + 7 + 3 * k)) ps=$((PORT + 8 + 3 * k)) P_ING=$((PORT + 9 + 3 * k)); }
		"$BIN/rsvp-replay" --synthetic --seed "$SEED" --count "$2" --rate "$1" --listen "127.0.0.1:$ps" \
			--metrics-addr "127.0.0.1:$pm" "${extra[@]}" 2>"$LOGS/replay.log" &
		PID[replay]=$!
		if up "$pm" 60 replay; then
			SRC_T0=$(now_ms)
			SOURCE_URL=http://127.0.0.1:$ps/2/rsvps RAW_TOPIC=$RAW TRANSACTIONAL_ID=$BENCH_ID-$RAW \
				METRICS_ADDR=127.0.0.1:$P_ING INSTANCE_ID=$RAW-ing "$BIN/rsvp-ingestor" 2>"$LOGS/ingestor.log" &
			PID[ingestor]=$!
			up "$P_ING" 60 ingestor && return 0
		fi
		source_down
	done
	bench_die "the source could not bind its ports (see $LOGS)"
}

source_down() {
	stop_pid "${PID[ingestor]:-}" 15
	stop_pid "${PID[replay]:-}" 15
	PID[ingestor]= PID[replay]=
}

pipeline_down() {
	local s
	for s in ingestor replay parser aggregator writer; do
		stop_pid "${PID[$s]:-}" 15
		PID[$s]=
	done
}

# metric PORT NAME: sum of every sample of NAME on that /metrics (0 if absent).
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%.0f\n", s }'; }
applied() { psql -XAtq "$(db_url "$DB")" -c 'select coalesce(sum(messages), 0) from rsvp_batches' 2>/dev/null || echo 0; }

# wait_applied TARGET DEADLINE_S: polls until the writer has applied TARGET messages; samples RSS.
wait_applied() {
	local target=$1 deadline=$((SECONDS + $2)) got=0 next=$SECONDS s
	while :; do
		got=$(applied)
		((got >= target)) && break
		((SECONDS < deadline)) || { progress "  timeout: $got of $target applied"; return 1; }
		# a service that died (e.g. its port was taken) will not come back: fail now, not at the deadline
		for s in parser aggregator writer; do
			if [[ -n ${PID[$s]:-} ]] && ! kill -0 "${PID[$s]}" 2>/dev/null; then
				progress "  $s (pid ${PID[$s]}) exited: $got of $target applied"
				return 1
			fi
		done
		if ((SECONDS >= next)); then
			progress "  $got / $target RSVPs in PostgreSQL"
			next=$((SECONDS + 10))
		fi
		sleep 0.1
	done
}

# proc_snapshot ARRAY NAME...: CPU ticks of each named process into the associative array ARRAY: "broker"
# (the JVM on the Kafka port), "pg" (the whole PostgreSQL instance), else the process PID[NAME].
declare -A CPU0 CPU1
proc_snapshot() {
	local -n into=$1
	local s
	shift
	for s in "$@"; do
		case $s in
		broker) into[$s]=$(cpu_ticks "${BROKER_PID:-0}") ;;
		pg) into[$s]=$(pg_cpu_ticks "${PG_PID:-}") ;;
		*) into[$s]=$(cpu_ticks "${PID[$s]:-0}") ;;
		esac
	done
}

# e2e I [KEY [TAG]]: one unpaced end-to-end run of N RSVPs; its figures go to $TMP/KEY (e2e).
e2e() {
	local i=$1 key=${2:-e2e} tag=${3:-e2e$1} t_end first s db_backends wall dlq ticks sec_total=0
	progress "end-to-end run $i/$RUNS ($BIN): $N unpaced synthetic RSVPs, trigger $TRIGGER"
	pipeline_up "$tag" "$TRIGGER"
	proc_snapshot CPU0 "${SERVICES[@]}" replay broker pg
	source_up 0 "$N" 1700000000000
	local perfpids=()
	if [[ -n ${BENCH_PERF:-} ]]; then # profile every service for the whole run (perf from linux-perf)
		mkdir -p "$BENCH_PERF"
		for s in "${SERVICES[@]}"; do
			perf record -q -F 499 -g -o "$BENCH_PERF/$s.data" -p "${PID[$s]}" >/dev/null 2>&1 &
			perfpids+=($!)
		done
	fi
	wait_applied "$N" $((120 + N / 5000)) || { pipeline_down; return 0; }
	t_end=$(now_ms)
	for s in "${perfpids[@]}"; do kill -INT "$s" 2>/dev/null; wait "$s" 2>/dev/null || true; done
	proc_snapshot CPU1 "${SERVICES[@]}" replay broker pg
	first=$(psql -XAtq "$(db_url "$DB")" -c 'select min(oldest_ingest_ms) from rsvp_batches')
	wall=$((t_end - first))
	dlq=$(metric $((PORT + 2)) rsvp_parser_dead_lettered_total)
	put "$key" rsvps_per_s "$(awk -v n="$N" -v ms="$wall" 'BEGIN { print n * 1000 / ms }')"
	put "$key" mb_per_s "$(awk -v b="$BYTES" -v ms="$wall" 'BEGIN { print b / 1000 / ms }')"
	put "$key" seconds "$(awk -v ms="$wall" 'BEGIN { print ms / 1000 }')"
	put "$key" dlq "$dlq"
	for s in "${SERVICES[@]}" replay broker pg; do
		ticks=$((CPU1[$s] - CPU0[$s]))
		put "$key" "cpu_$s" "$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$N" 'BEGIN { print t / hz / n * 1e6 }')"
		[[ $s == replay || $s == broker || $s == pg ]] || sec_total=$((sec_total + ticks))
	done
	put "$key" cpu_services "$(awk -v t="$sec_total" -v hz="$CLK_TCK" -v n="$N" 'BEGIN { print t / hz / n * 1e6 }')"
	# the writer's own database sessions (their CPU since they connected: the writer starts with the run)
	db_backends=0
	for s in $(psql -XAtq "$PGURL" -c "select pid from pg_stat_activity where datname = '$DB' and pid <> pg_backend_pid()"); do
		db_backends=$((db_backends + $(cpu_ticks "$s")))
	done
	put "$key" cpu_pg_writer_sessions "$(awk -v t="$db_backends" -v hz="$CLK_TCK" -v n="$N" 'BEGIN { print t / hz / n * 1e6 }')"
	for s in "${SERVICES[@]}"; do put "$key" "hwm_$s" "$(($(rss_kb "${PID[$s]}" VmHWM) / 1024))"; done
	put "$key" rows_visible "$(psql -XAtq "$(db_url "$DB")" -c 'select sum(response_count) from rsvp_counts')"
	progress "  $(awk '$1 == "rsvps_per_s" { v = $2 } END { printf "%.0f", v }' "$TMP/$key") RSVPs/s over $((wall / 1000)) s; $(awk '$1 == "cpu_services" { v = $2 } END { printf "%.2f", v }' "$TMP/$key") CPU s per million RSVPs (4 services)"
	if ((i == 1)) && [[ $key == e2e ]]; then
		# throughput over time for the plot: RSVPs applied per second since the first was accepted
		psql -XAtq -F' ' "$(db_url "$DB")" -c "select (extract(epoch from committed_at) * 1000)::bigint - $first, messages from rsvp_batches order by committed_at" |
			awk '{ b = int($1 / 1000); n[b] += $2; if (b > m) m = b } END { for (i = 0; i <= m; i++) print i + 0.5, n[i] + 0 }' >"$RES/pipeline-throughput.dat"
		KEEP_PARSED=$PARSED
	fi
	pipeline_down
	psql -XAtq "$PGURL" -c "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
	[[ $PARSED == "${KEEP_PARSED:-}" ]] || topics_delete "$BENCH_ID-$tag-.*"
}

# prefilled I: the comparison Spark's figure is made the same way: the raw topic already holds the N
# RSVPs (kcat, lz4); parser, aggregator and writer start on it; from the moment parser and aggregator
# are ready (partitions assigned) until the last count is visible. No ingestor, no HTTP.
prefilled() {
	local i=$1 t0 t_end s ticks sec_total=0
	progress "pre-filled run $i/$RUNS: $N RSVPs already in the raw topic (as Spark reads them), trigger $TRIGGER"
	topic_create "$BENCH_ID-pre$i-raw" 4
	kcat -P -b "$KAFKA_BROKERS" -t "$BENCH_ID-pre$i-raw" -l -X linger.ms=5 -X batch.size=1000000 \
		-X compression.codec=lz4 "$DATA"
	pipeline_up "pre$i" "$TRIGGER"
	t0=$(now_ms)
	wait_applied "$N" $((120 + N / 5000)) || { pipeline_down; return 0; }
	t_end=$(now_ms)
	put pre rsvps_per_s "$(awk -v n="$N" -v ms=$((t_end - t0)) 'BEGIN { print n * 1000 / ms }')"
	for s in parser aggregator writer; do
		ticks=$(cpu_ticks "${PID[$s]}")
		sec_total=$((sec_total + ticks))
	done
	put pre cpu_services "$(awk -v t="$sec_total" -v hz="$CLK_TCK" -v n="$N" 'BEGIN { print t / hz / n * 1e6 }')"
	progress "  $(awk -v n="$N" -v ms=$((t_end - t0)) 'BEGIN { printf "%.0f", n * 1000 / ms }') RSVPs/s"
	pipeline_down
	psql -XAtq "$PGURL" -c "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
	topics_delete "$BENCH_ID-pre$i-.*"
}

# ---------------------------------------------------------------------------------------------
# 5. The reference Spark job on the same backlog (bench/spark.sh): the pre-filled raw topic, as above

# spark_backlog_run NAME I: one backlog run of the Spark job with settings NAME; figures into $TMP/spark-NAME.
spark_backlog_run() {
	local name=$1 i=$2 line
	if [[ -z ${SPARK_TOPIC:-} ]]; then
		SPARK_TOPIC=$BENCH_ID-sparkraw
		spark_fill "$SPARK_TOPIC"
	fi
	spark_backlog "$name" "$SPARK_TOPIC" "$i" "$TMP/spark-$name.json"
	line=$(tail -n1 "$TMP/spark-$name.json")
	put "spark-$name" rsvps_per_s "$(jq -r .rsvps_per_s <<<"$line")"
	put "spark-$name" cpu_s_per_m "$(jq -r .cpu_s_per_million <<<"$line")"
	put "spark-$name" rss_peak_mb "$(jq -r .rss_peak_mb <<<"$line")"
	put "spark-$name" startup_s "$(jq -r .startup_s <<<"$line")"
	put "spark-$name" sum_ok "$(jq -r --argjson n "$N" 'if .pg_sum == $n then 1 else 0 end' <<<"$line")"
	[[ $i == 1 ]] && cp "$TMP/spark-$name-$i/progress.txt" "$RES/spark-$name-progress.dat"
	return 0
}

# ---------------------------------------------------------------------------------------------
# 6. The cost at a steady stream: the same source (rsvp-replay paced at RATE, endless, and the ingestor
#    producing to a fresh raw topic) feeds the pipeline (250 ms trigger) or the Spark job. After WARM s,
#    the CPU of every process is read over STEADY_S s (the window); freshness counts the RSVPs that entered
#    Kafka inside the window (bench/freshness.py): from the raw message's timestamp to the moment the count
#    is visible in PostgreSQL.

# steady_window KEY COUNTED NAME...: the warm-up: WARM s, then until the system has caught up with the stream
# (the command COUNTED, the RSVPs it has counted so far, reaches what the ingestor had produced at the end of
# the WARM s; at most CATCHUP s more, else the run is marked as behind the stream). Then reads the CPU of
# NAME... (and of broker and pg) over STEADY_S s: puts ticks_NAME and cores_NAME into KEY, and the steady
# RSS of NAME... at the end. Sets W0 and W1 (the window, epoch ms: the middle of each reading, which takes a
# while on a busy machine).
steady_window() {
	local key=$1 counted=$2 s a b secs target deadline
	shift 2
	sleep "$WARM"
	target=$(metric "$P_ING" rsvp_ingestor_produced_total)
	deadline=$((SECONDS + CATCHUP))
	until (($($counted) >= target)); do
		if ((SECONDS >= deadline)); then
			progress "  still behind the stream $CATCHUP s after the warm-up: measured as it is"
			put "$key" behind 1
			break
		fi
		sleep 0.5
	done
	a=$(now_ms)
	proc_snapshot CPU0 "$@" broker pg
	[[ -n ${BENCH_THREADS:-} ]] && thread_snapshot "$@" >"$TMP/threads0-$key"
	b=$(now_ms)
	W0=$(((a + b) / 2))
	sleep "$STEADY_S"
	a=$(now_ms)
	proc_snapshot CPU1 "$@" broker pg
	[[ -n ${BENCH_THREADS:-} ]] && thread_snapshot "$@" >"$TMP/threads1-$key"
	b=$(now_ms)
	W1=$(((a + b) / 2))
	secs=$(awk -v a="$W0" -v b="$W1" 'BEGIN { print (b - a) / 1000 }')
	put "$key" seconds "$secs"
	for s in "$@" broker pg; do
		put "$key" "ticks_$s" $((CPU1[$s] - CPU0[$s]))
		put "$key" "cores_$s" "$(ticks_per $((CPU1[$s] - CPU0[$s])) "$secs" 1)"
	done
	for s in "$@"; do put "$key" "rss_$s" "$(($(rss_kb "${PID[$s]:-0}" VmRSS) / 1024))"; done
}

# thread_snapshot NAME...: one line per thread of each of our services among NAME... (PID[NAME]): name,
# thread id, thread name, CPU ticks, voluntary and involuntary context switches (for BENCH_THREADS; the
# JVM of a Spark window is left alone: its hundred-odd threads would only stretch the window's reading).
thread_snapshot() {
	local s t
	for s in "$@"; do
		[[ " ${SERVICES[*]} " == *" $s "* ]] || continue
		for t in /proc/"${PID[$s]:-0}"/task/*; do
			[[ -r $t/stat ]] || continue
			printf '%s %s %s %s %s\n' "$s" "${t##*/}" "$(tr ' ' _ <"$t/comm")" \
				"$(sed -e 's/^.*) //' "$t/stat" | awk '{ print $12 + $13 }')" \
				"$(awk '$1 == "voluntary_ctxt_switches:" { v = $2 } $1 == "nonvoluntary_ctxt_switches:" { n = $2 } END { print v + 0, n + 0 }' "$t/status")"
		done
	done 2>/dev/null
}

# thread_table KEY: BENCH_THREADS/threads-KEY-N.md, the threads of the Nth steady window of KEY (the
# last one measured): ms of CPU and context switches a second, per thread (threads that came or went
# during the window are left out).
thread_table() {
	local key=$1 secs n
	secs=$(awk '$1 == "seconds" { s = $2 } END { print s }' "$TMP/$key")
	n=$(grep -c '^seconds ' "$TMP/$key")
	mkdir -p "$BENCH_THREADS"
	{
		echo "# Threads over steady window $n of $key ($secs s, ms of CPU and context switches a second)"
		echo
		echo "| service | thread | CPU ms/s | voluntary cs/s | involuntary cs/s |"
		echo "|---|---|---|---|---|"
		awk -v secs="$secs" -v hz="$CLK_TCK" 'NR == FNR { c[$2] = $4; v[$2] = $5; n[$2] = $6; next }
			($2 in c) { printf "| %s | %s (%s) | %.1f | %.0f | %.0f |\n", $1, $3, $2, ($4 - c[$2]) * 1000 / hz / secs,
				($5 - v[$2]) / secs, ($6 - n[$2]) / secs }' "$TMP/threads0-$key" "$TMP/threads1-$key"
	} >"$BENCH_THREADS/threads-$key-$n.md"
}

# steady_per_million KEY NAME...: from the RSVPs that entered Kafka in the window (n, counted by
# freshness.py from their timestamps): the achieved rate, and cpu_m_NAME (CPU s per million of them).
steady_per_million() {
	local key=$1 s n secs
	shift
	n=$(med "$key" n)
	secs=$(med "$key" seconds)
	put "$key" rate "$(div "$n" "$secs" 1)"
	for s in "$@" broker pg; do put "$key" "cpu_m_$s" "$(ticks_per "$(med "$key" "ticks_$s")" "$n" 1e6)"; done
}

# sum_cores KEY NAME...: cores of NAME... together (and CPU s per million) as cores_SUM / cpu_m_SUM in KEY.
sum_cores() {
	local key=$1 sum=$2 c=0 m=0 s
	shift 2
	for s in "$@"; do
		c=$(awk -v a="$c" -v b="$(med "$key" "cores_$s")" 'BEGIN { print a + b }')
		m=$(awk -v a="$m" -v b="$(med "$key" "cpu_m_$s")" 'BEGIN { print a + b }')
	done
	put "$key" "cores_$sum" "$c"
	put "$key" "cpu_m_$sum" "$m"
}

# pipeline_counted, spark_counted: the RSVPs the system has counted so far (pipeline: applied in PostgreSQL or
# dead-lettered; Spark: the input rows of its finished micro-batches, in SPARK_DIR).
pipeline_counted() { echo $(($(applied) + $(metric $((PORT + 2)) rsvp_parser_dead_lettered_total))); }
spark_counted() { spark_rows "$SPARK_DIR"; }

# steady_pipeline RATE [KEY [TAG]]: the pipeline at RATE RSVPs/s (figures into $TMP/KEY, st-pipeline-RATE).
steady_pipeline() {
	local rate=$1 key=${2:-st-pipeline-$1} tag=${3:-stp$1} deadline got ing dlq
	progress "steady $rate RSVPs/s, rsvp-pipeline ($BIN), trigger 250 ms: $WARM s warm-up, $STEADY_S s measured"
	pipeline_up "$tag" 250ms
	source_up "$rate" -1
	steady_window "$key" pipeline_counted "${SERVICES[@]}" replay
	# every RSVP of the window applied: the ingestor's count at the window's end, less dead letters
	ing=$(metric "$P_ING" rsvp_ingestor_produced_total)
	source_down
	deadline=$((SECONDS + 120))
	while :; do
		dlq=$(metric $((PORT + 2)) rsvp_parser_dead_lettered_total)
		got=$(applied)
		((got >= ing - dlq)) && break
		((SECONDS < deadline)) || { progress "  timeout: $got of $((ing - dlq)) applied: freshness is short of its slowest RSVPs"; break; }
		sleep 0.5
	done
	put "$key" drained "$((got >= ing - dlq ? 1 : 0))"
	psql -XAtq -F' ' "$(db_url "$DB")" -c "select messages, oldest_ingest_ms, newest_ingest_ms,
		(extract(epoch from committed_at) * 1000)::bigint from rsvp_batches where messages > 0" >"$TMP/batches-$key"
	python3 bench/freshness.py batches "$TMP/batches-$key" "$W0" "$W1" "$TMP/cdf-$key.dat" >>"$TMP/$key"
	steady_per_million "$key" "${SERVICES[@]}" replay
	[[ -n ${BENCH_THREADS:-} ]] && thread_table "$key"
	sum_cores "$key" services "${SERVICES[@]}"
	sum_cores "$key" three parser aggregator writer
	pipeline_down
	psql -XAtq "$PGURL" -c "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
	topics_delete "$BENCH_ID-$tag-.*"
	steady_progress "$key" services "four services"
}

# steady_spark NAME RATE: the Spark job with settings NAME at RATE RSVPs/s (figures into st-spark-NAME-RATE).
steady_spark() {
	local name=$1 rate=$2 key=st-spark-$1-$2 tag=sts${1:0:3}$2 dir deadline n sum
	dir=$TMP/spark-$key
	SPARK_DIR=$dir
	progress "steady $rate RSVPs/s, $(spark_label "$name"): $WARM s warm-up, $STEADY_S s measured"
	RAW=$BENCH_ID-$tag-raw DB=${DB_PREFIX}_$tag LOGS=$dir
	topic_create "$RAW" 4
	psql -XAtq "$PGURL" -c "create database $DB" >/dev/null
	spark_start "$name" "$RAW" "$DB" "$dir"
	fresh_ports # after the JVM took its own ports
	source_up "$rate" -1
	steady_window "$key" spark_counted jvm py ingestor replay
	source_down
	# every RSVP in the topic counted (the job reads read_uncommitted, as the reference does: at least these)
	kcat -C -b "$KAFKA_BROKERS" -t "$RAW" -o beginning -e -q -f '%p %o %T\n' >"$dir/dump.txt"
	n=$(wc -l <"$dir/dump.txt")
	deadline=$((SECONDS + 180))
	until (($(spark_rows "$dir") >= n)); do
		((SECONDS < deadline)) || { progress "  timeout: Spark counted $(spark_rows "$dir") of $n"; break; }
		kill -0 "${PID[spark]}" 2>/dev/null || { tail -n 20 "$dir/log.txt" >&2; bench_die "spark $name exited (see $dir)"; }
		sleep 0.5
	done
	put "$key" drained "$(($(spark_rows "$dir") >= n ? 1 : 0))"
	spark_stop "$dir"
	sum=$(spark_pg_sum "$DB")
	put "$key" sum_ok "$((sum == $(spark_rows "$dir") ? 1 : 0))"
	python3 bench/freshness.py spark "$dir/progress.txt" "$dir/dump.txt" "$W0" "$W1" "$TMP/cdf-$key.dat" >>"$TMP/$key"
	steady_per_million "$key" jvm py ingestor replay
	rm -f "$dir/dump.txt"
	psql -XAtq "$PGURL" -c "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
	topics_delete "$RAW"
	steady_progress "$key" jvm "JVM"
}

# steady_progress KEY SUM LABEL: one progress line of a steady run.
steady_progress() {
	progress "  $(r0 "$(med "$1" rate)") RSVPs/s: $3 $(r "$(med "$1" "cores_$2")" 3) cores ($(r "$(med "$1" "cpu_m_$2")" 1) CPU s/M); freshness p50 $(r0 "$(med "$1" p50)") ms, p99 $(r0 "$(med "$1" p99)") ms, max $(r0 "$(med "$1" max)") ms over $(med "$1" n) RSVPs"
}

# ---------------------------------------------------------------------------------------------
# 7. The report

goal_mark() { awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN { if (v == "" || v == "nan" || v == "n/a") print "n/a"; else if ((op == ">=" && v + 0 >= g) || (op == "<=" && v + 0 <= g)) print "met"; else print "**missed**" }'; }

# sys_label SYSTEM: pipeline, spark-tuned, spark-reference as a table label.
sys_label() {
	case $1 in
	pipeline) echo "rsvp-pipeline (250 ms trigger)" ;;
	spark-*) spark_label "${1#spark-}" ;;
	esac
}

# steady_systems: the systems of the steady phase, in the order they ran at each rate.
steady_systems() {
	local s
	echo pipeline
	if want spark; then for s in "${SPARK_SETTINGS[@]}"; do echo "spark-$s"; done; fi
}

# steady_row RATE SYSTEM: one row of the steady-stream table.
steady_row() {
	local rate=$1 sys=$2 k=st-$2-$1 main procs src fresh
	[[ -s $TMP/$k ]] || { echo "| $rate | $(sys_label "$sys") | not run | | | | | | | |"; return 0; }
	if [[ $sys == pipeline ]]; then
		main="**$(r "$(med "$k" cores_services)" 3)** (four services; the three Spark replaces: $(r "$(med "$k" cores_three)" 3))"
		procs="ingestor $(r "$(med "$k" cores_ingestor)" 3) · parser $(r "$(med "$k" cores_parser)" 3) · aggregator $(r "$(med "$k" cores_aggregator)" 3) · writer $(r "$(med "$k" cores_writer)" 3)"
		src="$(r "$(med "$k" cores_replay)" 3)"
		fresh="$(r0 "$(med "$k" p50)") / **$(r0 "$(med "$k" p99)")** / $(r0 "$(med "$k" max)")"
	else
		main="**$(r "$(med "$k" cores_jvm)" 3)** (JVM)"
		procs="Python driver $(r "$(med "$k" cores_py)" 3); the ingestor feeding the topic $(r "$(med "$k" cores_ingestor)" 3)"
		src="$(r "$(med "$k" cores_replay)" 3)"
		fresh="$(r0 "$(med "$k" p50)") / **$(r0 "$(med "$k" p99)")** / $(r0 "$(med "$k" max)") (batch method: p99 $(r0 "$(med "$k" spread_p99)"))"
	fi
	[[ $(med "$k" drained) == 1 ]] || fresh+=" (not drained: low)"
	[[ $(med "$k" behind) != 1 ]] || fresh+=" (**behind the stream** after the warm-up)"
	[[ $sys == pipeline || $(med "$k" sum_ok) == 1 ]] || fresh+=" (**PostgreSQL sum ≠ rows**)"
	echo "| $rate ($(r0 "$(med "$k" rate)")) | $(sys_label "$sys") | $main | $procs | $src | $(r "$(med "$k" cores_broker)" 3) | $(r "$(med "$k" cores_pg)" 3) | $(r "$(med "$k" cpu_m_$([[ $sys == pipeline ]] && echo services || echo jvm))" 1) | $fresh | $(med "$k" n) |"
}

report() {
	local e2e_rate kcat_p kcat_c lim s cpu_all max_rss ratio load host rate sys a b
	e2e_rate=$(med e2e rsvps_per_s)
	kcat_p=$(med kcat raw_produce)
	kcat_c=$(med kcat raw_consume)
	lim=$(awk -v p="$kcat_p" -v c="$kcat_c" 'BEGIN { if (p == "nan" || c == "nan") print "nan"; else print (p < c ? p : c) }')
	cpu_all=$(med e2e cpu_services)
	max_rss=nan
	for s in "${SERVICES[@]}"; do
		a=$(med st-pipeline-10000 "rss_$s")
		[[ $a == nan ]] || max_rss=$(awk -v m="$max_rss" -v b="$a" 'BEGIN { print (m == "nan" || b > m ? b : m) }')
	done
	load=$(cat "$TMP/load" 2>/dev/null | stats)
	host="$CPU_MODEL, $(nproc) cores; kcat produces $(r0 "$kcat_p") msgs/s ($(r "$(div "$(awk -v p="$kcat_p" -v b="$BYTES" -v n="$N" 'BEGIN { print p * b / n }')" 1e6)" 1) MB/s) of the same bytes to this broker"
	HOSTTAG="$(sed -e 's/(R)//g; s/(TM)//g; s/ CPU//; s/ @.*//; s/  */ /g' <<<"$CPU_MODEL") ×$(nproc), kcat $(awk -v p="$kcat_p" 'BEGIN { if (p == "nan") print "n/a"; else printf "%.0fk", p / 1000 }') msgs/s"
	echo "# rsvp-pipeline benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'))"
	echo
	echo "**Host: $host** (the host's speed: every ratio below divides two figures measured in this run on this host)."
	echo "Machine: $MACHINE. Load average (1 min) during the run: median $(cut -d' ' -f1 <<<"$load"), min $(cut -d' ' -f2 <<<"$load"), max $(cut -d' ' -f3 <<<"$load")."
	echo "Versions: $VERSIONS."
	echo "Input: $N synthetic RSVPs (rsvp-replay --synthetic --seed $SEED), $((BYTES / 1000000)) MB, $(awk -v b="$BYTES" -v n="$N" 'BEGIN { printf "%.0f", b / n }') B/RSVP; topics 4 partitions, lz4."
	echo "Backlog figures: median (min-max, n runs). Steady stream: ${RATES[*]} RSVPs/s, $WARM s warm-up then $STEADY_S s measured per rate and system, one run each. Total time of this run: $(($(date +%s) - BENCH_T0)) s."
	echo
	echo "## Goals (issue 21): ratios of this run"
	echo
	echo "| goal | figures of this run | ratio | target | | host |"
	echo "|---|---|---|---|---|---|"
	a=$(med st-spark-tuned-10000 cores_jvm) b=$(med st-pipeline-10000 cores_services)
	ratio=$(div "$a" "$b" 1)
	echo "| cores at 10k RSVPs/s: Spark tuned (JVM) / four services | $(r "$a" 3) / $(r "$b" 3) cores | $(x "$ratio") | ≥ 10× | $(goal_mark "$ratio" ">=" 10) | $HOSTTAG |"
	a=$(med st-pipeline-10000 p99)
	echo "| freshness p99 at 10k RSVPs/s, 250 ms trigger (Spark tuned beside: $(r0 "$(med st-spark-tuned-10000 p99)") ms) | $(r0 "$a") ms | | ≤ 500 ms | $(goal_mark "$a" "<=" 500) | $HOSTTAG |"
	a=$(med pre rsvps_per_s) b=$(med spark-tuned rsvps_per_s)
	ratio=$(div "$a" "$b" 2)
	echo "| backlog throughput: pipeline on the pre-filled topic / Spark tuned on the same topic | $(r0 "$a") / $(r0 "$b") RSVPs/s | $(x "$ratio") | ≥ 3× | $(goal_mark "$ratio" ">=" 3) | $HOSTTAG |"
	a=$(med spark-tuned cpu_s_per_m) b=$cpu_all
	ratio=$(div "$a" "$b" 2)
	echo "| CPU s per million RSVPs: Spark tuned (JVM, backlog) / four services (end to end) | $(r "$a" 1) / $(r "$b" 2) | $(x "$ratio") | ≥ 5× | $(goal_mark "$ratio" ">=" 5) | $HOSTTAG |"
	ratio=$(div "$e2e_rate" "$lim" 2)
	echo "| end to end / kcat limit (min of produce and consume of the same bytes) | $(r0 "$e2e_rate") / $(r0 "$lim") RSVPs/s | $ratio | ≥ 0.4 | $(goal_mark "$ratio" ">=" 0.4) | $HOSTTAG |"
	a=$(med micro parser_vs_jsmn)
	echo "| parser parse+validate+encode / bare jsmn tokenization, per CPU second, same bytes | $(r0 "$(med micro parser_cpu)") / $(r0 "$(med micro jsmn_cpu)") msgs/s | $(x "$(r "$a" 2 | sed 's|n/a|nan|')") | ≥ 1.0× | $(goal_mark "$a" ">=" 1.0) | $HOSTTAG |"
	a=$(med st-pipeline-10000 cpu_m_services) b=$cpu_all
	ratio=$(div "$a" "$b" 2)
	echo "| CPU s per million, four services: at 10k RSVPs/s / backlog | $(r "$a" 2) / $(r "$b" 2) | $(x "$ratio") | ≤ 1.5× | $(goal_mark "$ratio" "<=" 1.5) | $HOSTTAG |"
	echo
	echo "## The cost at a steady stream (cores used, freshness)"
	echo
	echo "The same source feeds both systems: rsvp-replay paced at the rate and the ingestor producing to a fresh raw"
	echo "topic. Cores = CPU seconds / wall seconds over the $STEADY_S s window (from /proc). Freshness of an RSVP = the moment"
	echo "its count is visible in PostgreSQL − its raw message's Kafka timestamp, over the RSVPs that entered Kafka in the"
	echo "window (pipeline: each batch's \`committed_at\`, its RSVPs spread evenly between the batch's oldest and newest"
	echo "timestamp; Spark: per RSVP, the end of the foreachBatch write of the micro-batch whose offsets hold it). The"
	echo "ingestor is one of our four services; for Spark it is only the feed. Broker and PostgreSQL: whole processes."
	echo
	echo "| rate (achieved) RSVPs/s | system | cores | per process, cores | source (rsvp-replay) | broker | PostgreSQL | CPU s per million RSVPs | freshness p50 / p99 / max ms | RSVPs in window |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	for rate in "${RATES[@]}"; do
		for sys in $(steady_systems); do steady_row "$rate" "$sys"; done
	done
	echo
	echo "| rate RSVPs/s | Spark tuned JVM cores / our four services | / our three (parser+aggregator+writer) | Spark reference settings JVM / our four | four services at this rate: CPU s/M / backlog |"
	echo "|---|---|---|---|---|"
	for rate in "${RATES[@]}"; do
		echo "| $rate | $(x "$(div "$(med "st-spark-tuned-$rate" cores_jvm)" "$(med "st-pipeline-$rate" cores_services)" 1)") | $(x "$(div "$(med "st-spark-tuned-$rate" cores_jvm)" "$(med "st-pipeline-$rate" cores_three)" 1)") | $(x "$(div "$(med "st-spark-reference-$rate" cores_jvm)" "$(med "st-pipeline-$rate" cores_services)" 1)") | $(x "$(div "$(med "st-pipeline-$rate" cpu_m_services)" "$cpu_all" 2)") |"
	done
	echo
	echo "Per service at a steady stream, CPU s per million RSVPs (backlog beside):"
	echo
	echo "| rate RSVPs/s | $(for s in "${SERVICES[@]}"; do printf 'rsvp-%s | ' "$s"; done)steady RSS MB (ingestor / parser / aggregator / writer) |"
	echo "|---|$(for s in "${SERVICES[@]}"; do printf -- '---|'; done)---|"
	for rate in "${RATES[@]}"; do
		echo "| $rate | $(for s in "${SERVICES[@]}"; do printf '%s | ' "$(r "$(med "st-pipeline-$rate" "cpu_m_$s")" 2)"; done)$(med "st-pipeline-$rate" rss_ingestor) / $(med "st-pipeline-$rate" rss_parser) / $(med "st-pipeline-$rate" rss_aggregator) / $(med "st-pipeline-$rate" rss_writer) |"
	done
	echo "| backlog (end to end) | $(for s in "${SERVICES[@]}"; do printf '%s | ' "$(r "$(med e2e "cpu_$s")" 2)"; done) |"
	echo
	echo "## Earlier goals (absolute figures: they move with the host)"
	echo
	echo "| figure | measured | goal | |"
	echo "|---|---|---|---|"
	echo "| end-to-end RSVPs/s (first RSVP accepted → last count visible in PostgreSQL, trigger $TRIGGER) | $(fmt_stat "$(get e2e rsvps_per_s)") | ≥ 100,000 | $(goal_mark "$e2e_rate" ">=" 100000) |"
	echo "| CPU s per million RSVPs, four services together | $(fmt_stat "$(get e2e cpu_services)" 2) | ≤ 6.5 | $(goal_mark "$cpu_all" "<=" 6.5) |"
	echo "| largest steady RSS of a service at 10k RSVPs/s | $(r0 "$max_rss") MB | ≤ 20 MB | $(goal_mark "$max_rss" "<=" 20) |"
	echo "| parser parse+encode per core (bench-parser, CPU time) | $(fmt_stat "$(get micro parser_cpu)") msgs/s | ≥ 400,000 | $(goal_mark "$(med micro parser_cpu)" ">=" 400000) |"
	echo "| aggregator memory per live key at 1M keys (bench-aggregator, table; key strings beside) | $(fmt_stat "$(get micro agg_bytes_key)" 1) B (+ $(med micro agg_strings_key) B strings) | ≤ 100 B | $(goal_mark "$(med micro agg_bytes_key)" "<=" 100) |"
	echo
	echo "## Backlog: the pipeline and the reference job on the same $N RSVPs"
	echo
	echo "| run | RSVPs/s | CPU s per million RSVPs | peak RSS MB | counts in PostgreSQL = input |"
	echo "|---|---|---|---|---|"
	echo "| rsvp-pipeline end to end (HTTP source, four services, trigger $TRIGGER) | $(fmt_stat "$(get e2e rsvps_per_s)") | $(fmt_stat "$(get e2e cpu_services)" 2) (four services) | $(for s in "${SERVICES[@]}"; do printf '%s ' "$(med e2e "hwm_$s")"; done)| $(awk -v v="$(med e2e rows_visible)" -v n="$N" 'BEGIN { print (v == n ? "yes" : (v == "nan" ? "n/a" : "**no**")) }') |"
	echo "| rsvp-pipeline on the pre-filled raw topic (parser+aggregator+writer) | $(fmt_stat "$(get pre rsvps_per_s)") | $(fmt_stat "$(get pre cpu_services)" 2) (three services) | | |"
	for s in tuned reference; do
		[[ -s $TMP/spark-$s ]] || continue
		echo "| $(spark_label "$s") on the pre-filled raw topic | $(fmt_stat "$(get "spark-$s" rsvps_per_s)") | $(fmt_stat "$(get "spark-$s" cpu_s_per_m)" 1) (JVM) | $(fmt_stat "$(get "spark-$s" rss_peak_mb)") | $(awk -v v="$(get "spark-$s" sum_ok | cut -d' ' -f2)" 'BEGIN { print (v == 1 ? "yes" : "**no**") }') |"
	done
	echo
	echo "Spark: throughput = rows / (start of the first non-empty micro-batch → end of the last), JVM start-up ($(r "$(med spark-tuned startup_s)" 1) s) excluded;"
	echo "JVM CPU from /proc after the session started. Pipeline pre-filled: from both consumers ready to the last count visible."
	echo
	echo "## End to end, per service (unpaced, $N RSVPs)"
	echo
	echo "| process | CPU s per million RSVPs | peak RSS MB (VmHWM) |"
	echo "|---|---|---|"
	for s in "${SERVICES[@]}"; do
		echo "| rsvp-$s | $(fmt_stat "$(get e2e "cpu_$s")" 2) | $(fmt_stat "$(get e2e "hwm_$s")") |"
	done
	echo "| **four services** | **$(fmt_stat "$(get e2e cpu_services)" 2)** | |"
	echo "| rsvp-replay (the stream source, stands in for Meetup: not ours to count) | $(fmt_stat "$(get e2e cpu_replay)" 2) | |"
	echo "| Kafka broker (shared JVM: includes anything else using it) | $(fmt_stat "$(get e2e cpu_broker)" 2) | |"
	echo "| PostgreSQL, whole instance (shared: includes other databases) | $(fmt_stat "$(get e2e cpu_pg)" 2) | |"
	echo "| PostgreSQL, the writer's own sessions | $(fmt_stat "$(get e2e cpu_pg_writer_sessions)" 2) | |"
	echo
	echo "Wall $(fmt_stat "$(get e2e seconds)" 1) s per run; dead-lettered $(med e2e dlq); MB/s of raw JSON $(fmt_stat "$(get e2e mb_per_s)" 1)."
	if want ingest; then
		echo "Ingestor alone (unpaced replay → raw topic, exactly once): $(fmt_stat "$(get ingest rsvps_per_s)") msgs/s, $(fmt_stat "$(get ingest cpu_s_per_m)" 2) CPU s/M; $(div "$(med ingest rsvps_per_s)" "$kcat_p" 2) of kcat producing the same bytes."
	fi
	echo
	echo "## The machine's limit: kcat on the same broker, same bytes (lz4, linger 5 ms)"
	echo
	echo "| topic | produce msgs/s | consume msgs/s | pipeline / min |"
	echo "|---|---|---|---|"
	echo "| raw ($N RSVPs, $((BYTES / 1000000)) MB) | $(fmt_stat "$(get kcat raw_produce)") | $(fmt_stat "$(get kcat raw_consume)") | $(div "$e2e_rate" "$lim" 2) |"
	if [[ -s $TMP/kcat ]] && grep -q parsed_consume "$TMP/kcat"; then
		local plim
		plim=$(awk -v p="$(med kcat parsed_produce)" -v c="$(med kcat parsed_consume)" 'BEGIN { print (p < c ? p : c) }')
		echo "| parsed ($(med kcat parsed_n) protobuf msgs, $(med kcat parsed_bytes | awk '{ printf "%.0f", $1 / 1e6 }') MB) | $(fmt_stat "$(get kcat parsed_produce)") | $(fmt_stat "$(get kcat parsed_consume)") | $(div "$e2e_rate" "$plim" 2) |"
	fi
	echo
	echo "## Micro-benchmarks (one core each; run 1 of $RUNS shown, medians in the tables above)"
	echo
	echo "Writer rows/s: upsert (same keys) $(fmt_stat "$(get micro writer_upsert)"), insert (new keys) $(fmt_stat "$(get micro writer_insert)")."
	echo
	cat "$TMP/bench-parser.1.md" 2>/dev/null || echo "(bench-parser: not run)"
	echo
	cat "$TMP/bench-aggregator.1.md" 2>/dev/null || echo "(bench-aggregator: not run)"
	echo
	cat "$TMP/bench-writer.1.md" 2>/dev/null || echo "(bench-writer: not run)"
	echo
	echo "Plot: latest.svg beside this file (cores and p99 freshness against the rate, both systems; backlog throughput"
	echo "over time; freshness distribution at 10k RSVPs/s)."
}

# plot: latest.svg, four panels, from the figures of this run.
plot() {
	command -v gnuplot >/dev/null || { progress "gnuplot not installed: no plot"; return 0; }
	local sys rate f cores_lines="" p99_lines="" tput_lines="" cdf_lines="" col=services
	for sys in $(steady_systems); do
		f=$RES/steady-$sys.dat
		: >"$f"
		[[ $sys == pipeline ]] && col=services || col=jvm
		for rate in "${RATES[@]}"; do
			[[ -s $TMP/st-$sys-$rate ]] || continue
			echo "$(med "st-$sys-$rate" rate) $(med "st-$sys-$rate" "cores_$col") $(med "st-$sys-$rate" p99)" >>"$f"
		done
		[[ -s $f ]] || continue
		cores_lines+="${cores_lines:+, }'$f' using (\$1/1000):2 with linespoints lw 2 title '$(sys_label "$sys")'"
		p99_lines+="${p99_lines:+, }'$f' using (\$1/1000):(\$3/1000) with linespoints lw 2 title '$(sys_label "$sys")'"
		[[ -s $TMP/cdf-st-$sys-10000.dat ]] && cp "$TMP/cdf-st-$sys-10000.dat" "$RES/freshness-$sys-10000.dat" &&
			cdf_lines+="${cdf_lines:+, }'$RES/freshness-$sys-10000.dat' using 1:2 with lines lw 2 title '$(sys_label "$sys")'"
	done
	[[ -s $RES/pipeline-throughput.dat ]] && tput_lines="'$RES/pipeline-throughput.dat' using 1:(\$2/1000) with steps lw 2 title 'rsvp-pipeline end to end'"
	for f in tuned reference; do
		[[ -s $TMP/spark-$f ]] && [[ -s $RES/spark-$f-progress.dat ]] || continue
		# per batch: rate = rows / duration, drawn from batch start to end, relative to the first start
		awk 'NR == 1 { t0 = $1 } { r = $3 / ($2 - $1); print $1 - t0, r; print $2 - t0, r; print "" }' \
			"$RES/spark-$f-progress.dat" >"$TMP/spark-$f.xy"
		tput_lines+="${tput_lines:+, }'$TMP/spark-$f.xy' using 1:(\$2/1000) with lines lw 2 title '$(spark_label "$f")'"
	done
	local script
	script=$(cat <<EOF
reset
set multiplot layout 2,2 title 'rsvp-pipeline benchmark ($(date -u '+%Y-%m-%d'); $HOSTTAG)'
set grid
set key below
set title 'Cores used at a steady stream (ours: four services; Spark: its JVM)'
set xlabel 'thousand RSVPs/s (achieved)'
set ylabel 'cores'
set xrange [0:*]
set yrange [0:*]
plot ${cores_lines:-0 notitle}
set title 'Freshness p99 at a steady stream (Kafka timestamp → visible in PostgreSQL)'
set ylabel 'seconds (log)'
set logscale y
set yrange [*:*]
plot ${p99_lines:-1 notitle}
unset logscale y
set title 'Backlog: throughput over time'
set xlabel 'seconds since the first RSVP / the first micro-batch'
set ylabel 'thousand RSVPs/s'
set xrange [*:*]
set yrange [0:*]
set key inside top right
plot ${tput_lines:-0 notitle}
set title 'Freshness at 10k RSVPs/s: distribution'
set xlabel 'delay, seconds (log)'
set ylabel 'fraction of RSVPs'
set logscale x
set key inside bottom right
plot ${cdf_lines:-0 notitle}
unset multiplot
EOF
)
	{ echo "set terminal svg size 1200,900 dynamic font 'sans,11'"; echo "set output '$RES/latest.svg'"; echo "$script"
	  echo "set terminal pngcairo size 1200,900 font 'sans,10'"; echo "set output '$RES/latest.png'"; echo "$script"; } |
		gnuplot 2>"$TMP/gnuplot.err" || progress "gnuplot failed: $(head -c 300 "$TMP/gnuplot.err")"
}

# want PHASE: false if BENCH_SKIP (comma-separated) names it ("fresh" is the steady phase's old name).
want() {
	local skip=",${BENCH_SKIP:-},"
	[[ $skip == *",fresh,"* ]] && skip+="steady,"
	[[ $skip != *",$1,"* ]]
}

main() {
	progress "make bench: $N RSVPs per backlog run, $RUNS runs; steady stream at ${RATES[*]} RSVPs/s, $WARM + $STEADY_S s each (BENCH_SCALE=$SCALE)"
	[[ -n ${BENCH_REPORT_FROM:-} ]] || build
	bench_init
	if [[ -n ${BENCH_REPORT_FROM:-} ]]; then # re-make the report from a kept run (for developing it)
		rm -rf "$TMP"
		TMP=$(realpath "$BENCH_REPORT_FROM")
		BENCH_SKIP=${BENCH_SKIP:-micro,kcat,ingest,e2e,pre,steady}
	else
		start_load_sampler
		if want spark && { want pre || want steady; }; then spark_setup; fi
		want micro && micro
		want kcat && kcat_raw
		local i rate s
		if want ingest; then for i in $(seq 1 "$RUNS"); do ingest_alone "$i"; done; fi
		if want e2e; then for i in $(seq 1 "$RUNS"); do e2e "$i"; done; fi
		if want kcat && [[ -n ${KEEP_PARSED:-} ]]; then kcat_parsed "$KEEP_PARSED"; fi
		# the backlog comparison: pipeline and Spark in alternation, so both see the same machine
		# (BENCH_SKIP=pre leaves out both sides of it, spark the Spark side and Spark's steady runs)
		if want pre; then
			for i in $(seq 1 "$RUNS"); do
				prefilled "$i"
				if want spark && ((i <= SPARK_RUNS)); then
					for s in "${SPARK_SETTINGS[@]}"; do spark_backlog_run "$s" "$i"; done
				fi
			done
		fi
		[[ -n ${SPARK_TOPIC:-} ]] && topics_delete "$SPARK_TOPIC"
		if want steady; then
			for rate in "${RATES[@]}"; do
				steady_pipeline "$rate"
				if want spark; then for s in "${SPARK_SETTINGS[@]}"; do steady_spark "$s" "$rate"; done; fi
			done
		fi
	fi
	report >"$RES/latest.md.tmp"
	mv "$RES/latest.md.tmp" "$RES/latest.md"
	plot
	cat "$RES/latest.md"
	progress "done in $(($(date +%s) - BENCH_T0)) s: $RES/latest.md, $RES/latest.svg"
}

# run, unless sourced (bench/ab.sh uses the functions)
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
