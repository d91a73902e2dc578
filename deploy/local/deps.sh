#!/usr/bin/env bash
# Installs every Debian bookworm package rsvp-pipeline needs to build, test and run locally. Idempotent and fast
# when nothing is missing (one dpkg-query, no network). Prints one line saying what it did. Needs root to install.
set -euo pipefail
PROG=deps
source "$(dirname "$0")/common.sh"

PACKAGES=(
	build-essential pkg-config clang libclang-rt-14-dev valgrind # compilers, sanitizers, libFuzzer, leak checks
	clang-format                                                 # the one code style (.clang-format)
	librdkafka-dev libcurl4-openssl-dev libpq-dev libprotobuf-c-dev protobuf-c-compiler libnng-dev libjsmn-dev
	libcmocka-dev                                                # unit tests
	kcat jq prometheus gnuplot-nox                               # test tools: Kafka CLI, promtool, bench plots
	postgresql-15 openjdk-17-jre-headless maven                  # the local stack (Kafka jars come from Maven)
	curl openssl procps psmisc                                   # misc tools the scripts use
	python3 python3-venv                                         # JSON checks and validators in integration tests
)

t0=$(now_ms)
command -v dpkg-query >/dev/null || die "dpkg-query not found: this script supports Debian bookworm only"

# One query for all packages; unknown packages print nothing on stdout (an error on stderr), so they count as missing.
declare -A have=()
while read -r name status; do
	[[ $status == installed ]] && have[${name%%:*}]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${PACKAGES[@]}"; do [[ -n ${have[$p]:-} ]] || missing+=("$p"); done

if ((${#missing[@]} == 0)); then
	say "all ${#PACKAGES[@]} packages present, nothing to do ($(since "$t0") s)"
	exit 0
fi

SUDO=()
if ((EUID != 0)); then
	command -v sudo >/dev/null || die "missing packages (${missing[*]}) and not root; run as root: $0"
	SUDO=(sudo)
fi

# Packages such as postgresql-15 and prometheus start system services on install; we run our own throwaway
# instances instead, so tell invoke-rc.d not to start anything while we install (unless a policy already exists).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
	"${SUDO[@]}" chmod 755 "$policy"
	own_policy=1
fi
cleanup() { ((own_policy)) && "${SUDO[@]}" rm -f "$policy"; return 0; }
trap cleanup EXIT

log=$(mktemp /tmp/rsvp-deps.XXXXXX.log)
export DEBIAN_FRONTEND=noninteractive
if ! { "${SUDO[@]}" apt-get update -q && "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
	>"$log" 2>&1; then
	tail -n 30 "$log" >&2
	die "apt-get failed installing: ${missing[*]} (full log: $log)"
fi
rm -f "$log"
say "installed ${#missing[@]} missing package(s): ${missing[*]} ($(since "$t0") s)"
