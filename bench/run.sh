#!/usr/bin/env bash
# bench/run.sh: `make bench`. Measures the pipeline end to end on this machine (throughput, CPU and
# memory per service, freshness at fixed rates), the broker's own limit with kcat for the same bytes,
# and the per-stage micro-benchmarks; prints one Markdown report (also bench/results/latest.md) with
# the goal beside each figure, and plots bench/results/latest.svg. Progress goes to stderr.
#   env: BENCH_SCALE (1: 2M RSVPs per end-to-end run; 0.05 for a quick check), BENCH_RUNS (3),
#        BENCH_FRESH_SECONDS (30 per rate), BENCH_SEED (1), BENCH_PORT_BASE (32100: first free range of 42 ports from there),
#        KAFKA_BROKERS + PGURL (else deploy/local/stack.sh up), BUILD (build),
#        BENCH_SKIP (phases to leave out: micro,kcat,ingest,e2e,pre,fresh), BENCH_PERF (dir: perf record each service in e2e),
#        BENCH_REPLAY_ARGS (extra rsvp-replay flags, e.g. --gzip=false)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

BUILD=${BUILD:-build}
BIN=$(realpath -m "$BUILD/bin")
CACHE=$(realpath -m "${BENCH_CACHE:-.cache}")
SCALE=${BENCH_SCALE:-1}
N=$(awk -v s="$SCALE" 'BEGIN { printf "%d", 2000000 * s }')
RUNS=${BENCH_RUNS:-3}
SEED=${BENCH_SEED:-1}
FRESH_S=${BENCH_FRESH_SECONDS:-$(awk -v s="$SCALE" 'BEGIN { v = 30 * s; printf "%d", v < 5 ? 5 : v }')}
PORT=${BENCH_PORT_BASE:-}
TRIGGER=${BENCH_TRIGGER:-1s}
BENCH_ID=bench-$$-$RANDOM
DB_PREFIX=${BENCH_ID//-/_}
RES=bench/results
TMP=$(realpath -m "$RES/tmp/$BENCH_ID")
mkdir -p "$TMP" "$RES"
SERVICES=(ingestor parser aggregator writer)
declare -A PID

cleanup() {
	local rc=$? s db
	for s in ingestor replay parser aggregator writer; do stop_pid "${PID[$s]:-}" 5; done
	kill "${LOADPID:-}" 2>/dev/null || true
	topics_delete "$BENCH_ID-.*"
	for db in $(psql -XAtq "$PGURL" -c "select datname from pg_database where datname like '${DB_PREFIX}%'" 2>/dev/null); do
		psql -XAtq "$PGURL" -c "drop database if exists $db with (force)" >/dev/null 2>&1 || true
	done
	if [[ -n ${BENCH_REPORT_FROM:-} ]]; then :
	elif ((rc == 0)); then rm -rf "$TMP"
	else progress "failed (exit $rc): logs kept in $TMP"; fi
}

# ---------------------------------------------------------------------------------------------
# Phase helpers

# put FILE KEY VALUE: one measured figure of one run ("key value" lines, one file per kind of run).
put() { echo "$2 $3" >>"$TMP/$1"; }
# get FILE KEY: "median min max n" of KEY over the runs in FILE.
get() { { awk -v k="$2" '$1 == k { print $2 }' "$TMP/$1" 2>/dev/null || true; } | stats; }
med() { get "$1" "$2" | cut -d' ' -f1; }
r0() { awk -v v="$1" 'BEGIN { if (v == "nan" || v == "") print "n/a"; else printf "%.0f", v }'; }

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
	MACHINE="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)"
	VERSIONS="librdkafka $(pkg-config --modversion rdkafka), Kafka broker ${kafka_ver#kafka_2.13-} (${KAFKA_BROKERS}), PostgreSQL $(psql -XAtq "$PGURL" -c 'show server_version'), $(cc --version | head -n1), kcat $(kcat -V 2>&1 | grep -o 'Version [0-9.]*' | head -n1 | cut -d' ' -f2), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$( [[ -z $(git status --porcelain -uno 2>/dev/null | head -n1) ]] || echo ' + uncommitted changes')"
}

# load sampler: load1 every 2 s into $TMP/load for the whole run.
start_load_sampler() {
	(while :; do cut -d' ' -f1 /proc/loadavg >>"$TMP/load"; sleep 2; done) &
	LOADPID=$!
}

# free_port_base FROM: the first base >= FROM (steps of 50) whose ports base..base+41 are all free.
free_port_base() {
	local b=$1 p ok
	while ((b < 60000)); do
		ok=1
		for p in $(seq "$b" $((b + 41))); do
			if ss -ltnH "sport = :$p" 2>/dev/null | grep -q .; then ok=0; break; fi
		done
		((ok)) && { echo "$b"; return 0; }
		b=$((b + 50))
	done
	bench_die "no free port range"
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
		progress "micro-benchmarks run $i/$RUNS: bench-aggregator (1M messages, 1M distinct keys)"
		out=$("$BIN/bench-aggregator" "$recorded" 1000000 2>/dev/null)
		echo "$out" >"$TMP/bench-aggregator.$i.md"
		put micro agg_msgs "$(grep -o '\*\*[0-9.]* msgs/s/core' <<<"$out" | tr -dc '0-9.')"
		put micro agg_bytes_key "$(grep -o '\*\*[0-9.]* B/key' <<<"$out" | tr -dc '0-9.')"
		put micro agg_strings_key "$(grep -o 'strings [0-9.]* B/key' <<<"$out" | tr -dc '0-9.')"
		progress "micro-benchmarks run $i/$RUNS: writer rows/s (bench/bench_writer.sh)"
		out=$(BIN="$BIN" PGURL="$PGURL" BATCHES="${WRITER_BATCHES:-30}" ROWS=10000 PORT=$((PORT + 40)) MPORT=$((PORT + 41)) \
			bench/bench_writer.sh 2>/dev/null) || { progress "  writer benchmark failed"; continue; }
		echo "$out" >"$TMP/bench-writer.$i.md"
		put micro writer_upsert "$(awk -F'|' '$2 ~ /upsert/ { print $5 + 0 }' <<<"$out")"
		put micro writer_insert "$(awk -F'|' '$2 ~ /insert/ { print $5 + 0 }' <<<"$out")"
	done
}

# ---------------------------------------------------------------------------------------------
# 2. The input: N synthetic RSVPs, the same bytes the pipeline reads from rsvp-replay

make_input() {
	synthetic_input "$BIN/rsvp-replay"
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
# kcat producing the same bytes: the first hop against the bare broker.
ingest_alone() {
	local i=$1 t0 t1 got=0 deadline
	RAW=$BENCH_ID-ing-$i
	LOGS=$TMP/logs-ing$i
	mkdir -p "$LOGS"
	topic_create "$RAW" 4
	progress "ingestor alone run $i/$RUNS: $N unpaced RSVPs from rsvp-replay into $RAW"
	"$BIN/rsvp-replay" --synthetic --seed "$SEED" --count "$N" --start-mtime 1700000000000 \
		--listen 127.0.0.1:$((PORT + 6)) --metrics-addr 127.0.0.1:$((PORT + 5)) 2>"$LOGS/replay.log" &
	PID[replay]=$!
	wait_ready $((PORT + 5)) 60 || bench_die "replay not ready (see $LOGS/replay.log)"
	t0=$(now_ms)
	SOURCE_URL=http://127.0.0.1:$((PORT + 6))/2/rsvps RAW_TOPIC=$RAW TRANSACTIONAL_ID=$BENCH_ID-$RAW \
		METRICS_ADDR=127.0.0.1:$((PORT + 1)) INSTANCE_ID=$RAW-ing "$BIN/rsvp-ingestor" 2>"$LOGS/ingestor.log" &
	PID[ingestor]=$!
	deadline=$((SECONDS + 600))
	while ((got < N)); do
		kill -0 "${PID[ingestor]}" 2>/dev/null || bench_die "ingestor exited (see $LOGS/ingestor.log)"
		((SECONDS < deadline)) || bench_die "ingestor alone: $got of $N after 600 s"
		sleep 0.05
		got=$(metric $((PORT + 1)) rsvp_ingestor_produced_total)
	done
	t1=$(now_ms)
	put ingest rsvps_per_s "$(awk -v n="$N" -v ms=$((t1 - t0)) 'BEGIN { print n * 1000 / ms }')"
	put ingest mb_per_s "$(awk -v b="$BYTES" -v ms=$((t1 - t0)) 'BEGIN { print b / 1000 / ms }')"
	put ingest cpu_s_per_m "$(awk -v t="$(cpu_ticks "${PID[ingestor]}")" -v hz="$(getconf CLK_TCK)" -v n="$N" 'BEGIN { print t / hz * 1e6 / n }')"
	stop_pid "${PID[ingestor]}" 15
	stop_pid "${PID[replay]}" 15
	PID[ingestor]= PID[replay]=
	topics_delete "$RAW"
}

# ---------------------------------------------------------------------------------------------
# 4. The pipeline: four services on fresh topics and a fresh database

# pipeline_up TAG TRIGGER: starts writer, aggregator and parser, waits until each is ready.
pipeline_up() {
	local tag=$1 trigger=$2 pre=$BENCH_ID-$1
	RAW=$pre-raw PARSED=$pre-parsed DLQ=$pre-dlq DB=${DB_PREFIX}_${1//-/_}
	topic_create "$RAW" 4
	topic_create "$PARSED" 4
	topic_create "$DLQ" 4
	psql -XAtq "$PGURL" -c "create database $DB" >/dev/null
	LOGS=$TMP/logs-$tag
	mkdir -p "$LOGS"
	PG_URL=$(db_url "$DB") LISTEN=tcp://127.0.0.1:$PORT METRICS_ADDR=127.0.0.1:$((PORT + 4)) \
		"$BIN/rsvp-writer" 2>"$LOGS/writer.log" &
	PID[writer]=$!
	wait_ready $((PORT + 4)) 60 || bench_die "writer not ready (see $LOGS/writer.log)"
	PARSED_TOPIC=$PARSED GROUP_ID=$pre-agg WRITER_URL=tcp://127.0.0.1:$PORT TRIGGER_INTERVAL=$trigger \
		METRICS_ADDR=127.0.0.1:$((PORT + 3)) INSTANCE_ID=$pre-agg "$BIN/rsvp-aggregator" 2>"$LOGS/aggregator.log" &
	PID[aggregator]=$!
	RAW_TOPIC=$RAW PARSED_TOPIC=$PARSED DLQ_TOPIC=$DLQ GROUP_ID=$pre-parser METRICS_ADDR=127.0.0.1:$((PORT + 2)) \
		INSTANCE_ID=$pre-parser "$BIN/rsvp-parser" 2>"$LOGS/parser.log" &
	PID[parser]=$!
	wait_ready $((PORT + 3)) 120 || bench_die "aggregator not ready (see $LOGS/aggregator.log)"
	wait_ready $((PORT + 2)) 120 || bench_die "parser not ready (see $LOGS/parser.log)"
}

# source_up RATE COUNT [START_MTIME]: rsvp-replay (synthetic) and the ingestor reading it.
source_up() {
	local extra=()
	[[ -n ${3:-} ]] && extra=(--start-mtime "$3")
	# shellcheck disable=SC2206 # word-split on purpose: extra replay flags, e.g. --gzip=false
	extra+=(${BENCH_REPLAY_ARGS:-})
	"$BIN/rsvp-replay" --synthetic --seed "$SEED" --count "$2" --rate "$1" --listen 127.0.0.1:$((PORT + 6)) \
		--metrics-addr 127.0.0.1:$((PORT + 5)) "${extra[@]}" 2>"$LOGS/replay.log" &
	PID[replay]=$!
	wait_ready $((PORT + 5)) 60 || bench_die "replay not ready (see $LOGS/replay.log)"
	SOURCE_URL=http://127.0.0.1:$((PORT + 6))/2/rsvps RAW_TOPIC=$RAW TRANSACTIONAL_ID=$BENCH_ID-$RAW \
		METRICS_ADDR=127.0.0.1:$((PORT + 1)) INSTANCE_ID=$RAW-ing "$BIN/rsvp-ingestor" 2>"$LOGS/ingestor.log" &
	PID[ingestor]=$!
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

# proc_snapshot: CPU ticks of every service, the broker and PostgreSQL, into the associative array $1.
declare -A CPU0 CPU1
proc_snapshot() {
	local -n into=$1
	local s
	for s in "${SERVICES[@]}"; do into[$s]=$(cpu_ticks "${PID[$s]:-0}"); done
	into[replay]=$(cpu_ticks "${PID[replay]:-0}")
	into[broker]=$(cpu_ticks "${BROKER_PID:-0}")
	into[pg]=$(pg_cpu_ticks "${PG_PID:-}")
}

# e2e I: one unpaced end-to-end run of N RSVPs.
e2e() {
	local i=$1 t_end first s db_backends wall dlq ticks sec_total=0
	progress "end-to-end run $i/$RUNS: $N unpaced synthetic RSVPs, trigger $TRIGGER"
	pipeline_up "e2e$i" "$TRIGGER"
	proc_snapshot CPU0
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
	proc_snapshot CPU1
	first=$(psql -XAtq "$(db_url "$DB")" -c 'select min(oldest_ingest_ms) from rsvp_batches')
	wall=$((t_end - first))
	dlq=$(metric $((PORT + 2)) rsvp_parser_dead_lettered_total)
	put e2e rsvps_per_s "$(awk -v n="$N" -v ms="$wall" 'BEGIN { print n * 1000 / ms }')"
	put e2e mb_per_s "$(awk -v b="$BYTES" -v ms="$wall" 'BEGIN { print b / 1000 / ms }')"
	put e2e seconds "$(awk -v ms="$wall" 'BEGIN { print ms / 1000 }')"
	put e2e dlq "$dlq"
	for s in "${SERVICES[@]}" replay broker pg; do
		ticks=$((CPU1[$s] - CPU0[$s]))
		put e2e "cpu_$s" "$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$N" 'BEGIN { print t / hz / n * 1e6 }')"
		[[ $s == replay || $s == broker || $s == pg ]] || sec_total=$((sec_total + ticks))
	done
	put e2e cpu_services "$(awk -v t="$sec_total" -v hz="$CLK_TCK" -v n="$N" 'BEGIN { print t / hz / n * 1e6 }')"
	# the writer's own database sessions (their CPU since they connected: the writer starts with the run)
	db_backends=0
	for s in $(psql -XAtq "$PGURL" -c "select pid from pg_stat_activity where datname = '$DB' and pid <> pg_backend_pid()"); do
		db_backends=$((db_backends + $(cpu_ticks "$s")))
	done
	put e2e cpu_pg_writer_sessions "$(awk -v t="$db_backends" -v hz="$CLK_TCK" -v n="$N" 'BEGIN { print t / hz / n * 1e6 }')"
	for s in "${SERVICES[@]}"; do put e2e "hwm_$s" "$(($(rss_kb "${PID[$s]}" VmHWM) / 1024))"; done
	put e2e rows_visible "$(psql -XAtq "$(db_url "$DB")" -c 'select sum(response_count) from rsvp_counts')"
	progress "  $(tail -n +1 "$TMP/e2e" | awk '$1 == "rsvps_per_s" { v = $2 } END { printf "%.0f", v }') RSVPs/s over $((wall / 1000)) s; $(awk '$1 == "cpu_services" { v = $2 } END { printf "%.2f", v }' "$TMP/e2e") CPU s per million RSVPs (4 services)"
	if ((i == 1)); then
		# throughput over time for the plot: RSVPs applied per second since the first was accepted
		psql -XAtq -F' ' "$(db_url "$DB")" -c "select (extract(epoch from committed_at) * 1000)::bigint - $first, messages from rsvp_batches order by committed_at" |
			awk '{ b = int($1 / 1000); n[b] += $2; if (b > m) m = b } END { for (i = 0; i <= m; i++) print i + 0.5, n[i] + 0 }' >"$RES/pipeline-throughput.dat"
		KEEP_PARSED=$PARSED
	fi
	pipeline_down
	psql -XAtq "$PGURL" -c "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
	[[ $PARSED == "${KEEP_PARSED:-}" ]] || topics_delete "$BENCH_ID-e2e$i-.*"
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
# 5. Freshness at fixed rates (250 ms trigger): per-RSVP delay from the ingestor's timestamp (carried
#    to the writer as newest/oldest_ingest_ms of each batch) to the batch's commit in PostgreSQL.

fresh() {
	local rate=$1 s got ing dlq prev deadline count
	count=$((rate * FRESH_S))
	progress "freshness at $rate RSVPs/s for $FRESH_S s (trigger 250ms)"
	pipeline_up "fresh$rate" 250ms
	source_up "$rate" "$count"
	# the paced stream: sample steady RSS in the last quarter of it
	sleep "$(awk -v s="$FRESH_S" 'BEGIN { print s * 0.8 }')"
	for s in "${SERVICES[@]}"; do put "fresh$rate" "rss_$s" "$(($(rss_kb "${PID[$s]}" VmRSS) / 1024))"; done
	# then wait until every RSVP the ingestor accepted is applied (the ingestor joins a few hundred ms
	# late, so it accepts slightly fewer than count: a live stream starts now)
	sleep "$(awk -v s="$FRESH_S" 'BEGIN { print s * 0.2 + 1 }')"
	deadline=$((SECONDS + 120))
	prev=-1
	while :; do
		ing=$(metric $((PORT + 1)) rsvp_ingestor_produced_total)
		dlq=$(metric $((PORT + 2)) rsvp_parser_dead_lettered_total)
		got=$(applied)
		((ing > 0 && ing == prev && got >= ing - dlq)) && break
		((SECONDS < deadline)) || { progress "  timeout: $got of $ing applied"; break; }
		prev=$ing
		sleep 1
	done
	psql -XAtq -F' ' "$(db_url "$DB")" -c "select messages, oldest_ingest_ms, newest_ingest_ms,
		(extract(epoch from committed_at) * 1000)::bigint from rsvp_batches where messages > 0" >"$TMP/batches-$rate"
	put "fresh$rate" applied "$got"
	pipeline_down
	psql -XAtq "$PGURL" -c "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
	topics_delete "$BENCH_ID-fresh$rate-.*"
	# per-RSVP delays: a batch's messages are spread evenly between its oldest and newest ingest time
	python3 - "$TMP/batches-$rate" "$RES/freshness-$rate.dat" >>"$TMP/fresh$rate" <<'EOF'
import sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
pts = []
for m, old, new, done in rows:
    k = min(m, 50)
    for j in range(k):
        pts.append((done - (old + (j + 0.5) / k * (new - old)), m / k))
pts.sort()
tot = sum(w for _, w in pts)
def pct(p):
    acc = 0
    for d, w in pts:
        acc += w
        if acc >= p * tot:
            return d
    return pts[-1][0]
if pts:
    print("p50", pct(0.5)); print("p99", pct(0.99)); print("max", max(done - old for _, old, _, done in rows))
    per_batch = sorted(done - new for _, _, new, done in rows)
    print("batch_p50", per_batch[len(per_batch) // 2]); print("batch_p99", per_batch[min(len(per_batch) - 1, int(len(per_batch) * 0.99))])
    print("batches", len(rows))
    with open(sys.argv[2], "w") as f:  # the CDF, thinned to ~400 points, for the plot
        acc, step, nxt = 0, tot / 400, 0
        for d, w in pts:
            acc += w
            if acc >= nxt:
                f.write(f"{d / 1000:.4f} {acc / tot:.5f}\n")
                nxt += step
EOF
	progress "  p50 $(r0 "$(med "fresh$rate" p50)") ms, p99 $(r0 "$(med "fresh$rate" p99)") ms, max $(med "fresh$rate" max) ms over $(med "fresh$rate" batches) batches"
}

# ---------------------------------------------------------------------------------------------
# 6. The report

goal_mark() { awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN { if (v == "" || v == "nan") print "n/a"; else if ((op == ">=" && v >= g) || (op == "<=" && v <= g)) print "met"; else print "**missed**" }'; }

spark_fig() { awk -v n="$1" -v k="$2" '$1 == n && $2 == k { print $3 }' "$RES/spark.summary" 2>/dev/null || true; }

report() {
	local e2e_rate kcat_p kcat_c lim rss10 s svc spark_ref spark_tuned cpu_all max_rss ratio load
	e2e_rate=$(med e2e rsvps_per_s)
	kcat_p=$(med kcat raw_produce)
	kcat_c=$(med kcat raw_consume)
	lim=$(awk -v p="$kcat_p" -v c="$kcat_c" 'BEGIN { print (p < c ? p : c) }')
	cpu_all=$(med e2e cpu_services)
	max_rss=0
	for s in "${SERVICES[@]}"; do
		rss10=$(med fresh10000 "rss_$s")
		[[ $rss10 == nan ]] || max_rss=$(awk -v a="$max_rss" -v b="$rss10" 'BEGIN { print (b > a ? b : a) }')
	done
	spark_ref=$(spark_fig reference rsvps_per_s)
	spark_tuned=$(spark_fig tuned rsvps_per_s)
	load=$(stats <"$TMP/load")
	echo "# rsvp-pipeline benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'))"
	echo
	echo "Machine: $MACHINE. Load average (1 min) during the run: median $(cut -d' ' -f1 <<<"$load"), min $(cut -d' ' -f2 <<<"$load"), max $(cut -d' ' -f3 <<<"$load")."
	echo "Versions: $VERSIONS."
	echo "Input: $N synthetic RSVPs (rsvp-replay --synthetic --seed $SEED, unpaced), $((BYTES / 1000000)) MB, $(awk -v b="$BYTES" -v n="$N" 'BEGIN { printf "%.0f", b / n }') B/RSVP; topics 4 partitions, lz4."
	echo "Each figure: median (min-max, n runs). Total time of this run: $(($(date +%s) - BENCH_T0)) s."
	echo
	echo "## Summary against the goals"
	echo
	echo "| figure | measured | goal | |"
	echo "|---|---|---|---|"
	echo "| end-to-end RSVPs/s (first RSVP accepted → last count visible in PostgreSQL, trigger $TRIGGER) | $(fmt_stat "$(get e2e rsvps_per_s)") | ≥ 100,000 | $(goal_mark "$e2e_rate" ">=" 100000) |"
	echo "| end-to-end MB/s of raw JSON | $(fmt_stat "$(get e2e mb_per_s)" 1) | | |"
	if want ingest; then
		ratio=$(awk -v a="$(med ingest rsvps_per_s)" -v b="$kcat_p" 'BEGIN { if (b > 0 && a != "nan") printf "%.2f", a / b; else print "nan" }')
		echo "| ingestor alone (unpaced replay → raw topic, exactly once): msgs/s, MB/s, CPU s/M; / kcat produce ($(printf '%.0f' "$kcat_p") msgs/s) | $(fmt_stat "$(get ingest rsvps_per_s)"), $(fmt_stat "$(get ingest mb_per_s)" 1) MB/s, $(fmt_stat "$(get ingest cpu_s_per_m)" 2); ratio $ratio | | |"
	fi
	ratio=$(awk -v a="$e2e_rate" -v b="$lim" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }')
	echo "| pipeline / kcat limit (min of produce, consume for the same bytes: $(printf '%.0f' "$lim") msgs/s) | $ratio | ≥ 0.50 | $(goal_mark "$ratio" ">=" 0.5) |"
	if [[ -n $spark_ref ]]; then
		ratio=$(awk -v a="$(med pre rsvps_per_s)" -v b="$spark_tuned" 'BEGIN { if (b > 0 && a != "nan") printf "%.1f", a / b; else print "nan" }')
		echo "| pipeline on a pre-filled raw topic (as Spark is measured; parser+aggregator+writer) | $(fmt_stat "$(get pre rsvps_per_s)") RSVPs/s, $(fmt_stat "$(get pre cpu_services)" 2) CPU s/M | | |"
		echo "| pre-filled pipeline / Spark tuned ($(printf '%.0f' "$spark_tuned") RSVPs/s; reference settings $(printf '%.0f' "$spark_ref")) | ${ratio}× | ≥ 3× | $(goal_mark "$ratio" ">=" 3) |"
		ratio=$(awk -v a="$e2e_rate" -v b="$spark_tuned" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "nan" }')
		echo "| end-to-end pipeline (with HTTP source + ingestor) / Spark tuned (pre-filled) | ${ratio}× | | |"
		ratio=$(awk -v a="$(spark_fig tuned cpu_s_per_million)" -v b="$cpu_all" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "nan" }')
		echo "| Spark tuned JVM CPU s/M ($(printf '%.1f' "$(spark_fig tuned cpu_s_per_million)")) / four services' CPU s/M | ${ratio}× | ≥ 10× | $(goal_mark "$ratio" ">=" 10) |"
	else
		echo "| pipeline / Spark | skipped: run make bench-spark | ≥ 3× | n/a |"
	fi
	echo "| CPU s per million RSVPs, four services together | $(fmt_stat "$(get e2e cpu_services)" 2) | ≤ 6.5 | $(goal_mark "$cpu_all" "<=" 6.5) |"
	echo "| freshness p99 at 10k RSVPs/s, 250 ms trigger | $(r0 "$(med fresh10000 p99)") ms | ≤ 1000 ms | $(goal_mark "$(med fresh10000 p99)" "<=" 1000) |"
	echo "| largest steady RSS of a service at 10k RSVPs/s | $max_rss MB | ≤ 20 MB | $(goal_mark "$max_rss" "<=" 20) |"
	echo "| parser parse+encode per core (bench-parser, CPU time) | $(fmt_stat "$(get micro parser_cpu)") msgs/s | ≥ 400,000 | $(goal_mark "$(med micro parser_cpu)" ">=" 400000) |"
	echo "| aggregator memory per live key at 1M keys (bench-aggregator, table; key strings beside) | $(fmt_stat "$(get micro agg_bytes_key)" 1) B (+ $(med micro agg_strings_key) B strings) | ≤ 100 B | $(goal_mark "$(med micro agg_bytes_key)" "<=" 100) |"
	echo
	echo "## End to end, per service (unpaced, $N RSVPs)"
	echo
	echo "| process | CPU s per million RSVPs | peak RSS MB (VmHWM) | steady RSS MB at 1k / 10k / 50k RSVPs/s |"
	echo "|---|---|---|---|"
	for s in "${SERVICES[@]}"; do
		echo "| rsvp-$s | $(fmt_stat "$(get e2e "cpu_$s")" 2) | $(fmt_stat "$(get e2e "hwm_$s")") | $(med fresh1000 "rss_$s") / $(med fresh10000 "rss_$s") / $(med fresh50000 "rss_$s") |"
	done
	echo "| **four services** | **$(fmt_stat "$(get e2e cpu_services)" 2)** | | |"
	echo "| rsvp-replay (the stream source, stands in for Meetup: not ours to count) | $(fmt_stat "$(get e2e cpu_replay)" 2) | | |"
	echo "| Kafka broker (shared JVM: includes anything else using it) | $(fmt_stat "$(get e2e cpu_broker)" 2) | | |"
	echo "| PostgreSQL, whole instance (shared: includes other databases) | $(fmt_stat "$(get e2e cpu_pg)" 2) | | |"
	echo "| PostgreSQL, the writer's own sessions | $(fmt_stat "$(get e2e cpu_pg_writer_sessions)" 2) | | |"
	echo
	echo "Per core: parser $(awk -v c="$(med e2e cpu_parser)" 'BEGIN { if (c > 0) printf "%.0f", 1e6 / c; else print "n/a" }') msgs per CPU second in the pipeline, aggregator $(awk -v c="$(med e2e cpu_aggregator)" 'BEGIN { if (c > 0) printf "%.0f", 1e6 / c; else print "n/a" }') (Kafka client work included); wall $(fmt_stat "$(get e2e seconds)" 1) s per run; dead-lettered $(med e2e dlq); PostgreSQL sum of counts $(med e2e rows_visible) (= $N expected)."
	echo
	echo "## The machine's limit: kcat on the same broker, same bytes (lz4, linger 5 ms)"
	echo
	echo "| topic | produce msgs/s | consume msgs/s | pipeline / min |"
	echo "|---|---|---|---|"
	echo "| raw ($N RSVPs, $((BYTES / 1000000)) MB) | $(fmt_stat "$(get kcat raw_produce)") | $(fmt_stat "$(get kcat raw_consume)") | $(awk -v a="$e2e_rate" -v b="$lim" 'BEGIN { if (b > 0) printf "%.2f", a / b }') |"
	if [[ -s $TMP/kcat ]] && grep -q parsed_consume "$TMP/kcat"; then
		local plim
		plim=$(awk -v p="$(med kcat parsed_produce)" -v c="$(med kcat parsed_consume)" 'BEGIN { print (p < c ? p : c) }')
		echo "| parsed ($(med kcat parsed_n) protobuf msgs, $(med kcat parsed_bytes | awk '{ printf "%.0f", $1 / 1e6 }') MB) | $(fmt_stat "$(get kcat parsed_produce)") | $(fmt_stat "$(get kcat parsed_consume)") | $(awk -v a="$e2e_rate" -v b="$plim" 'BEGIN { if (b > 0) printf "%.2f", a / b }') |"
	fi
	echo
	echo "## Freshness (ingestor accepted → batch committed in PostgreSQL; trigger 250 ms; $FRESH_S s per rate)"
	echo
	echo "| rate RSVPs/s | RSVPs applied | batches | p50 ms | p99 ms | max ms | per batch (newest RSVP) p50 / p99 ms |"
	echo "|---|---|---|---|---|---|---|"
	for s in 1000 10000 50000; do
		echo "| $s | $(med "fresh$s" applied) | $(med "fresh$s" batches) | $(r0 "$(med "fresh$s" p50)") | $(r0 "$(med "fresh$s" p99)") | $(med "fresh$s" max) | $(med "fresh$s" batch_p50) / $(med "fresh$s" batch_p99) |"
	done
	echo
	echo "Per-RSVP delay: each batch's RSVPs are taken as spread evenly between its oldest and newest ingest time (rsvp_batches). One run per rate."
	echo
	echo "## Micro-benchmarks (one core each; run 1 of $RUNS shown, medians in the summary)"
	echo
	echo "Writer rows/s: upsert (same keys) $(fmt_stat "$(get micro writer_upsert)"), insert (new keys) $(fmt_stat "$(get micro writer_insert)")."
	echo
	cat "$TMP/bench-parser.1.md" 2>/dev/null || echo "(bench-parser: not run)"
	echo
	cat "$TMP/bench-aggregator.1.md" 2>/dev/null || echo "(bench-aggregator: not run)"
	echo
	cat "$TMP/bench-writer.1.md" 2>/dev/null || echo "(bench-writer: not run)"
	echo
	echo "## Reference Spark job"
	echo
	if [[ -s $RES/spark.md ]]; then
		sed 's/^### .*/(from bench\/results\/spark.md, made by `make bench-spark`)/' "$RES/spark.md"
	else
		echo "skipped: run make bench-spark"
	fi
	echo
	echo "Plot: bench/results/latest.svg (throughput over time, freshness distribution)."
}

plot() {
	command -v gnuplot >/dev/null || { progress "gnuplot not installed: no plot"; return 0; }
	local spark_lines="" f
	for f in reference tuned; do
		[[ -s $RES/spark-$f-progress.dat ]] || continue
		# per batch: rate = rows / duration, drawn from batch start to end, relative to the first start
		awk 'NR == 1 { t0 = $1 } { r = $3 / ($2 - $1); print $1 - t0, r; print $2 - t0, r; print "" }' \
			"$RES/spark-$f-progress.dat" >"$TMP/spark-$f.xy"
		spark_lines+=", '$TMP/spark-$f.xy' using 1:(\$2/1000) with lines lw 2 title 'Spark ($f settings)'"
	done
	local fresh_lines=""
	for f in 1000 10000 50000; do
		[[ -s $RES/freshness-$f.dat ]] && fresh_lines+="${fresh_lines:+, }'$RES/freshness-$f.dat' using 1:2 with lines lw 2 title '$f RSVPs/s'"
	done
	gnuplot <<EOF 2>/dev/null || progress "gnuplot failed"
set terminal svg size 1100,450 dynamic font 'sans,11'
set output '$RES/latest.svg'
set multiplot layout 1,2 title 'rsvp-pipeline benchmark ($(date -u '+%Y-%m-%d'), $(nproc) cores)'
set title 'End-to-end throughput over time'
set xlabel 'seconds since the first RSVP was accepted'
set ylabel 'thousand RSVPs/s reaching PostgreSQL'
set grid
set key top right
set yrange [0:*]
plot '$RES/pipeline-throughput.dat' using 1:(\$2/1000) with steps lw 2 title 'rsvp-pipeline (unpaced)'$spark_lines
set title 'Freshness: ingest → visible in PostgreSQL (250 ms trigger)'
set xlabel 'delay, seconds (log)'
set ylabel 'fraction of RSVPs'
set logscale x
set key bottom right
plot ${fresh_lines:-0 notitle}
unset multiplot
EOF
}

# want PHASE: false if BENCH_SKIP (comma-separated: micro,kcat,e2e,pre,fresh) names it (for quick checks).
want() { [[ ",${BENCH_SKIP:-}," != *",$1,"* ]]; }

main() {
	progress "make bench: $N RSVPs per end-to-end run, $RUNS runs, freshness $FRESH_S s per rate (BENCH_SCALE=$SCALE)"
	build
	bench_stack
	trap cleanup EXIT
	BROKER_PID=$(listener_pid "${KAFKA_BROKERS##*:}")
	PG_PID=$(pg_postmaster_pid)
	[[ -n $BROKER_PID ]] || progress "broker process not found on this machine: its CPU is not measured"
	[[ -n $PG_PID ]] || progress "PostgreSQL postmaster not readable on this machine: its CPU is not measured"
	PORT=$(free_port_base "${PORT:-32100}")
	machine
	if [[ -n ${BENCH_REPORT_FROM:-} ]]; then # re-make the report from a kept run (for developing it)
		rm -rf "$TMP"
		TMP=$(realpath "$BENCH_REPORT_FROM")
		BENCH_SKIP=micro,kcat,ingest,e2e,pre,fresh
	fi
	start_load_sampler
	want micro && micro
	make_input
	want kcat && kcat_raw
	local i
	if want ingest; then for i in $(seq 1 "$RUNS"); do ingest_alone "$i"; done; fi
	if want e2e; then for i in $(seq 1 "$RUNS"); do e2e "$i"; done; fi
	if want kcat && [[ -n ${KEEP_PARSED:-} ]]; then kcat_parsed "$KEEP_PARSED"; fi
	if want pre; then for i in $(seq 1 "$RUNS"); do prefilled "$i"; done; fi
	if want fresh; then for i in 1000 10000 50000; do fresh "$i"; done; fi
	report >"$RES/latest.md.tmp"
	mv "$RES/latest.md.tmp" "$RES/latest.md"
	plot
	cat "$RES/latest.md"
	progress "done in $(($(date +%s) - BENCH_T0)) s: $RES/latest.md, $RES/latest.svg"
}
main "$@"
