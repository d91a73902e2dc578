#!/usr/bin/env bash
# test_bench_instruments.sh: the instruments of `make bench` compute what they claim, on inputs whose answers
# are known (no timing is asserted):
#   1. bench/freshness.py: per-RSVP freshness of the pipeline (batch method) and of Spark (offset ranges),
#      only over the RSVPs that entered Kafka inside the window, with unmatched RSVPs counted;
#   2. bench-parser: the bare jsmn baseline row and the ratio line agree with the table;
#   3. bench/run.sh's report: each goal's met/missed comes from the run's figures (the same figures moved
#      across each goal's line flip every mark);
#   4. BENCH_THREADS: each thread's CPU and context switches a second over a steady window, from two
#      snapshots (threads that came or went in between left out).
# test-timeout: 400
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init test_bench_instruments

# 1a. batch method: 100 batches of 10 RSVPs, all at one timestamp, committed 10, 20, ..., 1000 ms later;
#     plus batches outside the window with huge delays that must not count
b=$TEST_DIR/batches
: >"$b"
for i in $(seq 1 100); do echo "10 $((100000 + i)) $((100000 + i)) $((100000 + i + i * 10))" >>"$b"; done
echo "500 50000 50000 150000" >>"$b"  # before the window
echo "500 300000 300000 400000" >>"$b" # after it
out=$(python3 bench/freshness.py batches "$b" 100000 200000 "$TEST_DIR/cdf1")
grep -qx "n 1000" <<<"$out" || fail "batches: n, got: $out"
grep -qx "p50 500" <<<"$out" || fail "batches: p50, got: $out"
grep -qx "p99 990" <<<"$out" || fail "batches: p99, got: $out"
grep -qx "max 1000" <<<"$out" || fail "batches: max, got: $out"
[[ $(tail -n1 "$TEST_DIR/cdf1") == "1.0000 1.00000" ]] || fail "batches: the CDF ends at $(tail -n1 "$TEST_DIR/cdf1")"

# 1b. a batch spread over 1 s: its RSVPs' delays spread from 1000 down to 0 ms, p50 near 500
echo "1000 100000 101000 101000" >"$b"
out=$(python3 bench/freshness.py batches "$b" 0 200000 "$TEST_DIR/cdf2")
p50=$(sed -n 's/^p50 //p' <<<"$out")
awk -v v="$p50" 'BEGIN { exit !(v > 480 && v < 520) }' || fail "batches: spread p50 $p50, got: $out"

# 1c. Spark: two micro-batches of partition 0 (offsets 0-99 visible at 10.000 s, 100-199 at 20.000 s), one of
#     partition 1 before the window, and an RSVP no finished batch holds (offset 250)
p=$TEST_DIR/progress d=$TEST_DIR/dump
printf '%s\n' "9.0 10.0 110 0 10.000 0:0-100,1:0-10" "19.0 20.0 100 1 20.000 0:100-200" >"$p"
{
	for o in $(seq 0 99); do echo "0 $o $((9000 + o))"; done
	for o in $(seq 100 199); do echo "0 $o $((19000 + o - 100))"; done
	for o in $(seq 0 9); do echo "1 $o 5000"; done
	echo "0 250 9500"
} >"$d"
out=$(python3 bench/freshness.py spark "$p" "$d" 9000 20000 "$TEST_DIR/cdf3")
for kv in "n 200" "p50 951" "p99 1000" "max 1000" "unmatched 1"; do
	grep -qx "$kv" <<<"$out" || fail "spark: want $kv, got: $out"
done

# 2. bench-parser: the baseline row and the ratio line, consistent with each other
out=$("$BIN/bench-parser" "$TESTDATA_RECORDED" 0.3 2>/dev/null)
pe=$(awk -F'|' '$2 ~ /^ parse\+encode/ { print $3 + 0 }' <<<"$out")
js=$(awk -F'|' '$2 ~ /bare jsmn/ { print $3 + 0 }' <<<"$out")
ratio=$(sed -n 's/^parse+encode \/ jsmn: //p' <<<"$out")
[[ -n $pe && -n $js && -n $ratio ]] || fail "bench-parser output lacks the baseline or the ratio: $out"
awk -v pe="$pe" -v js="$js" -v r="$ratio" 'BEGIN { exit !(js > 0 && (pe / js - r) ^ 2 < 0.0001) }' ||
	fail "bench-parser: ratio $ratio is not $pe / $js"

# 3. the report's marks: a kept run made of figures that meet every goal of issue 21, then of figures that miss
#    each one (same figures, each moved across its goal's line); run.sh re-makes the report from them
run=$TEST_DIR/run
figures() { # figures MET(1/0): the kept run's files
	rm -rf "$run" && mkdir -p "$run"
	local m=$1
	echo "1.5" >"$run/load"
	printf '%s\n' "raw_produce 200000" "raw_consume 400000" >"$run/kcat"
	printf '%s\n' "rsvps_per_s $((m ? 100000 : 70000))" "cpu_services 5" >"$run/e2e"
	echo "rsvps_per_s $((m ? 150000 : 100000))" >"$run/pre"
	printf '%s\n' "rsvps_per_s 40000" "cpu_s_per_m $((m ? 30 : 20))" "sum_ok 1" >"$run/spark-tuned"
	printf '%s\n' "parser_cpu 500000" "jsmn_cpu 450000" "parser_vs_jsmn $((m ? 1 : 0)).$((m ? 11 : 95))" >"$run/micro"
	printf '%s\n' "cores_services 0.05" "cpu_m_services $((m ? 6 : 9))" "p99 $((m ? 400 : 600))" "n 600000" \
		"drained 1" >"$run/st-pipeline-10000"
	printf '%s\n' "cores_jvm $((m ? 1 : 0)).$((m ? 0 : 4))" "n 600000" "drained 1" "sum_ok 1" >"$run/st-spark-tuned-10000"
}
report() { # report: the goals table of the report re-made from $run (the whole report in $TEST_DIR/report.md)
	BENCH_REPORT_FROM=$run BENCH_RESULTS=$TEST_DIR/res BENCH_RATES=10000 BENCH_SPARK_SETTINGS=tuned BENCH_SCALE=0.001 \
		BENCH_CACHE=$TEST_DIR/cache BUILD=${BIN%/bin} bench/run.sh >"$TEST_DIR/report.md" 2>"$TEST_DIR/report.err" &&
		sed -n '/^## Goals/,/^## The cost/p' "$TEST_DIR/report.md" | grep '^| ' | grep -v '^| goal |'
}
figures 1
goals=$(report) || fail "run.sh could not re-make the report: $(tail -n 5 "$TEST_DIR/report.err")"
# the steady phase's default durations at a small BENCH_SCALE (at least 5 s warm-up, 10 s measured)
grep -q "^Backlog figures: .* Steady stream: 10000 RSVPs/s, 5 s warm-up then 10 s measured" "$TEST_DIR/report.md" ||
	fail "the report's durations: $(grep '^Backlog figures' "$TEST_DIR/report.md")"
[[ $(grep -c '| met |' <<<"$goals") == 7 ]] || fail "figures meeting every goal, marks: $goals"
figures 0
goals=$(report) || fail "run.sh could not re-make the report: $(tail -n 5 "$TEST_DIR/report.err")"
[[ $(grep -c '| \*\*missed\*\* |' <<<"$goals") == 7 ]] || fail "figures missing every goal, marks: $goals"
grep -q '| 8.0× | ≥ 10× |' <<<"$goals" || fail "cores ratio not from the figures (0.4 / 0.05 = 8×): $goals"

# 4. BENCH_THREADS: snapshots 10 s apart (CPU in clock ticks; thread 13 ended, 14 started in between)
(
	BENCH_RESULTS=$TEST_DIR/res4 BENCH_THREADS=$TEST_DIR/threads
	# shellcheck source=bench/run.sh
	source bench/run.sh
	mkdir -p "$TMP"
	put k seconds 10
	printf '%s\n' "parser 11 rsvp-parser 100 50 5" "parser 12 rdk:main 0 0 0" "parser 13 gone 5 1 1" >"$TMP/threads0-k"
	printf '%s\n' "parser 11 rsvp-parser $((100 + 2 * CLK_TCK)) 550 25" "parser 12 rdk:main $((CLK_TCK / 2)) 100 10" \
		"parser 14 new 9 9 9" >"$TMP/threads1-k"
	thread_table k
) || fail "thread_table failed"
t=$TEST_DIR/threads/threads-k-1.md
grep -qx '| parser | rsvp-parser (11) | 200.0 | 50 | 2 |' "$t" || fail "thread 11: $(cat "$t")"
grep -qx '| parser | rdk:main (12) | 50.0 | 10 | 1 |' "$t" || fail "thread 12: $(cat "$t")"
[[ $(grep -c '^| parser |' "$t") == 2 ]] || fail "threads that came or went are listed: $(cat "$t")"
pass
