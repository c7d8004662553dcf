#!/usr/bin/env bash
# Builds the Sysboxd binaries into bin/: sysbox-runc, sysbox-mgr, sysbox-fs. cgo is on for
# sysbox-runc only and the build tag "seccomp" selects libcontainer's libseccomp code (needs
# libseccomp-dev). Version and commit are stamped into internal/version.
#
# Environment: VERSION, COMMIT (default: from git), GO (default: go), GO_TAGS, BIN_DIR.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(repo_root)"

MODULE=github.com/sysboxd/sysboxd
BINARIES=(sysbox-runc sysbox-mgr sysbox-fs)
GO=${GO:-go}
GO_TAGS=${GO_TAGS:-seccomp}
BIN_DIR=${BIN_DIR:-bin}

command -v "$GO" >/dev/null || die "Go not found: install Go (see go.mod for the version) at /usr/local/go"
git_() { git -c safe.directory="$PWD" "$@" 2>/dev/null; }
if [ -z "${VERSION:-}" ]; then
	VERSION=$(git_ describe --tags --always --dirty || cat VERSION 2>/dev/null || echo unknown)
fi
if [ -z "${COMMIT:-}" ]; then
	COMMIT=$(git_ rev-parse --short HEAD || echo unknown)
fi
ldflags="-X $MODULE/internal/version.Version=$VERSION -X $MODULE/internal/version.Commit=$COMMIT"

# Only sysbox-runc needs cgo (libcontainer's nsenter is C, seccomp uses libseccomp). The
# daemons are pure Go: without cgo they map no libc and their threads get Go-sized stacks,
# which keeps sysbox-fs's resident memory about 2 MB lower.
cgo_for() { [ "$1" = sysbox-runc ] && echo 1 || echo 0; }
mkdir -p "$BIN_DIR"
for b in "${BINARIES[@]}"; do
	CGO_ENABLED=$(cgo_for "$b") "$GO" build -tags "$GO_TAGS" -trimpath -ldflags "$ldflags" -o "$BIN_DIR/$b" "./$b"
done
log "built ${BINARIES[*]} (version $VERSION, commit $COMMIT)"
