#!/usr/bin/env bash
# bench/spark.sh: `make bench-spark`. Runs the reference Spark job (bench/spark/job.py) on this machine
# over the same synthetic raw topic bench/run.sh feeds the pipeline, with the reference's own settings
# (30 s trigger, 200 shuffle partitions) and tuned (1 s trigger, shuffle partitions = cores), and
# writes bench/results/spark.md, which `make bench` includes. Installs PySpark 4.2.0 in a venv and the
# Kafka/JDBC jars (Maven) under $BENCH_CACHE (default .cache/) on first use.
#   env: BENCH_SCALE (1 = 2M RSVPs), SPARK_RUNS (3), SPARK_COUNT (overrides the RSVP count),
#        KAFKA_BROKERS + PGURL (else deploy/local/stack.sh up), BUILD (build)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

BUILD=${BUILD:-build}
CACHE=$(realpath -m "${BENCH_CACHE:-.cache}")
SPARK_DIR=$CACHE/spark
SCALE=${BENCH_SCALE:-1}
N=${SPARK_COUNT:-$(awk -v s="$SCALE" 'BEGIN { printf "%d", 2000000 * s }')}
RUNS=${SPARK_RUNS:-3}
SEED=${BENCH_SEED:-1}
BENCH_ID=bench-spark-$$-$RANDOM
DB_PREFIX=${BENCH_ID//-/_}
OUT=bench/results/spark.md
TMP=$(realpath -m "bench/results/tmp/$BENCH_ID")
mkdir -p "$TMP" bench/results

cleanup() {
	topics_delete "$BENCH_ID-raw" 2>/dev/null || true
	local db
	for db in $(psql -XAtq "$PGURL" -c "select datname from pg_database where datname like '${DB_PREFIX}%'" 2>/dev/null); do
		psql -XAtq "$PGURL" -c "drop database if exists $db with (force)" >/dev/null 2>&1 || true
	done
	rm -rf "$TMP"
}

# --- 1. install PySpark and the jars (idempotent) ---
setup() {
	if ! "$SPARK_DIR/venv/bin/python" -c 'import pyspark, sys; sys.exit(pyspark.__version__ != "4.2.0")' 2>/dev/null; then
		progress "installing PySpark 4.2.0 into $SPARK_DIR/venv (about 450 MB, once)"
		mkdir -p "$SPARK_DIR"
		python3 -m venv "$SPARK_DIR/venv"
		"$SPARK_DIR/venv/bin/pip" install -q pyspark==4.2.0 >&2
	fi
	JARS=""
	local j f
	for j in spark-sql-kafka-0-10_2.13-4.2.0 spark-token-provider-kafka-0-10_2.13-4.2.0 kafka-clients- commons-pool2- postgresql-42.7.14; do
		f=$(compgen -G "$SPARK_DIR/jars/$j*.jar" | head -n1 || true)
		if [[ -z $f ]]; then
			progress "resolving the Kafka connector and JDBC jars with Maven"
			(cd bench/spark && mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
				-DoutputDirectory="$SPARK_DIR/jars" -DincludeScope=runtime >&2)
			f=$(compgen -G "$SPARK_DIR/jars/$j*.jar" | head -n1) || bench_die "jar $j missing after mvn"
		fi
		JARS+="${JARS:+,}$f"
	done
}

# --- 2. the raw topic: the same synthetic bytes bench/run.sh uses ---
fill_topic() {
	progress "building rsvp-replay"
	make --no-print-directory -s BUILD="$BUILD" "$BUILD/bin/rsvp-replay" >&2
	synthetic_input "$BUILD/bin/rsvp-replay"
	TOPIC=$BENCH_ID-raw
	topic_create "$TOPIC" 4
	progress "producing $N RSVPs ($((BYTES / 1000000)) MB) to $TOPIC (kcat, lz4 as the ingestor)"
	kcat -P -b "$KAFKA_BROKERS" -t "$TOPIC" -l -X linger.ms=5 -X batch.size=1000000 -X compression.codec=lz4 \
		-X sticky.partitioning.linger.ms=0 "$DATA"
}

# run_job NAME TRIGGER SHUFFLE I: one run of the job on a fresh database; appends its JSON to $TMP/NAME.json.
run_job() {
	local name=$1 trigger=$2 shuffle=$3 i=$4 db=${DB_PREFIX}_$1_$4 res sum
	psql -XAtq "$PGURL" -c "create database $db" >/dev/null
	progress "spark $name run $i/$RUNS: trigger $trigger, $shuffle shuffle partitions, $N RSVPs"
	PYSPARK_SUBMIT_ARGS="--master local[*] --driver-memory 1g --jars $JARS pyspark-shell" \
		"$SPARK_DIR/venv/bin/python" bench/spark/job.py "$KAFKA_BROKERS" "$TOPIC" \
		"jdbc:postgresql://${PGHOSTPORT}/$db" "$trigger" "$shuffle" "$N" "$TMP/ckpt-$name-$i" \
		"$TMP/progress-$name-$i.txt" >"$TMP/out-$name-$i.txt" 2>"$TMP/log-$name-$i.txt" ||
		{ tail -n 30 "$TMP/log-$name-$i.txt" >&2; bench_die "spark run $name $i failed"; }
	res=$(grep '^{' "$TMP/out-$name-$i.txt" | tail -n1)
	# correctness: the newest row per key sums to the input (update mode appends new running totals)
	sum=$(psql -XAtq "$(db_url "$db")" -c "select coalesce(sum(response_count),0) from (select distinct on
		(event_name, event_url, event_time, group_name, group_country, group_state, group_city, group_lat,
		group_lon, lat, lon, response) response_count from meetup_table order by event_name, event_url,
		event_time, group_name, group_country, group_state, group_city, group_lat, group_lon, lat, lon,
		response, batch_id desc) t")
	echo "$res" | jq -c --argjson sum "$sum" '. + {pg_sum: $sum}' >>"$TMP/$name.json"
	progress "  $(jq -r '"\(.rsvps_per_s | floor) RSVPs/s, \(.cpu_s_per_million | floor) CPU s/M, peak RSS \(.rss_peak_mb | floor) MB"' <<<"$res"), PostgreSQL sum $sum"
	[[ $i == 1 ]] && cp "$TMP/progress-$name-$i.txt" "bench/results/spark-$name-progress.dat"
	psql -XAtq "$PGURL" -c "drop database if exists $db with (force)" >/dev/null 2>&1 || true
}

# col NAME FIELD: "median min max n" of FIELD over NAME's runs.
col() { jq -r ".$2" "$TMP/$1.json" | stats; }

report() {
	local name label
	{
		echo "### Reference Spark job (bench/spark.sh, $(date -u '+%Y-%m-%d %H:%M UTC'))"
		echo
		echo "PySpark $("$SPARK_DIR/venv/bin/python" -c 'import pyspark; print(pyspark.__version__)'), $(java -version 2>&1 | head -n1 | tr -d '"'), local[*] on $(nproc) cores, driver memory 1 g, ANSI off;"
		echo "$N synthetic RSVPs ($((BYTES / 1000000)) MB, seed $SEED) pre-filled in a 4-partition lz4 topic, startingOffsets earliest;"
		echo "throughput = input rows / (first non-empty batch start → last batch end). JVM CPU from /proc/PID/stat after session start."
		echo
		echo "| run | RSVPs/s | JVM CPU s per million RSVPs | peak RSS MB | RSS after start MB | start-up s | PostgreSQL sum = input |"
		echo "|---|---|---|---|---|---|---|"
		for name in reference tuned; do
			[[ -s $TMP/$name.json ]] || continue
			label=$([[ $name == reference ]] && echo "reference settings (30 s trigger, 200 shuffle partitions)" || echo "tuned (1 s trigger, $(nproc) shuffle partitions)")
			echo "| $label | $(fmt_stat "$(col $name rsvps_per_s)") | $(fmt_stat "$(col $name cpu_s_per_million)" 1) | $(fmt_stat "$(col $name rss_peak_mb)") | $(fmt_stat "$(col $name rss_start_mb)") | $(fmt_stat "$(col $name startup_s)" 1) | $(jq -s --argjson n "$N" 'map(.pg_sum == $n) | all' "$TMP/$name.json") |"
		done
		echo
		echo "Median (min-max, n runs). Raw results: one JSON line per run below."
		echo
		echo '```'
		cat "$TMP"/reference.json "$TMP"/tuned.json 2>/dev/null
		echo '```'
	} >"$OUT.tmp"
	mv "$OUT.tmp" "$OUT"
	# one figure per line for bench/run.sh's summary table
	{
		for name in reference tuned; do
			[[ -s $TMP/$name.json ]] || continue
			echo "$name rsvps_per_s $(col $name rsvps_per_s)"
			echo "$name cpu_s_per_million $(col $name cpu_s_per_million)"
			echo "$name rss_peak_mb $(col $name rss_peak_mb)"
		done
	} >bench/results/spark.summary
}

main() {
	setup
	bench_stack
	trap cleanup EXIT
	PGHOSTPORT=$(psql -XAtq "$PGURL" -c "select coalesce(inet_server_addr()::text, 'localhost') || ':' || current_setting('port')" | sed 's|/32||')
	fill_topic
	local i
	for i in $(seq 1 "$RUNS"); do
		run_job reference "30 seconds" 200 "$i"
		run_job tuned "1 second" "$(nproc)" "$i"
	done
	report
	cat "$OUT"
	progress "done: $OUT"
}
main "$@"
