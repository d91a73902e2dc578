#!/usr/bin/env bash
# Local Apache Kafka 3.9.1 (KRaft, no ZooKeeper) run from Maven-resolved jars: one combined broker+controller
# node for run and test, or three combined nodes (RF 3, min ISR 2) for failover tests. All state lives under
# $KAFKA_VAR (default var/kafka, git-ignored); every command is safe to repeat.
set -euo pipefail
PROG=kafka
source "$(dirname "$0")/common.sh"

usage() {
	cat <<EOF
usage: deploy/local/kafka.sh COMMAND
  up                      start the single node (127.0.0.1:\$KAFKA_PORT), formatting its storage the first time
  up3                     start the three-node cluster (\$KAFKA3_PORTS)
  down                    stop every node of this \$KAFKA_VAR (SIGTERM all at once, kill -9 after a deadline)
  kill [N]                kill -9 cluster node N (1-3), or the single node without N
  start [N]               restart cluster node N, or the single node without N, and wait until it answers
  topic NAME PARTS [RF]   create topic NAME unless it exists (bootstrap: \$KAFKA_BROKERS, else the running nodes)
  status                  nodes, pids, ports, whether they answer
  brokers                 print the bootstrap list of the running nodes
  tool CLASS [ARGS...]    run a Kafka admin tool class, e.g. org.apache.kafka.tools.ConsumerGroupCommand
  libs                    resolve the broker jars with Maven (done by up/up3 when missing)
  clean                   down, then delete all state except the jars
environment (defaults): KAFKA_PORT (19092) KAFKA_CONTROLLER_PORT (19093) KAFKA3_PORTS (21092,22092,23092)
  KAFKA3_CONTROLLER_PORTS (21093,22093,23093) KAFKA_VAR (var/kafka) KAFKA_LIBS (var/kafka/libs)
  KAFKA_HEAP (512m) KAFKA3_HEAP (384m) KAFKA_START_TIMEOUT (60 s) KAFKA_STOP_TIMEOUT (30 s)
  KAFKA_MAVEN_REPO (Maven's default, ~/.m2/repository)
EOF
}

KAFKA_VAR=$(realpath -m "${KAFKA_VAR:-$ROOT/var/kafka}")
KAFKA_LIBS=$(realpath -m "${KAFKA_LIBS:-$ROOT/var/kafka/libs}")
KAFKA_PORT=${KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}
KAFKA3_PORTS=${KAFKA3_PORTS:-21092,22092,23092}
KAFKA3_CONTROLLER_PORTS=${KAFKA3_CONTROLLER_PORTS:-21093,22093,23093}
KAFKA_HEAP=${KAFKA_HEAP:-512m}
KAFKA3_HEAP=${KAFKA3_HEAP:-384m}
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-60}
KAFKA_STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
POM=$ROOT/deploy/local/kafka-runtime/pom.xml
SINGLE=$KAFKA_VAR/single
CLUSTER=$KAFKA_VAR/cluster
TOOLS_LOG4J=$KAFKA_VAR/tools-log4j.properties
FAST_FENCING=$'broker.session.timeout.ms=3000\nbroker.heartbeat.interval.ms=500'

# ---------------------------------------------------------------------------------------------- jars

libs_complete() {
	local stamp=$KAFKA_LIBS/.complete hash n jars
	[[ -f $stamp ]] || return 1
	read -r hash n <"$stamp" || return 1
	[[ $hash == "$(sha256sum <"$POM" | cut -c1-16)" ]] || return 1
	jars=$(find "$KAFKA_LIBS" -maxdepth 1 -name '*.jar' | wc -l)
	[[ $jars == "$n" ]]
}

# ensure_libs: copies the jar closure of kafka-runtime/pom.xml into $KAFKA_LIBS unless already complete.
# Resolves into a temp dir and renames, under a lock, so concurrent callers and interrupted runs are safe.
ensure_libs() {
	libs_complete && return 0
	command -v mvn >/dev/null || die "mvn not found: run deploy/local/deps.sh"
	mkdir -p "$(dirname "$KAFKA_LIBS")"
	local t0 rc=0
	t0=$(now_ms)
	(
		flock 9
		libs_complete && exit 0
		tmp=$KAFKA_LIBS.tmp.$$
		rm -rf "$tmp"
		repo=()
		[[ -n ${KAFKA_MAVEN_REPO:-} ]] && repo=("-Dmaven.repo.local=$KAFKA_MAVEN_REPO")
		if ! mvn -B -q -f "$POM" "${repo[@]}" \
			org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
			-DoutputDirectory="$tmp" -DincludeScope=runtime >"$KAFKA_LIBS.mvn.log" 2>&1; then
			tail -n 20 "$KAFKA_LIBS.mvn.log" >&2
			rm -rf "$tmp"
			exit 1
		fi
		ls "$tmp"/kafka_2.13-*.jar "$tmp"/kafka-tools-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; exit 1; }
		n=$(find "$tmp" -maxdepth 1 -name '*.jar' | wc -l)
		echo "$(sha256sum <"$POM" | cut -c1-16) $n" >"$tmp/.complete"
		rm -rf "$KAFKA_LIBS"
		mv "$tmp" "$KAFKA_LIBS"
	) 9>"$KAFKA_LIBS.lock" || rc=$?
	((rc == 0)) || die "could not resolve the Kafka jars with Maven (log: $KAFKA_LIBS.mvn.log)"
	say "resolved $(find "$KAFKA_LIBS" -maxdepth 1 -name '*.jar' | wc -l) jars ($(du -sm "$KAFKA_LIBS" | cut -f1) MB)" \
		"into $KAFKA_LIBS in $(since "$t0") s"
}

# kt CLASS ARGS...: runs a Kafka tool class (short-lived JVM, warnings to stderr).
kt() {
	write_tools_log4j
	java -Xmx256m -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
		-Dlog4j.configuration="file:$TOOLS_LOG4J" -cp "$KAFKA_LIBS/*" "$@"
}

# --------------------------------------------------------------------------------------------- config

write_tools_log4j() {
	[[ -f $TOOLS_LOG4J ]] && return 0
	mkdir -p "$KAFKA_VAR"
	cat >"$TOOLS_LOG4J" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

# write_node_config DIR ID PORT CPORT VOTERS RF MIN_ISR [EXTRA_LINES]
write_node_config() {
	local dir=$1 id=$2 port=$3 cport=$4 voters=$5 rf=$6 isr=$7 extra=${8:-}
	mkdir -p "$dir/data" "$dir/logs"
	cat >"$dir/server.properties" <<EOF
# generated by deploy/local/kafka.sh: rewritten by every 'up', edits are lost
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=4
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
$extra
EOF
	cat >"$dir/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.MaxFileSize=50MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
EOF
}

# new_cluster_id: a random Kafka Uuid (16 bytes, base64url, no padding), never starting with '-' (as Kafka's own).
new_cluster_id() {
	local id
	while :; do
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
		[[ $id != -* ]] && { echo "$id"; return; }
	done
}

# format_once DIR ID_FILE: formats DIR's KRaft storage with the cluster id kept in ID_FILE, unless done before.
format_once() {
	local dir=$1 idfile=$2 out
	[[ -f $dir/data/meta.properties ]] && return 0
	[[ -s $idfile ]] || new_cluster_id >"$idfile"
	out=$(kt kafka.tools.StorageTool format -t "$(cat "$idfile")" -c "$dir/server.properties" 2>&1) ||
		die "formatting $dir failed: $out"
}

# node_port DIR [CONTROLLER]: the broker (or controller) port written in DIR's config.
node_port() {
	local name=${2:+CONTROLLER}
	sed -n "s|^listeners=.*${name:-PLAINTEXT}://[^:,]*:\([0-9]*\).*|\1|p" "$1/server.properties" 2>/dev/null
}

# ---------------------------------------------------------------------------------------------- nodes

node_pid() { pidfile_alive "$1/broker.pid" "$1/server.properties"; }

# start_node DIR HEAP: starts the node in DIR unless it already runs; its own session so that signals meant for
# the caller (Ctrl-C, a test's timeout) do not reach it. Exit 1 if a port belongs to someone else.
start_node() {
	local dir=$1 heap=$2 pid
	if pid=$(node_pid "$dir"); then
		say "$(node_name "$dir") already running (pid $pid)"
		return 0
	fi
	require_free_port "$(node_port "$dir")" "$(node_name "$dir") broker"
	require_free_port "$(node_port "$dir" c)" "$(node_name "$dir") controller"
	mkdir -p "$dir/logs"
	setsid java -Xmx"$heap" -Xms"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
		-Djava.awt.headless=true -Dlog4j.configuration="file:$dir/log4j.properties" -Dkafka.logs.dir="$dir/logs" \
		-cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" </dev/null >"$dir/logs/stdout.log" 2>&1 8>&- &
	echo $! >"$dir/broker.pid"
}

node_name() { [[ $1 == "$SINGLE" ]] && echo "single node" || echo "node ${1##*/n}"; }

answers() { kcat -b "127.0.0.1:$1" -L -m 2 >/dev/null 2>&1; }

# wait_ready DEADLINE_MS DIR [BROKERS]: until DIR's node answers metadata requests (and, if BROKERS is given,
# lists that many brokers). Dies with the log tail if the node exits or the deadline passes.
wait_ready() {
	local deadline=$1 dir=$2 want=${3:-} port
	port=$(node_port "$dir")
	while :; do
		if ! node_pid "$dir" >/dev/null; then
			tail -n 20 "$dir/logs/server.log" "$dir/logs/stdout.log" >&2 2>/dev/null || true
			die "$(node_name "$dir") exited during start (logs: $dir/logs)"
		fi
		if [[ -z $want ]]; then
			answers "$port" && return 0
		elif kcat -b "127.0.0.1:$port" -L -m 2 2>/dev/null | grep -q "^ *$want brokers:"; then
			return 0
		fi
		if (($(now_ms) >= deadline)); then
			tail -n 20 "$dir/logs/server.log" >&2 2>/dev/null || true
			die "$(node_name "$dir") did not answer on 127.0.0.1:$port within ${KAFKA_START_TIMEOUT} s"
		fi
		sleep 0.1
	done
}

cluster_dirs() { local i; for i in 1 2 3; do echo "$CLUSTER/n$i"; done; }

# all_dirs: every configured node of this KAFKA_VAR.
all_dirs() {
	[[ -f $SINGLE/server.properties ]] && echo "$SINGLE"
	local d
	for d in $(cluster_dirs); do [[ -f $d/server.properties ]] && echo "$d"; done
	return 0
}

# node_dir [N]: the node a kill/start command means.
node_dir() {
	case ${1:-} in
	"" | single) echo "$SINGLE" ;;
	1 | 2 | 3)
		if [[ -f $CLUSTER/n$1/server.properties ]]; then echo "$CLUSTER/n$1"
		elif [[ $1 == 1 && -f $SINGLE/server.properties ]]; then echo "$SINGLE"
		else die "node $1 is not configured (run up3 first)"; fi ;;
	*) warn "error: node must be 1, 2, 3 or empty, got '$1'"; exit 2 ;;
	esac
}

# running_brokers: bootstrap list of the running nodes (single first), empty if none.
running_brokers() {
	local d list=""
	for d in $(all_dirs); do node_pid "$d" >/dev/null && list+="${list:+,}127.0.0.1:$(node_port "$d")"; done
	echo "$list"
}

# ------------------------------------------------------------------------------------------- commands

cmd_up() {
	local t0 pid deadline
	t0=$(now_ms)
	validate_port KAFKA_PORT "$KAFKA_PORT"
	validate_port KAFKA_CONTROLLER_PORT "$KAFKA_CONTROLLER_PORT"
	if pid=$(node_pid "$SINGLE"); then
		wait_ready $(($(now_ms) + KAFKA_START_TIMEOUT * 1000)) "$SINGLE"
		say "single node already running at 127.0.0.1:$(node_port "$SINGLE") (pid $pid)"
		return 0
	fi
	require_free_port "$KAFKA_PORT" "Kafka broker"
	require_free_port "$KAFKA_CONTROLLER_PORT" "Kafka controller"
	ensure_libs
	write_tools_log4j
	# Short broker session: after a kill -9 the restarted node waits for its old registration to expire
	# (DUPLICATE_BROKER_REGISTRATION); with the default 9 s session 'start' took 16 s, with 3 s it takes ~6 s.
	write_node_config "$SINGLE" 1 "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "1@127.0.0.1:$KAFKA_CONTROLLER_PORT" 1 1 \
		"$FAST_FENCING"
	format_once "$SINGLE" "$SINGLE/cluster.id"
	deadline=$(($(now_ms) + KAFKA_START_TIMEOUT * 1000))
	start_node "$SINGLE" "$KAFKA_HEAP"
	wait_ready "$deadline" "$SINGLE"
	say "single node up at 127.0.0.1:$KAFKA_PORT (pid $(node_pid "$SINGLE"), $(since "$t0") s; logs $SINGLE/logs)"
}

cmd_up3() {
	local t0 ports cports voters i p c deadline d
	t0=$(now_ms)
	IFS=', ' read -r -a ports <<<"$KAFKA3_PORTS"
	IFS=', ' read -r -a cports <<<"$KAFKA3_CONTROLLER_PORTS"
	((${#ports[@]} == 3 && ${#cports[@]} == 3)) ||
		{ warn "error: KAFKA3_PORTS and KAFKA3_CONTROLLER_PORTS need 3 ports each"; exit 2; }
	for p in "${ports[@]}" "${cports[@]}"; do validate_port KAFKA3_PORTS "$p"; done
	# Check every port of every node not already running before starting any, so a conflict starts nothing.
	for i in 0 1 2; do
		d=$CLUSTER/n$((i + 1))
		node_pid "$d" >/dev/null && continue
		require_free_port "${ports[i]}" "node $((i + 1)) broker"
		require_free_port "${cports[i]}" "node $((i + 1)) controller"
	done
	ensure_libs
	write_tools_log4j
	voters="1@127.0.0.1:${cports[0]},2@127.0.0.1:${cports[1]},3@127.0.0.1:${cports[2]}"
	mkdir -p "$CLUSTER"
	[[ -s $CLUSTER/cluster.id ]] || new_cluster_id >"$CLUSTER/cluster.id"
	for i in 0 1 2; do
		d=$CLUSTER/n$((i + 1))
		node_pid "$d" >/dev/null && continue
		# Fast failover: the controller fences a dead broker after 3 s instead of 9 s (acks=all stall ~4 s).
		write_node_config "$d" $((i + 1)) "${ports[i]}" "${cports[i]}" "$voters" 3 2 "$FAST_FENCING"
	done
	# Format the nodes in parallel (one JVM each, ~1 s), all with the same cluster id.
	local pids=()
	for d in $(cluster_dirs); do format_once "$d" "$CLUSTER/cluster.id" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || die "formatting the cluster failed"; done
	deadline=$(($(now_ms) + KAFKA_START_TIMEOUT * 1000))
	for d in $(cluster_dirs); do start_node "$d" "$KAFKA3_HEAP"; done
	for d in $(cluster_dirs); do wait_ready "$deadline" "$d" 3; done
	say "3-node cluster up at $(running_brokers) (RF 3, min ISR 2; $(since "$t0") s; logs $CLUSTER/n*/logs)"
}

cmd_down() {
	local t0 d pid pids=() names=()
	t0=$(now_ms)
	for d in $(all_dirs); do
		pid=$(node_pid "$d") || { rm -f "$d/broker.pid"; continue; }
		pids+=("$pid")
		names+=("$(node_name "$d")")
	done
	if ((${#pids[@]} == 0)); then
		say "nothing running in $KAFKA_VAR"
		return 0
	fi
	# All at once: a KRaft node stopped last on its own never finishes its controlled shutdown (no quorum).
	kill -TERM "${pids[@]}" 2>/dev/null || true
	if ! wait_pids_gone "$KAFKA_STOP_TIMEOUT" "${pids[@]}"; then
		warn "still running after ${KAFKA_STOP_TIMEOUT} s: kill -9"
		kill -KILL "${pids[@]}" 2>/dev/null || true
		wait_pids_gone 10 "${pids[@]}" || die "could not stop pids ${pids[*]}"
	fi
	local ports=()
	for d in $(all_dirs); do
		rm -f "$d/broker.pid"
		ports+=("$(node_port "$d")" "$(node_port "$d" c)")
	done
	wait_ports_closed 10 "${ports[@]}" || warn "ports still open after stop: ${ports[*]}"
	say "stopped $(IFS=,; echo "${names[*]}" | sed 's/,/, /g') (pid ${pids[*]}) in $(since "$t0") s"
}

cmd_kill() {
	local d pid
	d=$(node_dir "${1:-}")
	pid=$(node_pid "$d") || { say "$(node_name "$d") is not running"; return 0; }
	kill -KILL "$pid"
	wait_pids_gone 10 "$pid" || die "pid $pid survived kill -9"
	wait_ports_closed 10 "$(node_port "$d")" "$(node_port "$d" c)" || die "ports of pid $pid still open after kill -9"
	say "killed $(node_name "$d") (pid $pid, port $(node_port "$d"))"
}

cmd_start() {
	local d t0 deadline
	t0=$(now_ms)
	d=$(node_dir "${1:-}")
	[[ -f $d/data/meta.properties ]] || die "$(node_name "$d") was never set up: run 'up' or 'up3' first"
	ensure_libs
	deadline=$(($(now_ms) + KAFKA_START_TIMEOUT * 1000))
	if [[ $d == "$SINGLE" ]]; then start_node "$d" "$KAFKA_HEAP"; else start_node "$d" "$KAFKA3_HEAP"; fi
	wait_ready "$deadline" "$d"
	say "$(node_name "$d") up at 127.0.0.1:$(node_port "$d") (pid $(node_pid "$d"), $(since "$t0") s)"
}

cmd_topic() {
	local name=${1:-} parts=${2:-} rf=${3:-} bs t0 out deadline rfargs=()
	[[ -n $name && $parts =~ ^[0-9]+$ && ( -z $rf || $rf =~ ^[0-9]+$ ) ]] ||
		{ warn "error: usage: kafka.sh topic NAME PARTITIONS [REPLICATION_FACTOR]"; exit 2; }
	t0=$(now_ms)
	bs=${KAFKA_BROKERS:-$(running_brokers)}
	bs=${bs:-127.0.0.1:$KAFKA_PORT}
	kcat -b "$bs" -L -m 5 >/dev/null 2>&1 || die "no Kafka broker answers at $bs"
	ensure_libs
	[[ -n $rf ]] && rfargs=(--replication-factor "$rf")
	# Without RF the broker's default.replication.factor applies (1 single node, 3 cluster).
	out=$(kt org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --create --if-not-exists \
		--topic "$name" --partitions "$parts" "${rfargs[@]}" 2>&1) || die "creating topic $name on $bs: $out"
	# The create returns before every broker has the metadata: wait until it is visible with all partitions.
	deadline=$(($(now_ms) + 30000))
	until [[ $(kcat -b "$bs" -L -t "$name" -m 5 2>/dev/null | grep -c '^ *partition [0-9]*, leader [0-9]') == "$parts" ]]; do
		(($(now_ms) < deadline)) || die "topic $name not visible with $parts partitions on $bs after 30 s"
		sleep 0.1
	done
	say "topic $name ready on $bs: $parts partitions${rf:+, RF $rf} ($(since "$t0") s)"
}

cmd_status() {
	local d pid port state any=0
	for d in $(all_dirs); do
		any=1
		port=$(node_port "$d")
		if pid=$(node_pid "$d"); then
			answers "$port" && state="running, answering" || state="running, NOT answering"
			printf '%-12s 127.0.0.1:%-6s pid %-8s %s\n' "$(node_name "$d")" "$port" "$pid" "$state"
		else
			printf '%-12s 127.0.0.1:%-6s %-12s stopped\n' "$(node_name "$d")" "$port" ""
		fi
	done
	((any)) || say "no node configured in $KAFKA_VAR"
	libs_complete && echo "jars: $KAFKA_LIBS (complete)" || echo "jars: $KAFKA_LIBS (missing, 'up' resolves them)"
}

cmd_clean() {
	cmd_down
	[[ -d $KAFKA_VAR ]] || return 0
	# Keep the jars (and their lock) if they live inside KAFKA_VAR: resolving them again costs a download.
	find "$KAFKA_VAR" -mindepth 1 -maxdepth 1 ! -path "$KAFKA_LIBS" ! -path "$KAFKA_LIBS.lock" \
		! -path "$KAFKA_LIBS.mvn.log" -exec rm -rf {} +
	say "removed the state in $KAFKA_VAR (kept the jars in $KAFKA_LIBS)"
}

# Commands that start or stop nodes hold a lock on KAFKA_VAR, so two concurrent 'up's start one node, not two
# (fd 8; closed for the JVMs so that they do not keep holding it).
serialize() {
	mkdir -p "$KAFKA_VAR"
	exec 8>"$KAFKA_VAR/.lock"
	flock 8
}

cmd=${1:-}
shift || true
case $cmd in up | up3 | down | kill | start | clean) serialize ;; esac
case $cmd in
up) cmd_up ;;
up3) cmd_up3 ;;
down) cmd_down ;;
kill) cmd_kill "$@" ;;
start) cmd_start "$@" ;;
topic) cmd_topic "$@" ;;
status) cmd_status ;;
brokers) running_brokers ;;
tool) ensure_libs >&2; kt "$@" ;;
libs) ensure_libs ;;
clean) cmd_clean ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
