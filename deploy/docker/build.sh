#!/usr/bin/env bash
# Builds the rsvp-pipeline image with the project's own Docker engine: a dockerd with its own socket, data root
# and exec root under var/docker, no bridge and no iptables (builds use the host network). No registry needed: the
# base image is a debootstrap minbase bookworm tree (cached outside the clone) imported as local/debian:bookworm.
# usage: deploy/docker/build.sh [image|start|stop|base|env]   (default: image; prints the image name and size)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${RSVP_CACHE:-/var/cache/rsvp-pipeline}
D=$ROOT/var/docker                                   # var/ is git-ignored
IMAGE=${IMAGE:-local/rsvp-pipeline:dev}
BASE_IMAGE=local/debian:bookworm
BASE_TREE=$CACHE/debian-base
export DOCKER_HOST=unix://$D/docker.sock

say() { echo "docker-build: $*" >&2; }
die() { say "error: $*"; exit 1; }

# deps: Debian's docker.io and debootstrap, installed once (idempotent, no network when present).
deps() {
	local p missing=()
	for p in docker.io debootstrap; do dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p"); done
	((${#missing[@]} == 0)) && return 0
	say "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# start: our dockerd, unless it already answers on our socket (~2 s).
start() {
	docker version >/dev/null 2>&1 && return 0
	deps
	mkdir -p "$D"
	# none of the caller's other file descriptors (a lock held by `flock FILE test...`) may live on in dockerd
	(
		for fd in /proc/self/fd/*; do fd=${fd##*/}; ((fd > 2)) && eval "exec $fd>&-"; done
		exec setsid dockerd --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/dockerd.pid" -H "$DOCKER_HOST" \
			--bridge=none --iptables=false --ip6tables=false
	) >"$D/dockerd.log" 2>&1 </dev/null &
	local i
	for i in $(seq 1 150); do docker version >/dev/null 2>&1 && return 0; sleep 0.2; done
	tail -n 20 "$D/dockerd.log" >&2
	die "dockerd did not answer on $DOCKER_HOST within 30 s"
}

# stop: our dockerd only (by its pid file), SIGKILL after 20 s; then unmounts what it left under var/docker.
stop() {
	local f=$D/dockerd.pid p i
	[[ -f $f ]] || return 0
	p=$(cat "$f")
	kill "$p" 2>/dev/null || { rm -f "$f"; return 0; }
	for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
	kill -9 "$p" 2>/dev/null || true
	rm -f "$f"
	grep -o " $D/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l # dockerd leaves exec/netns/default mounted
}

# base: local/debian:bookworm from a debootstrap minbase tree (made once, ~70 s, kept in $CACHE).
base() {
	docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return 0
	if [[ ! -x $BASE_TREE/usr/bin/apt-get || -d $BASE_TREE/debootstrap ]]; then  # debootstrap/ remains if it failed
		local mirror tmp=$BASE_TREE.tmp
		mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
		say "debootstrap minbase bookworm -> $BASE_TREE"
		rm -rf "$tmp"; mkdir -p "$(dirname "$BASE_TREE")"
		debootstrap --variant=minbase bookworm "$tmp" "${mirror:-http://deb.debian.org/debian}" >"$CACHE/debootstrap.log" 2>&1 ||
			die "debootstrap failed (log: $CACHE/debootstrap.log)"
		rm -rf "$BASE_TREE"; mv "$tmp" "$BASE_TREE"
	fi
	tar -C "$BASE_TREE" --numeric-owner -c . | docker import - "$BASE_IMAGE" >/dev/null
}

# image: the context is only what the Dockerfile copies (no build dirs, no var/), sent as a tar.
image() {
	start
	base
	local t0=$SECONDS
	# every module file the Makefile includes (it fails on a missing one), found rather than listed
	tar -C "$ROOT" -c Makefile proto common services tools deploy/docker/Dockerfile \
		$(cd "$ROOT" && find tests bench -name module.mk -not -path '*/build*' | sort) |
		DOCKER_BUILDKIT=0 docker build --network host -f deploy/docker/Dockerfile \
			--build-arg BASE="$BASE_IMAGE" --build-arg JOBS="$(nproc)" -t "$IMAGE" - >"$D/build.log" 2>&1 ||
		{ tail -n 30 "$D/build.log" >&2; die "docker build failed (log: $D/build.log)"; }
	local bytes
	bytes=$(docker image inspect -f '{{.Size}}' "$IMAGE")
	say "built $IMAGE: $((bytes / 1000000)) MB in $((SECONDS - t0)) s"
	echo "$IMAGE"
}

case "${1:-image}" in
image) image ;;
start) start ;;
stop) stop ;;
base) start; base ;;
env) echo "export DOCKER_HOST=$DOCKER_HOST" ;;
*) echo "usage: $0 [image|start|stop|base|env]" >&2; exit 2 ;;
esac
