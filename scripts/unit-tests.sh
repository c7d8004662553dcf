#!/usr/bin/env bash
# Runs the unit tests of every Go module in the repository under the race detector: the root
# module and the nested modules under tests/oci (they have their own go.mod, so `go test ./...`
# at the root does not reach them). Used by `make test-unit` and by scripts/test.sh's unit
# phase. Arguments go to every `go test` (e.g. -v, -count=1, -run X).
#
# Environment: GO (default go), GO_TAGS (default seccomp), UNIT_RACE (default 1; 0 runs the
# tests without -race, e.g. for a quick run).
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(repo_root)" || exit 1

GO=${GO:-go}
GO_TAGS=${GO_TAGS:-seccomp}
UNIT_RACE=${UNIT_RACE:-1}

# Module directories whose tests are unit tests (tests/e2e is not a module of its own: its
# files carry the e2e build tag).
MODULES=(. tests/oci tests/oci/ocileaks)

# Packages that cannot run under the race detector, as "import path|reason"; they run
# without -race. None today: every package, cgo ones included (sysbox-runc's libcontainer
# nsenter, the seccomp agent), passes with -race on a 2-core machine.
RACE_EXCLUDED=()

excluded() {
	local e
	for e in "${RACE_EXCLUDED[@]}"; do [ "${e%%|*}" = "$1" ] && return 0; done
	return 1
}

race=()
if [ "$UNIT_RACE" = 1 ]; then
	race=(-race)
	export CGO_ENABLED=1 # the race detector needs cgo
fi

rc=0
for m in "${MODULES[@]}"; do
	pkgs=() plain=()
	if ! list=$(cd "$m" && "$GO" list -tags "$GO_TAGS" ./...); then
		# The "[setup failed]" form is what scripts/test.sh counts as a failed package.
		echo "FAIL	./${m#./} [setup failed]"
		rc=1
		continue
	fi
	while IFS= read -r p; do
		if [ ${#race[@]} -gt 0 ] && excluded "$p"; then plain+=("$p"); else pkgs+=("$p"); fi
	done <<<"$list"
	if [ ${#pkgs[@]} -gt 0 ]; then
		echo "$GO test ${race[*]} -tags $GO_TAGS $* (module ./${m#./})"
		(cd "$m" && "$GO" test "${race[@]}" -tags "$GO_TAGS" "$@" "${pkgs[@]}") || rc=1
	fi
	if [ ${#plain[@]} -gt 0 ]; then
		echo "$GO test -tags $GO_TAGS $* (without -race: ${plain[*]})"
		(cd "$m" && "$GO" test -tags "$GO_TAGS" "$@" "${plain[@]}") || rc=1
	fi
done
exit "$rc"
