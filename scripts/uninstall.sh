#!/usr/bin/env bash
# Removes what install.sh put on the host: stops the daemons, unregisters the sysbox-runc
# runtime from /etc/docker/daemon.json (other keys stay), removes the binaries, sysboxctl and
# the systemd units. Kept on purpose: the sysbox entry in /etc/subuid and /etc/subgid (files
# written by old containers stay owned by that range, and a re-install reuses it), logs in
# /var/log/sysbox, container data in /var/lib/sysbox, the test images, packages, and dockerd.
# Refuses while containers of the sysbox-runc runtime are running.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
require_root
cd "$(repo_root)"

# What the sysboxd package installed is removed with dpkg, not here (this would unregister
# the package's runtime from daemon.json and stop its daemons).
if [ "$(dpkg-query -W -f='${Status}' sysboxd 2>/dev/null || true)" = "install ok installed" ]; then
	die "Sysboxd is installed from the sysboxd package; remove it with: dpkg -r sysboxd"
fi

bindir="$SYSBOX_PREFIX/bin"
sbindir="$SYSBOX_PREFIX/sbin"
unitdir=/etc/systemd/system
step() { printf '==> %s\n' "$*"; }

if docker_ok; then
	running=$(docker ps -q | xargs -r docker inspect -f '{{.HostConfig.Runtime}} {{.Name}}' |
		awk '$1 == "sysbox-runc" { sub("^/", "", $2); print $2 }')
	if [ -n "$running" ]; then
		die "containers still run with sysbox-runc; stop them first: $(echo "$running" | tr '\n' ' ')"
	fi
fi

step "daemons"
if [ -x "$sbindir/sysboxctl" ]; then
	"$sbindir/sysboxctl" stop
else
	scripts/sysboxctl stop
fi

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
	step "systemd units"
	systemctl disable sysbox.service sysbox-mgr.service sysbox-fs.service >/dev/null 2>&1 || true
	rm -f "$unitdir/sysbox.service" "$unitdir/sysbox-mgr.service" "$unitdir/sysbox-fs.service"
	systemctl daemon-reload
fi

step "docker runtime sysbox-runc"
scripts/docker-runtime.sh remove

step "binaries"
rm -f "$bindir/sysbox-runc" "$bindir/sysbox-mgr" "$bindir/sysbox-fs" "$sbindir/sysboxctl"
if [ -f /etc/apparmor.d/sysbox-container ]; then
	if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ]; then
		apparmor_parser -R /etc/apparmor.d/sysbox-container 2>/dev/null || true
	fi
	rm -f /etc/apparmor.d/sysbox-container
fi

step "uninstalled (kept: sysbox entry in /etc/subuid and /etc/subgid, $SYSBOX_LOG_DIR, /var/lib/sysbox)"
