#!/usr/bin/env bash
# test_format.sh: every C file follows the one .clang-format at the root (clang-format 14, from deps.sh), and
# the check catches a file that does not (a copy of one source with a brace moved).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init test_format
command -v clang-format >/dev/null || fail "clang-format not installed (deploy/local/deps.sh installs it)"
[[ -f .clang-format ]] || fail "no .clang-format at the root"

mapfile -t files < <(git ls-files '*.c' '*.h')
((${#files[@]} > 50)) || fail "only ${#files[@]} C files found"
bad=()
for f in "${files[@]}"; do
	clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
((${#bad[@]} == 0)) || fail "not formatted (run clang-format -i on them): ${bad[*]}"

# the check itself: a function brace moved to the other style is reported
cp common/backoff.c "$TEST_DIR/x.c"
sed -i '0,/^{$/{/^{$/d}' "$TEST_DIR/x.c"
sed -i '0,/)$/s/)$/) {/' "$TEST_DIR/x.c"
cp .clang-format "$TEST_DIR/"
if clang-format --dry-run -Werror "$TEST_DIR/x.c" >/dev/null 2>&1; then fail "a misformatted file passed the check"; fi
pass
