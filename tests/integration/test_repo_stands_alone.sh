#!/usr/bin/env bash
# test_repo_stands_alone.sh: nothing in the repository reaches outside it (tools/check-standalone.sh finds no
# path into the reference folder beside the clone and no absolute home or work path), the checker itself catches
# each kind of such path, and the data the tests read is in the repository (tests/data).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init test_repo_stands_alone

# 1. the repository as committed
out=$(tools/check-standalone.sh 2>&1) || fail "the repository reaches outside itself: $out"

# 2. the checker is not vacuous: each kind of outside path, planted in a folder, is found
planted=$TEST_DIR/planted
# (the planted paths are put together here so that this file does not trip the check itself)
up=.. sh=shared w=work h=home r=root
for line in "DATA=$up/$sh/data/x.ndjson" "f = fopen(\"/$w/$sh/data/x\", \"rb\");" \
	"for d in /$w/devstack/libs; do" "see $up/$sh/reference/k8s-node.md" "cp /$h/alice/x ." "ls /$r/go"; do
	rm -rf "$planted" && mkdir -p "$planted"
	printf 'ok line\n%s\n' "$line" >"$planted/file"
	if tools/check-standalone.sh "$planted" >/dev/null 2>&1; then fail "the checker missed: $line"; fi
done
# and lines that stay inside the repository, or are system paths, pass
rm -rf "$planted" && mkdir -p "$planted"
printf '%s\n' 'DATA=tests/data/meetup-rsvps-recorded.ndjson' 'CACHE=/var/cache/rsvp-pipeline' \
	'a shared dev stack' '/usr/bin/psql' "x=$up/${sh}_thing" >"$planted/file"
out=$(tools/check-standalone.sh "$planted" 2>&1) || fail "the checker flags paths inside the repository: $out"

# 3. the data the tests read is here, complete
[[ $(wc -l <"$TESTDATA_RECORDED") == 2865 ]] || fail "tests/data: recorded RSVPs incomplete"
[[ $(wc -l <"$TESTDATA_REFERENCE") == 2265 ]] || fail "tests/data: reference counts incomplete"
[[ $TESTDATA_DIR == "$LIB_ROOT/tests/data" || -n ${RSVP_DATA_DIR:-} ]] || fail "data read from $TESTDATA_DIR"
pass
