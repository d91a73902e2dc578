#!/usr/bin/env bash
# run.sh: run the libFuzzer targets (built by `make fuzzers` from tests/fuzz/module.mk: clang, ASan + UBSan)
# each for FUZZ_SECONDS (default 60), seeded from the recorded data (tests/data). Every file in tests/fuzz/regressions/<target>/ (crash
# inputs found earlier) is replayed first. Exit 1 if a target crashes (the reproducer is left in
# var/fuzz/crash-<target>-*: copy it into tests/fuzz/regressions/<target>/ once fixed).
# Usage: tests/fuzz/run.sh [--regress] [target ...]   (default: all, or $FUZZ_TARGETS; --regress: replay only)
# FUZZ_RUNS=N runs each target for N inputs instead of FUZZ_SECONDS (e.g. FUZZ_TARGETS=fuzz_writer
# FUZZ_RUNS=10000000 make fuzz); FUZZ_WORKERS=J runs J processes per target (libFuzzer -fork; default 1).
# Targets: fuzz_parser (services/parser/rsvp_json.c), fuzz_writer (services/writer request path:
# writer_handle on a model of the store, oracle "a refused request changes nothing"; FUZZ_WRITER_PG_URL=
# a scratch database runs it on the real store), fuzz_linesplit (services/ingestor/linesplit.c),
# fuzz_agg_rsvpwire (services/aggregator/rsvpwire.c against protobuf-c's unpack: same keys, same rejects).
set -euo pipefail
cd "$(dirname "$0")/../.."

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
OUT=${FUZZ_BUILD:-build/fuzz}
DATA=${RSVP_DATA_DIR:-tests/data}
mkdir -p var/fuzz

# Each target: a corpus seeding function (its sources are in tests/fuzz/module.mk).
seed_fuzz_parser() { # one file per recorded line, plus every golden-case input
    local dir=$1
    [ -n "$(ls -A "$dir" 2>/dev/null)" ] && return 0
    mkdir -p "$dir"
    [ -f "$DATA/meetup-rsvps-recorded.ndjson" ] &&
        split -l 1 -a 4 -d "$DATA/meetup-rsvps-recorded.ndjson" "$dir/rec-"
    awk 'NF && !/^#/ && !/^%/' tests/unit/parser_cases/*.txt |
        awk 'NR % 2 == 1' | split -l 1 -a 4 -d - "$dir/case-"
}

seed_fuzz_writer() { # hand-encoded WriterRequests: queries, batches with reference rows, edge cases
    local dir=$1
    [ -n "$(ls -A "$dir" 2>/dev/null)" ] && return 0
    python3 tests/fuzz/seed_writer.py "$dir" "$DATA/reference-counts-recorded.jsonl"
}

seed_fuzz_linesplit() { # byte 0: max_line, byte 1: chunking; then stream bytes (LF, CRLF, long lines)
    local dir=$1 i
    [ -n "$(ls -A "$dir" 2>/dev/null)" ] && return 0
    mkdir -p "$dir"
    printf '\x3f\x01{"a":1}\n\r\n\nxyz\r\nlast' >"$dir/basic"
    printf '\x05\x07abcdefghij\nab\r\nabcde\r\nabcdef\r\r\n' >"$dir/oversize"
    [ -f "$DATA/meetup-rsvps-recorded.ndjson" ] &&
        for i in 1 2 3; do
            { printf '\x3f'; printf "\\x$(printf %02x "$i")"; head -c 600 "$DATA/meetup-rsvps-recorded.ndjson"; } >"$dir/rec-$i"
        done
    return 0
}

seed_fuzz_agg_rsvpwire() { # the regression inputs: packed recorded RSVPs and wire edge cases
    local dir=$1
    [ -n "$(ls -A "$dir" 2>/dev/null)" ] && return 0
    mkdir -p "$dir"
    cp tests/fuzz/regressions/fuzz_agg_rsvpwire/* "$dir"/
}

REGRESS_ONLY=0
[ "${1:-}" = --regress ] && { REGRESS_ONLY=1; shift; }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"${FUZZ_TARGETS:-fuzz_parser fuzz_writer fuzz_linesplit fuzz_agg_rsvpwire}"
budget=(-max_total_time="$FUZZ_SECONDS")
[ -n "${FUZZ_RUNS:-}" ] && budget=(-runs="$FUZZ_RUNS")
[ "${FUZZ_WORKERS:-1}" -gt 1 ] && budget+=(-fork="$FUZZ_WORKERS")
status=0
echo "fuzz: building ${targets[*]} (make fuzzers FUZZ_BUILD=$OUT)"
make --no-print-directory -j2 FUZZ_BUILD="$OUT" $(printf "$OUT/%s " "${targets[@]}") >"var/fuzz/build.log" 2>&1 ||
    { tail -n 30 var/fuzz/build.log; echo "FAIL: building the fuzz targets (var/fuzz/build.log)"; exit 1; }
for t in "${targets[@]}"; do
    reg=tests/fuzz/regressions/$t
    if [ -n "$(ls -A "$reg" 2>/dev/null)" ]; then
        if "$OUT/$t" -runs=1 "$reg"/* >"$OUT/$t.regress.log" 2>&1; then
            echo "PASS: $t regressions ($(ls "$reg" | wc -l) inputs)"
        else
            echo "FAIL: $t regressions (see $OUT/$t.regress.log)"
            tail -n 30 "$OUT/$t.regress.log"
            status=1
        fi
    fi
    [ "$REGRESS_ONLY" = 1 ] && continue
    corpus=var/fuzz/corpus-${t#fuzz_}
    seed_$t "$corpus"
    dict=()
    [ -f tests/fuzz/json.dict ] && [ "$t" = fuzz_parser ] && dict=(-dict=tests/fuzz/json.dict)
    echo "fuzz: running $t for ${FUZZ_RUNS:-${FUZZ_SECONDS}s} ${FUZZ_RUNS:+runs }on $corpus ($(ls "$corpus" | wc -l) inputs)"
    if "$OUT/$t" "${dict[@]}" "${budget[@]}" -max_len=8192 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="var/fuzz/crash-$t-" "$corpus" \
        >"$OUT/$t.log" 2>&1; then
        echo "PASS: $t ($(grep -E 'stat::number_of_executed_units' "$OUT/$t.log" | awk '{s += $2} END {print s}') runs)"
        grep -h '^fuzz_writer: outcomes' "$OUT/$t.log" | tail -n 1 || true
    else
        echo "FAIL: $t (see $OUT/$t.log and var/fuzz/crash-$t-*)"
        tail -n 30 "$OUT/$t.log"
        status=1
    fi
done
exit $status
