# ingestor_lib.sh: helpers for the test_ingestor_*.sh integration tests, on top of lib.sh (sourced
# after `set -euo pipefail`): start rsvp-replay and rsvp-ingestor on free ports (ports.sh),
# read their metrics, and compare the committed raw topic with `rsvp-replay --dump`.
# Usage: . tests/integration/ingestor_lib.sh; ingestor_init NAME

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=${DATA:-$TESTDATA_RECORDED}
START_MTIME=1700000000000 # pinned so --dump and the server render the same timeline

# ingestor_init NAME: lib_init + a unique raw topic name in TOPIC.
ingestor_init() {
    lib_init "$1"
    need_bin rsvp-replay rsvp-ingestor
    TOPIC="ingtest.${1#test_ingestor_}.$SUFFIX"
    ING_RUN=0
    USED_PORTS=" "
}

# free_port: sets PORT to a port reserved for this test (ports.sh).
free_port() {
    PORT=$(port_reserve) || fail "no free port"
}

# start_replay ARGS...: sets REPLAY_PORT, REPLAY_METRICS (bg name "replay"); waits until it answers.
start_replay() {
    free_port && REPLAY_PORT=$PORT
    free_port && REPLAY_METRICS=$PORT
    start_bg replay "$BIN/rsvp-replay" --listen "127.0.0.1:$REPLAY_PORT" \
        --metrics-addr "127.0.0.1:$REPLAY_METRICS" --start-mtime "$START_MTIME" "$@"
    wait_for "curl -sf -o /dev/null http://127.0.0.1:$REPLAY_METRICS/healthz" 10 ||
        fail "replay did not come up"
}

# start_ingestor [ENV=V ...]: a new ingestor run (bg name "ingestorN", N = ING_RUN) reading the
# replay into $TOPIC; sets ING_PID and ING_METRICS.
start_ingestor() {
    ING_RUN=$((ING_RUN + 1))
    free_port && ING_METRICS=$PORT
    start_bg "ingestor$ING_RUN" env SOURCE_URL="http://127.0.0.1:$REPLAY_PORT/2/rsvps" \
        RAW_TOPIC="$TOPIC" METRICS_ADDR="127.0.0.1:$ING_METRICS" BACKOFF_BASE=50ms BACKOFF_MAX=1s \
        "$@" "$BIN/rsvp-ingestor"
    ING_PID=$BG_PID
}

# stop_ingestor: SIGTERM to the current run; it must exit 0 within 10 s.
stop_ingestor() {
    local rc=0
    stop_bg "ingestor$ING_RUN" 10 || rc=$?
    [ "$rc" -eq 0 ] || fail "ingestor exited $rc on SIGTERM"
}

# metric NAME: current value of an unlabelled metric of the current ingestor (0 if absent).
metric() {
    curl -sf "http://127.0.0.1:$ING_METRICS/metrics" 2>/dev/null |
        awk -v n="$1" '$1 == n { v = $2 } END { printf "%d\n", v + 0 }'
}

# replay_faults KIND: rsvp_replay_faults_injected_total{kind="KIND"} of the replay.
replay_faults() {
    curl -sf "http://127.0.0.1:$REPLAY_METRICS/metrics" 2>/dev/null |
        awk -v k="kind=\"$1\"" 'index($1, k) && $1 ~ /^rsvp_replay_faults_injected_total/ { v = $2 }
                                END { printf "%d\n", v + 0 }'
}

# topic_dump FILE: every committed message of $TOPIC, one per line.
topic_dump() {
    timeout 60 kcat -C -b "$KAFKA_BROKERS" -t "$TOPIC" -o beginning -e -q \
        -X isolation.level=read_committed -f '%s\n' >"$1" 2>/dev/null
}

topic_count() { kafka_count "$TOPIC" || echo 0; }

# wait_topic_count N SECONDS: until the committed topic holds at least N messages.
wait_topic_count() {
    wait_for "[ \$(topic_count) -ge $1 ]" "$2"
}

# compare_with_dump DUMP_ARGS...: the committed topic equals `rsvp-replay --dump` with the same
# flags, as sorted line multisets (exactly once, byte for byte).
compare_with_dump() {
    "$BIN/rsvp-replay" --dump --start-mtime "$START_MTIME" "$@" 2>/dev/null |
        LC_ALL=C sort >"$TEST_DIR/want"
    topic_dump "$TEST_DIR/got.raw"
    LC_ALL=C sort "$TEST_DIR/got.raw" >"$TEST_DIR/got"
    local want got missing extra
    want=$(wc -l <"$TEST_DIR/want")
    got=$(wc -l <"$TEST_DIR/got")
    if ! cmp -s "$TEST_DIR/want" "$TEST_DIR/got"; then
        missing=$(LC_ALL=C comm -23 "$TEST_DIR/want" "$TEST_DIR/got" | wc -l)
        extra=$(LC_ALL=C comm -13 "$TEST_DIR/want" "$TEST_DIR/got" | wc -l)
        fail "topic differs from --dump: want $want lines, got $got ($missing missing, $extra extra)"
    fi
    echo "# $TEST_NAME: $got messages in $TOPIC equal --dump exactly" >&2
}
