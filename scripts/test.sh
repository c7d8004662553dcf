#!/usr/bin/env bash
# Runs Sysboxd's tests: `scripts/test.sh all` (what `make test` and CI run) or
# `scripts/test.sh e2e` (end-to-end only).
#
#   all: install packages, build, unit tests (scripts/unit-tests.sh: go test -race in every
#        module: the root one and those under tests/oci), then install Sysboxd (binaries,
#        sysboxctl, subuid pool, Docker runtime; starts dockerd and the daemons if needed),
#        build the test images, a smoke run, end-to-end tests (go test -tags e2e
#        ./tests/e2e/...), the stock-host guest (tests/vm/run.sh), summary.
#   e2e: the same without the unit tests.
#
# Whatever happens, it stops what it started: the daemons if they were not running before,
# dockerd if it was not running before. Exits non-zero if any step or test failed.
#
# Environment: TEST_IMAGES (default "all": every test image), E2E_TIMEOUT (default 60m),
# E2E_RUN (passed to go test -run), GO_TAGS (default seccomp), UNIT_RACE (default 1; see
# scripts/unit-tests.sh), TEST_VM (0 skips the stock-host guest of tests/vm, which `all` runs
# last).
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
root=$(repo_root)
cd "$root" || exit 1

mode=${1:-all}
case "$mode" in
all | e2e) ;;
*)
	echo "usage: ${0##*/} [all|e2e]" >&2
	exit 2
	;;
esac
require_root

GO=${GO:-go}
GO_TAGS=${GO_TAGS:-seccomp}
TEST_IMAGES=${TEST_IMAGES:-all}
E2E_TIMEOUT=${E2E_TIMEOUT:-60m}
sysboxctl="$SYSBOX_PREFIX/sbin/sysboxctl"
# The end-to-end tests call sysboxctl and docker by name.
case ":$PATH:" in
*":$SYSBOX_PREFIX/sbin:"*) ;;
*) export PATH="$SYSBOX_PREFIX/sbin:$PATH" ;;
esac
logdir="$root/.tmp/test-logs"
mkdir -p "$logdir"

results=() # "phase|status|detail"
failed=0
passed_tests=0 failed_tests=0 skipped_tests=0 counts=""
t0=$SECONDS

phase() { printf '\n==== %s ====\n' "$*"; }
record() {
	results+=("$1|$2|$3")
	[ "$2" = FAIL ] && failed=1
	return 0
}

# count_tests LOG adds the go test -v verdicts in LOG to the totals and sets $counts.
count_tests() {
	local p f s
	p=$(grep -cE '^[[:space:]]*--- PASS' "$1")
	f=$(grep -cE '^[[:space:]]*--- FAIL' "$1")
	s=$(grep -cE '^[[:space:]]*--- SKIP' "$1")
	# A package that does not build fails without any "--- FAIL" line: count it too.
	f=$((f + $(grep -cE '^FAIL[[:space:]].*\[(build|setup) failed\]' "$1")))
	passed_tests=$((passed_tests + p)) failed_tests=$((failed_tests + f)) skipped_tests=$((skipped_tests + s))
	counts="$p passed, $f failed, $s skipped"
}

# What was running before we began decides what the teardown stops.
docker_was_up=false
docker_ok && docker_was_up=true
daemons_were_up=false
if [ -x "$sysboxctl" ] && "$sysboxctl" status >/dev/null 2>&1; then
	daemons_were_up=true
fi

# teardown stops what the run started; it runs once, at the end or on an early exit.
torn_down=false
teardown() {
	$torn_down && return
	torn_down=true
	phase "teardown"
	# dockerd first: it stops the containers while the daemons can still serve them.
	if ! $docker_was_up; then
		scripts/docker-down.sh || true
	else
		echo "dockerd was running before the tests: left running"
	fi
	if ! $daemons_were_up; then
		if [ -x "$sysboxctl" ]; then "$sysboxctl" stop || true; fi
	else
		echo "the Sysboxd daemons were running before the tests: left running"
	fi
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build --------------------------------------------------------------------------------
phase "packages"
if scripts/install-deps.sh; then record deps PASS ""; else record deps FAIL "scripts/install-deps.sh failed"; fi

phase "build"
if scripts/build.sh; then record build PASS ""; else record build FAIL "scripts/build.sh failed"; fi

# --- unit tests ---------------------------------------------------------------------------
if [ "$mode" = all ]; then
	phase "unit tests: scripts/unit-tests.sh -v"
	scripts/unit-tests.sh -v 2>&1 | tee "$logdir/unit.log"
	rc=${PIPESTATUS[0]}
	count_tests "$logdir/unit.log"
	if [ "$rc" -eq 0 ]; then record unit PASS "$counts"; else record unit FAIL "$counts (exit $rc)"; fi
fi

# --- end-to-end ---------------------------------------------------------------------------
setup_ok=true
phase "install"
if scripts/install.sh --no-smoke; then
	record install PASS ""
else
	record install FAIL "scripts/install.sh failed"
	setup_ok=false
fi

if $setup_ok; then
	phase "test images: $TEST_IMAGES"
	# shellcheck disable=SC2086 # a list of image names
	if tests/images/build.sh $TEST_IMAGES; then
		record images PASS "$TEST_IMAGES"
	else
		record images FAIL "tests/images/build.sh $TEST_IMAGES failed"
		setup_ok=false
	fi
fi

# The smoke run's verdict is recorded, but the end-to-end tests run even when it fails: they
# tell more about what is broken.
if $setup_ok; then
	phase "smoke run"
	if scripts/smoke.sh; then record smoke PASS ""; else record smoke FAIL "scripts/smoke.sh failed"; fi
fi

if ! $setup_ok; then
	record e2e FAIL "not run: the install or image step failed"
	failed_tests=$((failed_tests + 1))
else
	phase "end-to-end tests: $GO test -tags 'e2e $GO_TAGS' -count=1 -v -timeout $E2E_TIMEOUT ./tests/e2e/..."
	args=(-tags "e2e $GO_TAGS" -count=1 -v -timeout "$E2E_TIMEOUT")
	[ -n "${E2E_RUN:-}" ] && args+=(-run "$E2E_RUN")
	"$GO" test "${args[@]}" ./tests/e2e/... 2>&1 | tee "$logdir/e2e.log"
	rc=${PIPESTATUS[0]}
	count_tests "$logdir/e2e.log"
	if [ "$rc" -eq 0 ]; then record e2e PASS "$counts"; else record e2e FAIL "$counts (exit $rc)"; fi
fi

teardown

# --- the stock-host guest -----------------------------------------------------------------
# tests/vm: a Debian 12 guest under qemu (systemd, cgroup v2, AppArmor, kernel 6.1) with the
# .deb installed and an e2e subset; it needs nothing of the host's Docker or daemons.
if [ "$mode" = all ]; then
	if [ "${TEST_VM:-1}" = 0 ]; then
		record vm SKIP "TEST_VM=0"
	else
		phase "stock-host guest: tests/vm/run.sh"
		tests/vm/run.sh 2>&1 | tee "$logdir/vm.log"
		rc=${PIPESTATUS[0]}
		line=$(grep -E '^tests: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$logdir/vm.log" | tail -n1)
		if [[ $line =~ ^tests:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
			passed_tests=$((passed_tests + BASH_REMATCH[1])) failed_tests=$((failed_tests + BASH_REMATCH[2]))
			skipped_tests=$((skipped_tests + BASH_REMATCH[3]))
			counts="${BASH_REMATCH[1]} passed, ${BASH_REMATCH[2]} failed, ${BASH_REMATCH[3]} skipped"
		else
			failed_tests=$((failed_tests + 1))
			counts="no summary line"
		fi
		if [ "$rc" -eq 0 ]; then record vm PASS "$counts"; else record vm FAIL "$counts (exit $rc)"; fi
	fi
fi

# --- summary ------------------------------------------------------------------------------
phase "summary ($((SECONDS - t0))s, logs in $logdir)"
for r in "${results[@]}"; do
	IFS='|' read -r name status detail <<<"$r"
	printf '  %-8s %-5s %s\n' "$name" "$status" "$detail"
done
[ "$failed" -eq 1 ] && [ "$failed_tests" -eq 0 ] && failed_tests=1
echo "tests: $passed_tests passed, $failed_tests failed, $skipped_tests skipped"
exit "$failed"
