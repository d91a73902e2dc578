#!/usr/bin/env bash
# check-standalone.sh: the repository builds, tests, benchmarks and explains itself from its own files. Lists
# every tracked file (or every file under DIR) that reaches outside the repository: the team's reference folder
# beside the clone, or an absolute path into somebody's home or work folder.
# Usage: tools/check-standalone.sh [DIR]   exit 0: nothing found; 1: the offending lines are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
# what a path outside the repository looks like; grep -E, matched case-sensitively
PATTERN='\.\./shared([/"'"'"' ]|$)|(^|[^A-Za-z0-9_.~-])/(work|home|Users|root)/[A-Za-z0-9_.-]'
if [[ -n ${1:-} ]]; then
	hits=$(grep -rIn -E "$PATTERN" "$1" || true)
else
	hits=$(git grep -In -E "$PATTERN" || true)
fi
[[ -z $hits ]] && exit 0
echo "paths outside the repository (copy what is needed into the repository, e.g. tests/data/):"
printf '%s\n' "$hits"
exit 1
