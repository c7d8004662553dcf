#!/usr/bin/env bash
# Installs the Debian packages that building, installing and testing Sysboxd need.
# Idempotent and quiet: prints nothing when everything is already there.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
require_root

PACKAGES=(
	# build
	gcc libc6-dev make pkg-config git libseccomp-dev protobuf-compiler
	# runtime and engine
	docker.io iptables fuse3 uidmap procps util-linux
	# scripts and test images
	jq busybox-static debootstrap debian-archive-keyring ca-certificates tar
	# packaging (make deb)
	dpkg-dev help2man lintian
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

command -v apt-get >/dev/null || die "apt-get not found: Sysboxd's scripts expect Debian 12 (missing: ${missing[*]})"
log "installing ${missing[*]}"

mkdir -p "$SYSBOX_LOG_DIR"
aptlog="$SYSBOX_LOG_DIR/install-deps.log"
: >"$aptlog"
export DEBIAN_FRONTEND=noninteractive

# Keep package scripts from starting services (dockerd in particular): docker-up.sh starts
# dockerd itself so that it knows whether it owns it. Only when no policy exists already.
policy=/usr/sbin/policy-rc.d
own_policy=false
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	own_policy=true
fi
cleanup() { if $own_policy; then rm -f "$policy"; fi; }
trap cleanup EXIT

# Stale package lists make installs fail with 404s, so refresh them before installing.
if ! apt-get update -q >>"$aptlog" 2>&1; then
	log_tail "$aptlog"
	die "apt-get update failed"
fi
if ! apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef \
	-o Dpkg::Options::=--force-confold "${missing[@]}" >>"$aptlog" 2>&1; then
	log_tail "$aptlog"
	die "apt-get install ${missing[*]} failed"
fi
