#!/usr/bin/env bash
# Tests the package's maintainer scripts without installing anything: each script runs with
# DPKG_ROOT pointing at a fake root (as dpkg --root would set it) and with stub commands
# first on PATH (deb-systemd-helper, deb-systemd-invoke, systemctl, docker, sysboxctl) that
# record how they were called. daemon.json is edited by the real sysbox-mgr (bin/), the
# subid pool by the real scripts/subid-setup.sh. A fake dockerd (a copy of bash named
# dockerd) shows whether the scripts send it SIGHUP.
#
# Needs root (subid-setup.sh insists on it) and bin/sysbox-mgr (make build). Run by
# `make deb-test`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
require_root
src=$(repo_root)
[ -x "$src/bin/sysbox-mgr" ] || die "bin/sysbox-mgr is missing: run 'make build'"

work=$(mktemp -d /tmp/sysboxd-maint-test.XXXXXX)
fake_dockerd_pid=""
cleanup() {
	stop_fake_dockerd
	rm -rf "$work"
}
trap cleanup EXIT

fails=0
pass() { printf 'ok    %s\n' "$*"; }
fail() {
	printf 'FAIL  %s\n' "$*"
	fails=$((fails + 1))
}
# expect DESCRIPTION COMMAND...: the command must succeed.
expect() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

R=$work/root     # the fake root
STUBS=$work/stubs
CALLS=$work/calls # one line per stub call: "name args..."

# new_root: a fresh fake root as the package would have unpacked it.
new_root() {
	rm -rf "$R" "$STUBS" "$CALLS"
	mkdir -p "$R/usr/bin" "$R/usr/sbin" "$R/usr/lib/sysboxd" "$R/etc/docker" "$R/var/run" \
		"$R/var/lib/sysbox/mgr" "$R/var/lib/sysboxfs" "$R/var/log/sysbox" "$R/run/sysbox" \
		"$R/etc/default" "$STUBS"
	: >"$CALLS"
	cp "$src/bin/sysbox-mgr" "$work/sysbox-mgr.real"
	# sysbox-mgr: the real one for docker-runtime, a recorder for the rest (check, status).
	cat >"$R/usr/bin/sysbox-mgr" <<-STUB
		#!/bin/sh
		if [ "\$1" = docker-runtime ]; then exec "$work/sysbox-mgr.real" "\$@"; fi
		echo "sysbox-mgr \$*" >>"$CALLS"
		if [ "\$1" = status ] && [ -n "\${FAKE_MGR_RUNNING:-}" ]; then
			echo "pool: uids 1048576-269484031 (268435456 ids, 4096 blocks of 65536); \$FAKE_MGR_RUNNING containers, \$FAKE_MGR_RUNNING running"
		fi
		exit \${FAKE_CHECK_RC:-0}
	STUB
	cp "$src/scripts/subid-setup.sh" "$src/scripts/lib.sh" "$R/usr/lib/sysboxd/"
	for s in preinst postinst prerm postrm; do cp "$src/packaging/deb/$s" "$work/$s"; done
	# Stubs that record their arguments.
	for cmd in deb-systemd-helper deb-systemd-invoke systemctl apparmor_parser; do
		printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$cmd" "$CALLS" >"$STUBS/$cmd"
	done
	printf '#!/bin/sh\necho "sysboxctl $*" >>"%s"\n' "$CALLS" >"$R/usr/sbin/sysboxctl"
	# docker: "info" answers, "ps" lists FAKE_DOCKER_PS ids, "inspect" says they are
	# sysbox-runc containers named box-<id>.
	cat >"$STUBS/docker" <<-'STUB'
		#!/bin/sh
		case "$1" in
		info) echo '{"runc":{"path":"runc"},"sysbox-runc":{"path":"/usr/bin/sysbox-runc"}}' ;;
		ps) for id in ${FAKE_DOCKER_PS:-}; do echo "$id"; done ;;
		inspect) shift 3; for id in "$@"; do echo "sysbox-runc /box-$id"; done ;;
		esac
	STUB
	chmod 0755 "$STUBS"/* "$R/usr/bin/sysbox-mgr" "$R/usr/sbin/sysboxctl"
	printf 'admin:100000:65536\n' >"$R/etc/subuid"
	printf 'admin:100000:65536\n' >"$R/etc/subgid"
}

# run SCRIPT ARGS...: runs a maintainer script in the fake root; output in $work/out.
run() {
	local s=$1
	shift
	env DPKG_ROOT="$R" PATH="$STUBS:$PATH" sh "$work/$s" "$@" >"$work/out" 2>&1
}

called() { grep -qx -- "$1" "$CALLS"; }
not_called() { ! grep -q -- "$1" "$CALLS"; }
json_path() { "$work/sysbox-mgr.real" docker-runtime add --config "$1" --path /probe >/dev/null 2>&1; }

# start_fake_dockerd: a process whose comm is "dockerd" (a copy of bash), with its pid file
# in the fake root; it notes each SIGHUP in $work/hup and exits on SIGTERM.
start_fake_dockerd() {
	stop_fake_dockerd
	[ -x "$work/dockerd" ] || cp "$(command -v bash)" "$work/dockerd"
	rm -f "$work/hup"
	"$work/dockerd" -c "trap 'echo hup >>$work/hup' HUP; trap 'exit 0' TERM
		for i in \$(seq 600); do sleep 0.1 & wait \$!; done" &
	fake_dockerd_pid=$!
	echo "$fake_dockerd_pid" >"$R/var/run/docker.pid"
}
stop_fake_dockerd() {
	if [ -n "$fake_dockerd_pid" ]; then
		kill "$fake_dockerd_pid" 2>/dev/null || true
		wait "$fake_dockerd_pid" 2>/dev/null || true
		fake_dockerd_pid=""
	fi
}
# got_sighup: the fake dockerd got exactly one SIGHUP and still runs (a reload, not a restart).
got_sighup() {
	for _ in $(seq 50); do
		[ -s "$work/hup" ] && break
		sleep 0.1
	done
	[ "$(cat "$work/hup" 2>/dev/null)" = hup ] && kill -0 "$fake_dockerd_pid"
}

echo "== preinst"
new_root
expect "preinst install succeeds on a clean host" run preinst install
mkdir -p "$R/usr/local/bin" && : >"$R/usr/local/bin/sysbox-mgr"
if run preinst install; then fail "preinst install refuses a make-install in /usr/local"; else
	expect "preinst install refuses a make-install in /usr/local, naming it" grep -q '/usr/local/bin/sysbox-mgr exists' "$work/out"
fi
expect "preinst upgrade does not look at /usr/local" run preinst upgrade 0.1

echo "== postinst configure (first install, no systemd)"
new_root
printf '{\n  "log-level": "warn",\n  "runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}\n}\n' >"$R/etc/docker/daemon.json"
chmod 0600 "$R/etc/docker/daemon.json"
start_fake_dockerd
expect "postinst configure succeeds" run postinst configure ""
expect "runtime registered with /usr/bin/sysbox-runc" grep -q '"path": "/usr/bin/sysbox-runc"' "$R/etc/docker/daemon.json"
expect "other keys and runtimes kept" grep -q '"nvidia-container-runtime"' "$R/etc/docker/daemon.json"
expect "  ... and log-level" grep -q '"log-level": "warn"' "$R/etc/docker/daemon.json"
expect "daemon.json keeps mode 0600" test "$(stat -c %a "$R/etc/docker/daemon.json")" = 600
expect "subid pool added to subuid" grep -qx 'sysbox:1048576:268435456' "$R/etc/subuid"
expect "subid pool added to subgid" grep -qx 'sysbox:1048576:268435456' "$R/etc/subgid"
expect "other subid entries kept" grep -qx 'admin:100000:65536' "$R/etc/subuid"
expect "daemons started with sysboxctl (no systemd)" called "sysboxctl start"
expect "dockerd got SIGHUP (reload, not restart)" got_sighup
expect "preflight check run" called "sysbox-mgr check"
expect "units enabled through deb-systemd-helper" called "deb-systemd-helper enable sysbox.service"
expect "no direct systemctl start" not_called "systemctl start"

echo "== postinst configure again (idempotent), then as an upgrade"
cp "$R/etc/subuid" "$work/subuid.1"
cp "$R/etc/docker/daemon.json" "$work/daemon.json.1"
: >"$CALLS"
expect "second configure succeeds" run postinst configure ""
expect "daemon.json unchanged" cmp -s "$R/etc/docker/daemon.json" "$work/daemon.json.1"
expect "subuid unchanged" cmp -s "$R/etc/subuid" "$work/subuid.1"
: >"$CALLS"
expect "upgrade configure succeeds" run postinst configure 0.1.0~git20260101.000000.abcdef0-1
expect "upgrade restarts the daemons (hand-over)" called "sysboxctl restart"
expect "  ... and does not stop them" not_called "sysboxctl stop"

echo "== postinst abort-remove (dpkg undoing a refused removal)"
new_root
expect "abort-remove succeeds" run postinst abort-remove
expect "  ... starts (not restarts) the daemons" called "sysboxctl start"
expect "  ... registers the runtime again" grep -q '"path": "/usr/bin/sysbox-runc"' "$R/etc/docker/daemon.json"
expect "  ... does not print the check again" not_called "sysbox-mgr check"

echo "== postinst with systemd as PID 1"
new_root
mkdir -p "$R/run/systemd/system"
expect "configure succeeds" run postinst configure ""
expect "starts sysbox.service through deb-systemd-invoke" called "deb-systemd-invoke start sysbox.service"
expect "sysboxctl not used" not_called "sysboxctl"
: >"$CALLS"
expect "upgrade configure succeeds" run postinst configure 0.1
expect "upgrade restarts sysbox-fs first" test "$(grep 'deb-systemd-invoke restart' "$CALLS" | head -n1)" = "deb-systemd-invoke restart sysbox-fs.service"
expect "  ... then sysbox-mgr" called "deb-systemd-invoke restart sysbox-mgr.service"

echo "== postinst with an invalid daemon.json"
new_root
printf '{"debug": true,,}\n' >"$R/etc/docker/daemon.json"
cp "$R/etc/docker/daemon.json" "$work/bad.json"
if run postinst configure ""; then fail "postinst refuses an invalid daemon.json"; else
	expect "postinst refuses an invalid daemon.json, naming the file and place" \
		grep -q "$R/etc/docker/daemon.json: line 1, column" "$work/out"
fi
expect "the invalid file is left as it was" cmp -s "$R/etc/docker/daemon.json" "$work/bad.json"
expect "nothing else done (no subid pool, no daemons)" not_called "sysboxctl"
expect "  ... subuid untouched" test "$(cat "$R/etc/subuid")" = "admin:100000:65536"

echo "== postinst: a failing preflight check is reported, not fatal"
new_root
export FAKE_CHECK_RC=1
expect "configure succeeds although check fails" run postinst configure ""
unset FAKE_CHECK_RC
expect "  ... and says so" grep -q "lacks a feature Sysboxd requires" "$work/out"

echo "== prerm"
new_root
"$work/sysbox-mgr.real" docker-runtime add --config "$R/etc/docker/daemon.json" --path /usr/bin/sysbox-runc >/dev/null
"$work/sysbox-mgr.real" docker-runtime add --config "$R/etc/docker/daemon.json" --name other --path /usr/bin/other >/dev/null
cp "$R/etc/docker/daemon.json" "$work/daemon.json.1"
export FAKE_DOCKER_PS="c1"
if run prerm remove; then fail "prerm remove refuses while a system container runs"; else
	expect "prerm remove refuses while a system container runs, naming it" grep -q 'box-c1' "$work/out"
fi
expect "  ... daemons not stopped" not_called "sysboxctl stop"
expect "  ... daemon.json untouched" cmp -s "$R/etc/docker/daemon.json" "$work/daemon.json.1"
expect "prerm upgrade does not refuse" run prerm upgrade 0.2
expect "  ... and stops nothing" not_called "sysboxctl stop"
export FAKE_DOCKER_PS=""
# sysbox-mgr's view: containers of another engine still run.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$R/run/sysbox/sysmgr.sock"
export FAKE_MGR_RUNNING=2
if run prerm remove; then fail "prerm remove refuses when sysbox-mgr counts running containers"; else
	expect "prerm remove refuses when sysbox-mgr counts running containers" grep -q '2 running according to sysbox-mgr' "$work/out"
fi
unset FAKE_MGR_RUNNING
export FAKE_DOCKER_PS="c1" SYSBOX_FORCE_REMOVE=1
expect "SYSBOX_FORCE_REMOVE=1 removes anyway" run prerm remove
unset SYSBOX_FORCE_REMOVE
expect "  ... with a warning naming the container" grep -q 'box-c1' "$work/out"
export FAKE_DOCKER_PS=""
new_root
"$work/sysbox-mgr.real" docker-runtime add --config "$R/etc/docker/daemon.json" --path /usr/bin/sysbox-runc >/dev/null
"$work/sysbox-mgr.real" docker-runtime add --config "$R/etc/docker/daemon.json" --name other --path /usr/bin/other >/dev/null
start_fake_dockerd
expect "prerm remove with no system container succeeds" run prerm remove
expect "  ... stops the daemons" called "sysboxctl stop"
expect "  ... unregisters sysbox-runc" bash -c "! grep -q sysbox-runc '$R/etc/docker/daemon.json'"
expect "  ... keeps the other runtime" grep -q '/usr/bin/other' "$R/etc/docker/daemon.json"
expect "  ... and has dockerd reload (SIGHUP)" got_sighup

echo "== postrm"
new_root
printf 'admin:100000:65536\nsysbox:1048576:268435456\n' >"$R/etc/subuid"
printf 'admin:100000:65536\nsysbox:1048576:268435456\n' >"$R/etc/subgid"
: >"$R/var/lib/sysbox/mgr/state.json"
: >"$R/etc/default/sysbox"
expect "postrm remove succeeds" run postrm remove
expect "  ... keeps /var/lib/sysbox" test -e "$R/var/lib/sysbox/mgr/state.json"
expect "  ... masks the units" called "deb-systemd-helper mask sysbox.service"
expect "postrm purge succeeds" run postrm purge
for d in /var/lib/sysbox /var/lib/sysboxfs /var/log/sysbox /run/sysbox /etc/default/sysbox; do
	expect "  ... removed $d" test ! -e "$R$d"
done
expect "  ... removed the sysbox subuid entry, kept the others" test "$(cat "$R/etc/subuid")" = "admin:100000:65536"
expect "  ... same for subgid" test "$(cat "$R/etc/subgid")" = "admin:100000:65536"
expect "  ... purged the unit state" called "deb-systemd-helper purge sysbox.service"
expect "postrm purge again (nothing left) succeeds" run postrm purge

echo
if [ "$fails" -ne 0 ]; then
	echo "$fails maintainer-script test(s) failed"
	exit 1
fi
echo "all maintainer-script tests passed"
