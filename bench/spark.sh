#!/usr/bin/env bash
# bench/spark.sh: the reference Spark job (bench/spark/job.py) on this machine, over the same synthetic RSVPs
# bench/run.sh feeds the pipeline, with the reference's own settings (30 s trigger, 200 shuffle partitions)
# and tuned (1 s trigger, shuffle partitions = cores). Installs PySpark 4.2.0 in a venv and the Kafka/JDBC
# jars (Maven) on first use, outside the clone (SPARK_CACHE, default ${RSVP_CACHE:-/var/cache/rsvp-pipeline}/spark,
# like the Kubernetes build: a fresh clone reuses them; one installer at a time). Two uses:
#   - sourced by bench/run.sh (`make bench`): the spark_* functions below, so that every ratio of its report
#     comes from Spark runs of the same run (a backlog of N RSVPs, and steady streams at fixed rates);
#   - run (`make bench-spark`): the backlog runs alone, written to bench/results/spark.md.
#     env: BENCH_SCALE (1 = 2M RSVPs), SPARK_RUNS (3), SPARK_COUNT (overrides the RSVP count),
#          KAFKA_BROKERS + PGURL (else deploy/local/stack.sh up), BUILD (build)

# spark_pyspark: installs PySpark (idempotent); sets SPARK_PY. Also the differential test's reference
# (tests/differential/run.sh sources this file for it).
spark_cache_dir() { echo "${SPARK_CACHE:-${RSVP_CACHE:-/var/cache/rsvp-pipeline}/spark}"; }
spark_pyspark() {
	local dir
	dir=$(spark_cache_dir)
	SPARK_PY=$dir/venv/bin/python
	mkdir -p "$dir"
	(
		flock 9 # two runs at once (CI beside a differential) install once, not over each other
		if ! "$SPARK_PY" -c 'import pyspark, sys; sys.exit(pyspark.__version__ != "4.2.0")' 2>/dev/null; then
			progress "installing PySpark 4.2.0 into $dir/venv (about 450 MB, once)"
			rm -rf "$dir/venv"
			python3 -m venv "$dir/venv"
			"$dir/venv/bin/pip" install -q pyspark==4.2.0 >&2
		fi
	) 9>"$dir/.lock"
}

# spark_setup: installs PySpark and the jars (idempotent); sets SPARK_PY and SPARK_JARS.
spark_setup() {
	local dir j f
	dir=$(spark_cache_dir)
	spark_pyspark
	SPARK_JARS=""
	for j in spark-sql-kafka-0-10_2.13-4.2.0 spark-token-provider-kafka-0-10_2.13-4.2.0 kafka-clients- commons-pool2- postgresql-42.7.14; do
		f=$(compgen -G "$dir/jars/$j*.jar" | head -n1 || true)
		if [[ -z $f ]]; then
			progress "resolving the Kafka connector and JDBC jars with Maven"
			(cd bench/spark && mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
				-DoutputDirectory="$dir/jars" -DincludeScope=runtime >&2)
			f=$(compgen -G "$dir/jars/$j*.jar" | head -n1) || bench_die "jar $j missing after mvn"
		fi
		SPARK_JARS+="${SPARK_JARS:+,}$f"
	done
	SPARK_PG_HOSTPORT=$(psql -XAtq "$PGURL" -c "select coalesce(inet_server_addr()::text, 'localhost') || ':' || current_setting('port')" | sed 's|/32||')
}

# spark_trigger NAME, spark_shuffle NAME, spark_label NAME: the two settings, "reference" and "tuned".
spark_trigger() { if [[ $1 == reference ]]; then echo "30 seconds"; else echo "1 second"; fi; }
spark_shuffle() { if [[ $1 == reference ]]; then echo 200; else nproc; fi; }
spark_label() {
	if [[ $1 == reference ]]; then echo "Spark, reference settings (30 s trigger, 200 shuffle partitions)"
	else echo "Spark tuned (1 s trigger, $(nproc) shuffle partitions)"; fi
}

# spark_fill TOPIC: a fresh 4-partition topic holding the N RSVPs of $DATA (kcat, lz4 as the ingestor).
spark_fill() {
	topic_create "$1" 4
	progress "producing $N RSVPs ($((BYTES / 1000000)) MB) to $1 (kcat, lz4 as the ingestor)"
	kcat -P -b "$KAFKA_BROKERS" -t "$1" -l -X linger.ms=5 -X batch.size=1000000 -X compression.codec=lz4 \
		-X sticky.partitioning.linger.ms=0 "$DATA"
}

# spark_job NAME TOPIC DB EXPECT DIR [STATUS STOP]: runs job.py in the foreground (stdout/stderr into DIR), for
# at most SPARK_TIMEOUT s (3600). The web UI takes a port of the benchmark's block (SPARK_UI_PORT) when set.
spark_job() {
	local name=$1 topic=$2 db=$3 expect=$4 dir=$5 ui=()
	[[ -n ${SPARK_UI_PORT:-} ]] && ui=(--conf "spark.ui.port=$SPARK_UI_PORT" --conf spark.port.maxRetries=7)
	mkdir -p "$dir"
	PYSPARK_SUBMIT_ARGS="--master local[*] --driver-memory 1g ${ui[*]} --jars $SPARK_JARS pyspark-shell" \
		timeout -k 10 "${SPARK_TIMEOUT:-3600}" "$SPARK_PY" bench/spark/job.py "$KAFKA_BROKERS" "$topic" "jdbc:postgresql://$SPARK_PG_HOSTPORT/$db" \
		"$(spark_trigger "$name")" "$(spark_shuffle "$name")" "$expect" "$dir/ckpt" "$dir/progress.txt" \
		"${@:6}" >"$dir/out.txt" 2>"$dir/log.txt"
}

# spark_pg_sum DB: the newest running total per key, summed (update mode appends new running totals, so
# this equals the number of RSVPs counted).
spark_pg_sum() {
	psql -XAtq "$(db_url "$1")" -c "select coalesce(sum(response_count),0) from (select distinct on
		(event_name, event_url, event_time, group_name, group_country, group_state, group_city, group_lat,
		group_lon, lat, lon, response) response_count from meetup_table order by event_name, event_url,
		event_time, group_name, group_country, group_state, group_city, group_lat, group_lon, lat, lon,
		response, batch_id desc) t" 2>/dev/null || echo 0
}

# spark_backlog NAME TOPIC I OUT: one backlog run (TOPIC pre-filled with N RSVPs, read from earliest) on a
# fresh database; appends the job's JSON line plus pg_sum to OUT and leaves the run's files in $TMP/spark-NAME-I.
spark_backlog() {
	local name=$1 topic=$2 i=$3 out=$4 db=${DB_PREFIX}_sb_$1_$3 dir=$TMP/spark-$1-$3 res sum
	psql -XAtq "$PGURL" -c "create database $db" >/dev/null
	progress "spark $name backlog run $i: trigger $(spark_trigger "$name"), $(spark_shuffle "$name") shuffle partitions, $N RSVPs"
	spark_job "$name" "$topic" "$db" "$N" "$dir" ||
		{ tail -n 30 "$dir/log.txt" >&2; bench_die "spark run $name $i failed (see $dir)"; }
	res=$(grep '^{' "$dir/out.txt" | tail -n1)
	sum=$(spark_pg_sum "$db")
	jq -c --argjson sum "$sum" '. + {pg_sum: $sum}' <<<"$res" >>"$out"
	progress "  $(jq -r '"\(.rsvps_per_s | floor) RSVPs/s, \(.cpu_s_per_million | floor) CPU s/M, peak RSS \(.rss_peak_mb | floor) MB"' <<<"$res"), PostgreSQL sum $sum"
	psql -XAtq "$PGURL" -c "drop database if exists $db with (force)" >/dev/null 2>&1 || true
}

# spark_start NAME TOPIC DB DIR: the job in the background on a live TOPIC (steady stream), until DIR/stop
# exists. Waits until its query runs; sets PID[spark] (the job's command), PID[py] (its Python driver, which
# launched the JVM) and PID[jvm].
spark_start() {
	local name=$1 dir=$4 deadline=$((SECONDS + 300))
	mkdir -p "$dir"
	rm -f "$dir/status" "$dir/stop"
	spark_job "$name" "$2" "$3" 0 "$dir" "$dir/status" "$dir/stop" &
	PID[spark]=$!
	until [[ -s $dir/status ]]; do
		kill -0 "${PID[spark]}" 2>/dev/null || { tail -n 30 "$dir/log.txt" >&2; bench_die "spark $name exited before its query ran (see $dir)"; }
		((SECONDS < deadline)) || bench_die "spark $name: no running query after 300 s (see $dir)"
		sleep 0.5
	done
	PID[jvm]=$(jq -r .jvm_pid "$dir/status")
	PID[py]=$(jq -r .py_pid "$dir/status")
}

# spark_rows DIR: input rows of the micro-batches the job has finished so far.
spark_rows() { awk '{ s += $3 } END { print s + 0 }' "$1/progress.txt" 2>/dev/null || echo 0; }

# spark_stop DIR: asks the job to stop (DIR/stop) and waits for it (kills it after 120 s).
spark_stop() {
	local dir=$1 deadline=$((SECONDS + 120))
	[[ -n ${PID[spark]:-} ]] || return 0
	touch "$dir/stop"
	while kill -0 "${PID[spark]}" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			progress "  spark did not stop in 120 s: killed"
			kill -KILL "${PID[py]:-}" "${PID[jvm]:-}" "${PID[spark]}" 2>/dev/null
			break
		fi
		sleep 0.2
	done
	wait "${PID[spark]}" 2>/dev/null || true
	stop_pid "${PID[jvm]:-}" 10
	PID[spark]= PID[jvm]= PID[py]=
}

# ---------------------------------------------------------------------------------------------
# make bench-spark: the backlog runs alone, into bench/results/spark.md

spark_main() {
	set -euo pipefail
	cd "$(dirname "${BASH_SOURCE[0]}")/.."
	source bench/lib.sh
	BUILD=${BUILD:-build}
	CACHE=$(realpath -m "${BENCH_CACHE:-.cache}")
	N=${SPARK_COUNT:-$(awk -v s="${BENCH_SCALE:-1}" 'BEGIN { printf "%d", 2000000 * s }')}
	RUNS=${SPARK_RUNS:-3}
	SEED=${BENCH_SEED:-1}
	BENCH_ID=bench-spark-$$-$RANDOM
	DB_PREFIX=${BENCH_ID//-/_}
	local out=bench/results/spark.md name i topic label
	TMP=$(realpath -m "bench/results/tmp/$BENCH_ID")
	mkdir -p "$TMP" bench/results
	declare -gA PID=()
	bench_stack
	spark_setup
	trap 'topics_delete "$BENCH_ID-raw"; drop_databases "$DB_PREFIX"; rm -rf "$TMP"' EXIT
	progress "building rsvp-replay"
	make --no-print-directory -s BUILD="$BUILD" "$BUILD/bin/rsvp-replay" >&2
	synthetic_input "$BUILD/bin/rsvp-replay"
	topic=$BENCH_ID-raw
	spark_fill "$topic"
	for i in $(seq 1 "$RUNS"); do
		for name in reference tuned; do spark_backlog "$name" "$topic" "$i" "$TMP/$name.json"; done
	done
	col() { jq -r ".$2" "$TMP/$1.json" | stats; }
	{
		echo "### Reference Spark job (bench/spark.sh, $(date -u '+%Y-%m-%d %H:%M UTC'))"
		echo
		echo "PySpark $("$SPARK_PY" -c 'import pyspark; print(pyspark.__version__)'), $(java -version 2>&1 | head -n1 | tr -d '"'), local[*] on $(nproc) cores, driver memory 1 g, ANSI off;"
		echo "$N synthetic RSVPs ($((BYTES / 1000000)) MB, seed $SEED) pre-filled in a 4-partition lz4 topic, startingOffsets earliest;"
		echo "throughput = input rows / (first non-empty batch start → last batch end). JVM CPU from /proc/PID/stat after session start."
		echo "For ratios against the pipeline use \`make bench\`, which runs these same runs beside the pipeline's."
		echo
		echo "| run | RSVPs/s | JVM CPU s per million RSVPs | peak RSS MB | RSS after start MB | start-up s | PostgreSQL sum = input |"
		echo "|---|---|---|---|---|---|---|"
		for name in reference tuned; do
			[[ -s $TMP/$name.json ]] || continue
			label=$(spark_label "$name")
			echo "| $label | $(fmt_stat "$(col $name rsvps_per_s)") | $(fmt_stat "$(col $name cpu_s_per_million)" 1) | $(fmt_stat "$(col $name rss_peak_mb)") | $(fmt_stat "$(col $name rss_start_mb)") | $(fmt_stat "$(col $name startup_s)" 1) | $(jq -s --argjson n "$N" 'map(.pg_sum == $n) | all' "$TMP/$name.json") |"
		done
		echo
		echo "Median (min-max, n runs). Raw results: one JSON line per run below."
		echo
		echo '```'
		cat "$TMP"/reference.json "$TMP"/tuned.json 2>/dev/null
		echo '```'
	} >"$out.tmp"
	mv "$out.tmp" "$out"
	cat "$out"
	progress "done: $out"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then spark_main "$@"; fi
