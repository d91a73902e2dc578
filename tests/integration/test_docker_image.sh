#!/usr/bin/env bash
# test-timeout: 900
# The rsvp-pipeline image (deploy/docker/Dockerfile, built by deploy/docker/build.sh with the project's own dockerd
# and a debootstrap base): it is small, runs every binary's --help as non-root with a read-only root, and the whole
# pipeline runs from it (docker run --network host: replay -> ingestor -> parser -> aggregator -> writer) against
# the local Kafka and PostgreSQL until rsvp_counts equals the reference key by key. Prints size and peak RSS.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agg_lib.sh"
source "$(dirname "$0")/k8s_lib.sh"
k8s_lock docker_image # one run at a time: fixed ports 32251-32257
lib_init docker_image

IMAGE=${IMAGE:-local/rsvp-pipeline:dev}
export DOCKER_HOST=unix://$LIB_ROOT/var/docker/docker.sock
MAX_MB=${MAX_MB:-50}
BINARIES=(rsvp-ingestor rsvp-parser rsvp-aggregator rsvp-writer rsvp-replay rsvpctl)
DATA=$TESTDATA_DIR
P=322 # ports 32251-32257 (the deployment tests use 322xx)
REPLAY_PORT=${P}51 INGESTOR_M=${P}52 PARSER_M=${P}53 AGG_M=${P}54 WRITER_M=${P}55 WRITER_PORT=${P}56

CONTAINERS=()
OWN_DOCKERD=0
img_cleanup() {
	local rc=$? c
	set +e # a cleanup step failing must not skip the others
	for c in "${CONTAINERS[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
	((OWN_DOCKERD)) && "$LIB_ROOT/deploy/docker/build.sh" stop 9>&-
	(exit "$rc")
	lib_cleanup
}
trap img_cleanup EXIT

docker version >/dev/null 2>&1 || OWN_DOCKERD=1
t0=$SECONDS
"$LIB_ROOT/deploy/docker/build.sh" image >/dev/null 2>"$TEST_DIR/build.log" 9>&- || { cat "$TEST_DIR/build.log"; fail "image build failed"; }
bytes=$(docker image inspect -f '{{.Size}}' "$IMAGE")
echo "  image $IMAGE: $((bytes / 1000000)) MB (built in $((SECONDS - t0)) s)"
((bytes < MAX_MB * 1000000)) || fail "image is $((bytes / 1000000)) MB, more than $MAX_MB MB"
[[ $(docker image inspect -f '{{.Config.User}}' "$IMAGE") == 65532:65532 ]] || fail "image user is not 65532:65532"

# 1. every binary: --help exits 0 as non-root on a read-only root, no network
for b in "${BINARIES[@]}"; do
	out=$(docker run --rm --read-only --user 65532:65532 --network none --cap-drop ALL --security-opt no-new-privileges \
		"$IMAGE" "$b" --help 2>&1) || fail "$b --help failed in the image: $(tail -n 3 <<<"$out")"
	grep -q "^$b [0-9]" <<<"$out" && grep -q "^Usage:" <<<"$out" || fail "$b --help printed no usage"
done

# 2. the whole pipeline from the image
RAW=k8simg.$SUFFIX.raw PARSED=k8simg.$SUFFIX.parsed DLQ=k8simg.$SUFFIX.dlq
for t in "$RAW" "$PARSED" "$DLQ"; do kafka_topic "$t" 6 || fail "cannot create topic $t"; done
DB=$(pg_createdb k8simg) || fail "cannot create database"
EXPECTED=$(wc -l <"$AGG_RECORDED")
for p in $REPLAY_PORT $INGESTOR_M $PARSER_M $AGG_M $WRITER_M $WRITER_PORT; do
	! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || fail "port $p is taken"
done

run() { # run NAME ENV... -- ARGS: a detached, read-only, non-root container on the host network
	local name=k8simg-$1-$SUFFIX
	shift
	local envs=()
	while [[ $1 != -- ]]; do envs+=(-e "$1"); shift; done
	shift
	CONTAINERS+=("$name")
	docker run -d --name "$name" --network host --read-only --tmpfs /tmp --cap-drop ALL \
		--security-opt no-new-privileges -v "$DATA:/data:ro" "${envs[@]}" "$IMAGE" "$@" >/dev/null ||
		fail "docker run $name failed"
}
K=KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BROKERS
run writer PG_URL="$DB" LISTEN="tcp://127.0.0.1:$WRITER_PORT" METRICS_ADDR="127.0.0.1:$WRITER_M" -- rsvp-writer
run aggregator "$K" PARSED_TOPIC="$PARSED" GROUP_ID="k8simg-agg-$SUFFIX" WRITER_URL="tcp://127.0.0.1:$WRITER_PORT" \
	TRIGGER_INTERVAL=500ms METRICS_ADDR="127.0.0.1:$AGG_M" STATIC_MEMBERSHIP=true INSTANCE_ID="k8simg-agg-0" -- rsvp-aggregator
run parser "$K" RAW_TOPIC="$RAW" PARSED_TOPIC="$PARSED" DLQ_TOPIC="$DLQ" GROUP_ID="k8simg-parser-$SUFFIX" \
	METRICS_ADDR="127.0.0.1:$PARSER_M" -- rsvp-parser
run replay REPLAY_LISTEN="127.0.0.1:$REPLAY_PORT" REPLAY_FILE=/data/meetup-rsvps-recorded.ndjson \
	METRICS_ADDR="127.0.0.1:${P}57" -- rsvp-replay
run ingestor "$K" SOURCE_URL="http://127.0.0.1:$REPLAY_PORT/2/rsvps" RAW_TOPIC="$RAW" \
	METRICS_ADDR="127.0.0.1:$INGESTOR_M" -- rsvp-ingestor

dump_logs() { local c; for c in "${CONTAINERS[@]}"; do echo "--- $c" >&2; docker logs --tail 8 "$c" >&2 2>&1 || true; done; }
for m in $WRITER_M $AGG_M $PARSER_M $INGESTOR_M; do
	wait_for "curl -fsS http://127.0.0.1:$m/readyz" 60 || { dump_logs; fail "service with metrics port $m never ready"; }
done
wait_for "[[ \$(agg_total '$DB') -ge $EXPECTED ]]" 90 || { dump_logs; fail "sum(response_count) stuck at $(agg_total "$DB") of $EXPECTED"; }
wait_for "[[ \$(agg_metric $AGG_M rsvp_aggregator_consumer_lag) == 0 && \$(agg_metric $AGG_M rsvp_aggregator_pending_batches) == 0 ]]" 30 ||
	fail "aggregator not idle"
total=$(agg_total "$DB")
((total == EXPECTED)) || fail "sum(response_count) = $total, expected $EXPECTED"
agg_compare "$DB" 1 || fail "rsvp_counts differs from the reference"

# peak resident set of each service (sizes the chart's memory requests)
for c in "${CONTAINERS[@]}"; do
	pid=$(docker inspect -f '{{.State.Pid}}' "$c")
	echo "  $c: VmHWM $(awk '/^VmHWM/ {print $2, $3}' "/proc/$pid/status")"
done
pass
