#!/usr/bin/env bash
# bench/ab.sh OLD_BUILD NEW_BUILD: old against new binaries on the same workload in one run, to measure an
# optimisation. The two build directories (each with bin/rsvp-{replay,ingestor,parser,aggregator,writer}) run
# alternated AB_RUNS times (old new, new old, old new, ...: a drift of the machine's load hits both alike) on
# the workloads of bench/run.sh: a backlog (N synthetic RSVPs unpaced, end to end) and a steady stream (paced
# AB_RATE RSVPs/s, 250 ms trigger, BENCH_WARMUP s warm-up then BENCH_STEADY_SECONDS s measured). Prints CPU
# seconds per million RSVPs for each service, each run and the median, old and new, and new / old (also into
# $BENCH_RESULTS/ab-latest.md).
#   env: AB_RUNS (5), AB_RATE (10000), AB_PHASES ("backlog steady"), BENCH_SCALE (0.5: 1M RSVPs a backlog run),
#        BENCH_STEADY_SECONDS (60), BENCH_WARMUP (20), BENCH_PORT_BASE, KAFKA_BROKERS + PGURL, BENCH_RESULTS
# Example: git worktree add /tmp/old HEAD~1 && make -C /tmp/old -j2 all && bench/ab.sh /tmp/old/build build
set -euo pipefail
if (($# != 2)); then
	echo "usage: bench/ab.sh OLD_BUILD_DIR NEW_BUILD_DIR   (env: AB_RUNS, AB_RATE, AB_PHASES, BENCH_SCALE, ...)" >&2
	exit 2
fi
declare -A DIR
DIR[old]=$(realpath -m "$1")
DIR[new]=$(realpath -m "$2")
for v in old new; do
	for b in replay ingestor parser aggregator writer; do
		[[ -x ${DIR[$v]}/bin/rsvp-$b ]] || { echo "bench/ab.sh: ${DIR[$v]}/bin/rsvp-$b missing (build it first)" >&2; exit 2; }
	done
done
export BENCH_SCALE=${BENCH_SCALE:-0.5} BENCH_STEADY_SECONDS=${BENCH_STEADY_SECONDS:-60} BENCH_WARMUP=${BENCH_WARMUP:-20}
source "$(dirname "$0")/run.sh" # the workloads (functions only; changes to the repository's root)
AB_RUNS=${AB_RUNS:-5}
AB_RATE=${AB_RATE:-10000}
read -r -a AB_PHASES <<<"${AB_PHASES:-backlog steady}"
RUNS=$AB_RUNS

phase() { [[ " ${AB_PHASES[*]} " == *" $1 "* ]]; }

# runs FILE KEY: the values of KEY in $TMP/FILE, run by run, "a, b, c".
runs() { awk -v k="$2" '$1 == k { printf "%s%.2f", (n++ ? ", " : ""), $2 }' "$TMP/$1" 2>/dev/null || true; }

# table PHASE KEY_PREFIX: one row per process (and the four services together) of CPU s per million RSVPs.
table() {
	local f=$1 pre=$2 s o n
	echo "| process | old, each run | old median | new, each run | new median | new / old |"
	echo "|---|---|---|---|---|---|"
	for s in ingestor parser aggregator writer services replay broker pg; do
		o=$(med "ab-old-$f" "$pre$s") n=$(med "ab-new-$f" "$pre$s")
		[[ $o == nan && $n == nan ]] && continue
		echo "| $( [[ $s == services ]] && echo "**four services**" || echo "$s") | $(runs "ab-old-$f" "$pre$s") | $(r "$o" 2) | $(runs "ab-new-$f" "$pre$s") | $(r "$n" 2) | $(div "$n" "$o" 3) |"
	done
}

ab_report() {
	local v b
	echo "# Old against new binaries ($(date -u '+%Y-%m-%d %H:%M UTC'))"
	echo
	for v in old new; do
		echo "- $v: ${DIR[$v]#"$PWD"/}/bin ($(for b in ingestor parser aggregator writer; do printf '%s %s ' "$b" "$(md5sum <"${DIR[$v]}/bin/rsvp-$b" | cut -c1-8)"; done)md5)"
	done
	echo
	echo "Host: $CPU_MODEL, $(nproc) cores. $AB_RUNS runs of each, alternated (old first in odd runs, new first in even ones)."
	echo "Load average (1 min): median $(stats <"$TMP/load" | cut -d' ' -f1). CPU seconds per million RSVPs, from /proc; broker and"
	echo "PostgreSQL are whole processes (shared with anything else using them)."
	if phase backlog; then
		echo
		echo "## Backlog: $N synthetic RSVPs unpaced, end to end (trigger $TRIGGER)"
		echo
		table backlog cpu_
		echo
		echo "RSVPs/s: old $(runs ab-old-backlog rsvps_per_s) (median $(r0 "$(med ab-old-backlog rsvps_per_s)")), new $(runs ab-new-backlog rsvps_per_s) (median $(r0 "$(med ab-new-backlog rsvps_per_s)"))."
	fi
	if phase steady; then
		echo
		echo "## Steady stream: paced $AB_RATE RSVPs/s, 250 ms trigger, $WARM s warm-up then $STEADY_S s measured"
		echo
		table steady cpu_m_
		echo
		echo "Freshness p99 ms: old $(runs ab-old-steady p99) (median $(r0 "$(med ab-old-steady p99)")), new $(runs ab-new-steady p99) (median $(r0 "$(med ab-new-steady p99)"))."
	fi
}

ab_main() {
	local i v order
	BIN=${DIR[new]}/bin
	progress "bench/ab.sh: old ${DIR[old]} against new ${DIR[new]}, $AB_RUNS runs each: ${AB_PHASES[*]} (backlog $N RSVPs; steady $AB_RATE RSVPs/s, $WARM + $STEADY_S s)"
	bench_init
	start_load_sampler
	for i in $(seq 1 "$AB_RUNS"); do
		order="old new"
		((i % 2)) || order="new old"
		for v in $order; do
			BIN=${DIR[$v]}/bin
			phase backlog && e2e "$i" "ab-$v-backlog" "ab$v$i"
			phase steady && steady_pipeline "$AB_RATE" "ab-$v-steady" "abs$v$i"
		done
	done
	ab_report >"$RES/ab-latest.md.tmp"
	mv "$RES/ab-latest.md.tmp" "$RES/ab-latest.md"
	cat "$RES/ab-latest.md"
	progress "done in $(($(date +%s) - BENCH_T0)) s: $RES/ab-latest.md"
}
ab_main
