# Shared helpers for deploy/local/*.sh (sourced, never run): messages, timing, pid files and port checks.
# A process counts as "ours" only if its pid file points at a live, non-zombie process whose command line
# contains a marker (our config path), so a recycled pid or someone else's server is never mistaken for ours.

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PROG=${PROG:-$(basename "$0" .sh)}

say() { printf '%s: %s\n' "$PROG" "$*"; }
warn() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

# now_ms: wall clock in milliseconds.
now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }
# since START_MS: seconds elapsed as "1.23".
since() { local d=$(($(now_ms) - $1)); printf '%d.%02d' $((d / 1000)) $((d % 1000 / 10)); }

# pid_alive PID [MARKER]: true if PID runs (zombies count as dead: PID 1 here may not reap them) and, when
# MARKER is given, its command line contains MARKER.
pid_alive() {
	local pid=$1 marker=${2:-} state
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/stat ]] || return 1
	state=$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[[ -n $state && $state != Z && $state != X ]] || return 1
	[[ -z $marker ]] && return 0
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"
}

# pidfile_alive FILE MARKER: prints the pid and succeeds if FILE names a live process of ours.
pidfile_alive() {
	local pid
	[[ -s $1 ]] || return 1
	pid=$(head -n1 "$1" 2>/dev/null) || return 1
	pid_alive "$pid" "$2" || return 1
	echo "$pid"
}

# port_listening PORT: true if some socket in this network namespace LISTENs on TCP PORT (any address).
port_listening() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# port_owner PORT: best-effort "pid/name" of whoever listens on PORT (for error messages).
port_owner() {
	local pids p out=""
	pids=$(fuser -n tcp "$1" 2>/dev/null | tr -s ' ') || true
	for p in $pids; do
		[[ ${#out} -gt 60 ]] && { out+=", ..."; break; }
		out+="${out:+, }$p/$(cat "/proc/$p/comm" 2>/dev/null || echo '?')"
	done
	echo "${out:-unknown process}"
}

# require_free_port PORT WHAT: exit 1 with a clear message if PORT is taken by someone else.
require_free_port() {
	if port_listening "$1"; then
		die "port $1 ($2) is already in use by $(port_owner "$1"), not by this stack; stop it or choose another port"
	fi
}

# wait_pids_gone DEADLINE_S PID...: waits until every PID is dead; returns 1 if some still live at the deadline.
wait_pids_gone() {
	local deadline=$(($(now_ms) + $1 * 1000)) p left
	shift
	while :; do
		left=0
		for p in "$@"; do pid_alive "$p" && left=1; done
		((left == 0)) && return 0
		(($(now_ms) >= deadline)) && return 1
		sleep 0.1
	done
}

# wait_reaped DEADLINE_S PID: waits until PID has vanished from /proc (a zombie still counts for kill -0, which is
# how PostgreSQL decides whether a postmaster.pid is stale). Returns 1 if it is still there at the deadline.
wait_reaped() {
	local deadline=$(($(now_ms) + $1 * 1000))
	while [[ -e /proc/$2 ]]; do
		(($(now_ms) >= deadline)) && return 1
		sleep 0.05
	done
}

# wait_ports_closed DEADLINE_S PORT...: waits until nothing listens on any PORT. A killed JVM's pid can look dead
# (zombie leader thread) while its other threads still hold the sockets for a moment.
wait_ports_closed() {
	local deadline=$(($(now_ms) + $1 * 1000)) p busy
	shift
	while :; do
		busy=0
		for p in "$@"; do port_listening "$p" && busy=1; done
		((busy == 0)) && return 0
		(($(now_ms) >= deadline)) && return 1
		sleep 0.1
	done
}

# validate_port NAME VALUE: exit 2 unless VALUE is a TCP port number.
validate_port() {
	[[ $2 =~ ^[0-9]+$ ]] && (($2 > 0 && $2 < 65536)) || { warn "error: $1=$2 is not a port"; exit 2; }
}
