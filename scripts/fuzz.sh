#!/usr/bin/env bash
# Runs every Go fuzz target (func FuzzXxx in a _test.go file) for FUZZTIME each, one after
# the other, at low CPU priority, and prints a summary. Exits non-zero if any target failed
# (a crasher is then in <package>/testdata/fuzz/FuzzXxx/, see docs/fuzzing.md).
#
#   scripts/fuzz.sh [PACKAGE...]     default: every package with a fuzz target
#
# Environment: FUZZTIME (default 1m; go test's -fuzztime syntax: 30s, 10000x), FUZZ_RUN (a
# regexp: only targets whose name matches), GO_TAGS (default seccomp), FUZZ_NICE (default 10).
# Without -fuzz, `go test ./...` already runs each target's seed corpus as a unit test.
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
root=$(repo_root)
cd "$root" || exit 1

: "${FUZZTIME:=1m}"
: "${FUZZ_RUN:=.}"
: "${GO_TAGS:=seccomp}"
: "${FUZZ_NICE:=10}"
GO=${GO:-go}

# Packages: those given, else the directories of _test.go files that declare a fuzz target.
if [ $# -gt 0 ]; then
	pkgs=("$@")
else
	mapfile -t pkgs < <(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' \
		--exclude-dir=.git --exclude-dir=.tmp --exclude-dir=testdata . |
		xargs -r -n1 dirname | sort -u)
fi
[ ${#pkgs[@]} -gt 0 ] || die "no package with a fuzz target"

declare -a names=() results=()
failed=0
for pkg in "${pkgs[@]}"; do
	# go test -list prints the matching names, then "ok <package> <time>".
	if ! list=$(nice -n "$FUZZ_NICE" "$GO" test -tags "$GO_TAGS" -list '^Fuzz' "$pkg" 2>&1); then
		printf '%s\n' "$list" >&2
		names+=("$pkg (list)")
		results+=("FAIL: go test -list failed")
		failed=1
		continue
	fi
	for target in $(printf '%s\n' "$list" | grep -E '^Fuzz' | grep -E -- "$FUZZ_RUN"); do
		log "fuzzing $pkg $target for $FUZZTIME"
		out=$(mktemp)
		start=$(date +%s)
		nice -n "$FUZZ_NICE" "$GO" test -tags "$GO_TAGS" -run '^$' -fuzz "^${target}\$" \
			-fuzztime "$FUZZTIME" "$pkg" 2>&1 | tee "$out" | grep -v '^fuzz: elapsed'
		rc=${PIPESTATUS[0]}
		secs=$(($(date +%s) - start))
		# The last progress line has the total: "fuzz: elapsed: 1m0s, execs: 123 (2/sec), ...".
		execs=$(grep -o 'execs: [0-9]*' "$out" | tail -n1 | cut -d' ' -f2)
		rm -f "$out"
		names+=("$pkg $target")
		if [ "$rc" -eq 0 ]; then
			results+=("ok    ${execs:-?} execs in ${secs}s")
		else
			results+=("FAIL  after ${execs:-?} execs in ${secs}s (crasher in $pkg/testdata/fuzz/$target/)")
			failed=1
		fi
	done
done

echo
echo "fuzz summary (FUZZTIME=$FUZZTIME each):"
for i in "${!names[@]}"; do
	printf '  %-60s %s\n' "${names[$i]}" "${results[$i]}"
done
[ ${#names[@]} -gt 0 ] || die "no fuzz target matched FUZZ_RUN=$FUZZ_RUN"
exit "$failed"
