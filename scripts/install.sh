#!/usr/bin/env bash
# Installs Sysboxd on this host from a built tree (`make install` builds first):
#   packages, binaries, sysboxctl, systemd units (when systemd runs), the sysbox subuid/subgid
#   pool, dockerd (started if needed), the daemons (restarted when the installed files changed), the
#   sysbox-runc runtime in /etc/docker/daemon.json, the busybox test image, and a smoke run.
# Running it again is harmless. --no-smoke skips the smoke run (scripts/test.sh runs it itself).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
require_root
smoke=true
case "${1:-}" in
--no-smoke) smoke=false ;;
"") ;;
*) die "usage: ${0##*/} [--no-smoke]" ;;
esac
root=$(repo_root)
cd "$root"

# The Debian package (sysboxd) installs the same programs under /usr: two installations
# would fight over the daemons' sockets and the runtime entry of daemon.json.
if [ "$(dpkg-query -W -f='${Status}' sysboxd 2>/dev/null || true)" = "install ok installed" ]; then
	die "the sysboxd package is installed; remove it first (dpkg -r sysboxd) or use it instead"
fi

BINARIES=(sysbox-runc sysbox-mgr sysbox-fs)
bindir="$SYSBOX_PREFIX/bin"
sbindir="$SYSBOX_PREFIX/sbin"
unitdir=/etc/systemd/system

step() { printf '==> %s\n' "$*"; }

# put SRC DST MODE installs a file atomically (a running daemon keeps its old inode) unless
# DST already has the same content; sets changed=true when it wrote something.
changed=false
put() {
	if cmp -s "$1" "$2"; then
		chmod "$3" "$2"
		return
	fi
	install -D -m "$3" "$1" "$2.new"
	mv -f "$2.new" "$2"
	changed=true
}

step "packages"
scripts/install-deps.sh

step "binaries into $bindir"
for b in "${BINARIES[@]}"; do
	[ -x "bin/$b" ] || die "bin/$b is missing: run 'make build' (or 'make install', which builds)"
done
restart=() # daemons whose binary changed
for b in "${BINARIES[@]}"; do
	changed=false
	put "bin/$b" "$bindir/$b" 0755
	if $changed && [ "$b" != sysbox-runc ]; then restart+=("$b"); fi
done
put scripts/sysboxctl "$sbindir/sysboxctl" 0755
mkdir -p "$SYSBOX_LOG_DIR" "$SYSBOX_RUN_DIR"

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
	step "systemd units into $unitdir"
	for u in packaging/systemd/*.service; do
		put "$u" "$unitdir/${u##*/}" 0644
	done
	systemctl daemon-reload
	systemctl enable sysbox.service sysbox-mgr.service sysbox-fs.service >/dev/null
fi

# sysbox-mgr loads the profile at start where AppArmor is enabled (system containers run
# under it instead of the engine's default, which refuses the mounts inner Docker needs).
if [ -d /etc/apparmor.d ]; then
	step "AppArmor profile /etc/apparmor.d/sysbox-container"
	changed=false
	put packaging/apparmor/sysbox-container /etc/apparmor.d/sysbox-container 0644
	if $changed && [[ " ${restart[*]} " != *" sysbox-mgr "* ]]; then restart+=(sysbox-mgr); fi
fi

step "subordinate id pool (/etc/subuid, /etc/subgid)"
scripts/subid-setup.sh
grep -H '^sysbox:' /etc/subuid /etc/subgid | sed 's/^/    /'

step "docker engine"
scripts/docker-up.sh

# A daemon with a new binary is restarted; running system containers survive it (sysbox-fs
# takes their virtual files and notify fds over, see sysboxctl). A new sysbox-runc needs no
# restart: each runtime call is a new process.
step "daemons${restart[*]:+ (restart: new ${restart[*]})}"
"$sbindir/sysboxctl" start
if [ ${#restart[@]} -gt 0 ]; then "$sbindir/sysboxctl" restart "${restart[@]}"; fi

step "docker runtime sysbox-runc"
scripts/docker-runtime.sh add

step "test image sysbox-test/busybox"
tests/images/build.sh busybox

if $smoke; then
	step "smoke run: docker run --runtime=sysbox-runc --rm sysbox-test/busybox cat /proc/self/uid_map"
	scripts/smoke.sh
fi
step "installed: $("$bindir/sysbox-runc" --version 2>/dev/null | head -n1)"
