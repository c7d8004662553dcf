#!/usr/bin/env bash
# Runs inside the tests/vm guest (tests/vm/run.sh calls it over ssh, one step at a time).
# The host's share (the .debs, the e2e test binary, the test images) is mounted at $SHARE.
# Every check prints one line "CHECK PASS <name>" or "CHECK FAIL <name>: <why>", which
# run.sh counts; a step exits non-zero when one of its checks failed.
#
#   guest.sh host              kernel, cgroup v2, AppArmor, product_uuid, Docker's defaults
#   guest.sh images            docker import of the test images in $SHARE/images
#   guest.sh install DEB       apt install ./DEB, the units active, the runtime registered
#   guest.sh unit              the kernel-facing unit test binaries (run.sh's UNIT_PKGS)
#   guest.sh e2e RE [LATE]     the e2e test binary, go test -v output (LATE: uptime tests)
#   guest.sh cgroupfs RE       the tests matching RE with dockerd on the cgroupfs driver
#   guest.sh upgrade DEB       a newer .deb under a running system container
#   guest.sh denied            apparmor="DENIED" lines in the kernel log
#   guest.sh remove-purge      apt remove keeps /var/lib/sysbox, apt purge leaves nothing
set -uo pipefail

SHARE=${SHARE:-/mnt/share}
export DEBIAN_FRONTEND=noninteractive
failed=0

pass() { echo "CHECK PASS $1"; }
fail() {
	echo "CHECK FAIL $1: $2"
	failed=1
}
# check NAME CMD...: a check that passes when CMD succeeds.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		echo "$out" | tail -n 20 | sed 's/^/    | /'
		fail "$name" "$(echo "$out" | tail -n 1)"
	fi
}
say() { printf '    %-28s %s\n' "$1" "$2"; }

# wait_until SECONDS CMD...: polls CMD every 2 s.
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || return 1
		sleep 2
	done
}

step_host() {
	local fstype aa aap uuid
	say kernel "$(uname -r)"
	fstype=$(stat -fc %T /sys/fs/cgroup)
	say "/sys/fs/cgroup" "$fstype"
	if [ "$fstype" = cgroup2fs ]; then pass "cgroup v2 unified"; else fail "cgroup v2 unified" "/sys/fs/cgroup is $fstype"; fi
	aa=$(aa-enabled 2>&1)
	aap=$(cat /sys/module/apparmor/parameters/enabled 2>&1)
	say "aa-enabled" "$aa"
	say "apparmor enabled param" "$aap"
	if [ "$aa" = Yes ] && [ "$aap" = Y ]; then pass "apparmor enabled"; else fail "apparmor enabled" "aa-enabled '$aa', parameter '$aap'"; fi
	uuid=$(cat /sys/class/dmi/id/product_uuid 2>&1)
	say "product_uuid" "$uuid"
	say "systemd" "$(systemctl is-system-running 2>&1)"
	if ! wait_until 240 docker info; then
		fail "docker running" "docker info does not answer after 240 s: $(systemctl is-active docker) $(journalctl -u docker -n 5 --no-pager 2>&1 | tr '\n' ' ')"
		return
	fi
	pass "docker running"
	local drv ver sd
	drv=$(docker info --format '{{.CgroupDriver}}')
	ver=$(docker info --format '{{.CgroupVersion}}')
	sd=$(docker info --format '{{.Driver}}')
	say "docker" "$(docker version --format '{{.Server.Version}}')"
	say "docker cgroup driver" "$drv"
	say "docker cgroup version" "$ver"
	say "docker storage driver" "$sd"
	say "docker security options" "$(docker info --format '{{join .SecurityOptions " "}}')"
	if [ "$drv/$ver/$sd" = systemd/2/overlay2 ]; then
		pass "docker defaults (systemd, v2, overlay2)"
	else
		fail "docker defaults (systemd, v2, overlay2)" "got $drv, $ver, $sd"
	fi
}

# step_images imports each image of $SHARE/images unless Docker has it from the same recipe
# (its org.sysboxd.recipe label; the images may be in the disk already).
step_images() {
	local tar name changes line want have
	for tar in "$SHARE"/images/*.tar; do
		name=$(basename "$tar" .tar)
		changes=()
		want=""
		while IFS= read -r line; do
			[ -n "$line" ] && changes+=(--change "$line")
			case "$line" in "LABEL org.sysboxd.recipe="*) want=${line#*=} ;; esac
		done <"$SHARE/images/$name.changes"
		have=$(docker image inspect -f '{{ index .Config.Labels "org.sysboxd.recipe" }}' "sysbox-test/$name" 2>/dev/null)
		if [ -n "$want" ] && [ "$have" = "$want" ]; then
			pass "image sysbox-test/$name (recipe $want)"
			continue
		fi
		check "import sysbox-test/$name" docker import "${changes[@]}" "$tar" "sysbox-test/$name:latest"
	done
	docker image ls --format '    {{.Repository}}:{{.Tag}} {{.Size}}' | grep sysbox-test
}

# installed_checks: what an installed Sysboxd must look like.
installed_checks() {
	local u
	for u in sysbox sysbox-mgr sysbox-fs; do
		check "systemctl is-active $u" systemctl is-active "$u"
	done
	if wait_until 30 sh -c "docker info --format '{{json .Runtimes}}' | jq -e 'has(\"sysbox-runc\")'"; then
		pass "docker lists runtime sysbox-runc"
	else
		fail "docker lists runtime sysbox-runc" "$(docker info --format '{{json .Runtimes}}' 2>&1)"
	fi
	say "sysbox-runc" "$(command -v sysbox-runc) $(sysbox-runc --version 2>&1 | head -n1)"
	say "sysboxctl" "$(command -v sysboxctl)"
}

step_install() {
	local deb=$1
	cp "$deb" /root/
	check "apt install ./$(basename "$deb")" sh -c "cd /root && apt-get install -y -q ./$(basename "$deb")"
	installed_checks
}

# step_e2e RE [LATE]: the e2e tests matching RE, then those matching LATE once the guest is
# up 310 s (tests that tell a container's uptime from the host's skip on a fresher host).
step_e2e() {
	local re=$1 late=${2:-} rc=0 up
	install -m 0755 "$SHARE/e2e.test" /root/e2e.test
	cd /root || return 1
	run_tests "$re" || rc=1
	if [ -n "$late" ]; then
		up=$(cut -d. -f1 /proc/uptime)
		if [ "$up" -lt 310 ]; then
			echo "    waiting $((310 - up)) s: the guest must be up 310 s for the uptime tests"
			sleep $((310 - up))
		fi
		run_tests "$late" || rc=1
	fi
	return $rc
}

# step_unit: the kernel-facing unit test binaries the host built (run.sh's UNIT_PKGS), as
# root, each from a directory of its own.
step_unit() {
	local t dir rc=0
	for t in "$SHARE"/unit/*.test; do
		dir=/root/unit/$(basename "$t" .test)
		mkdir -p "$dir"
		echo "    $(basename "$t")"
		(cd "$dir" && "$t" -test.v -test.count=1 -test.timeout 5m 2>&1) || rc=1
	done
	return $rc
}

# step_cgroupfs RE: Docker's other cgroup driver. dockerd is switched to cgroupfs
# (exec-opts native.cgroupdriver=cgroupfs, merged into daemon.json), the tests matching RE
# run, and daemon.json and the systemd driver are put back. Run it when no container runs.
step_cgroupfs() {
	local re=$1 rc=0 cfg=/etc/docker/daemon.json saved=/root/daemon.json.saved
	cp "$cfg" "$saved" || return 1
	if ! jq '. + {"exec-opts": ["native.cgroupdriver=cgroupfs"]}' "$saved" >"$cfg" ||
		! systemctl restart docker || ! wait_until 240 docker info; then
		fail "dockerd with the cgroupfs driver" "$(journalctl -u docker -n 5 --no-pager 2>&1 | tr '\n' ' ')"
		rc=1
	else
		check "docker cgroup driver cgroupfs" test "$(docker info --format '{{.CgroupDriver}}')" = cgroupfs
		run_tests "$re" || rc=1
	fi
	cp "$saved" "$cfg"
	systemctl restart docker
	wait_until 240 docker info
	check "docker cgroup driver systemd again" test "$(docker info --format '{{.CgroupDriver}}')" = systemd
	return $rc
}

run_tests() {
	local rc
	echo "    go test -v -run '$1' (SYSBOX_E2E_SLOW=${SYSBOX_E2E_SLOW:-4})"
	SYSBOX_E2E_SLOW=${SYSBOX_E2E_SLOW:-4} /root/e2e.test -test.v -test.count=1 -test.timeout "${E2E_TIMEOUT:-30m}" \
		-test.run "$1" 2>&1
	rc=$?
	echo "e2e exit $rc"
	return $rc
}

step_upgrade() {
	local deb=$1 name=vm-upgrade before after pid0 pid1 ver0 ver1 mem
	docker rm -f "$name" >/dev/null 2>&1
	if ! docker run -d --name "$name" --runtime=sysbox-runc --memory 256m sysbox-test/busybox sleep 3600 >/dev/null; then
		fail "upgrade: start a system container" "docker run failed"
		return
	fi
	pid0=$(docker inspect -f '{{.State.Pid}}' "$name")
	ver0=$(dpkg-query -W -f '${Version}' sysboxd)
	before=$(docker exec "$name" cat /proc/uptime)
	cp "$deb" /root/
	check "upgrade: apt install ./$(basename "$deb")" sh -c "cd /root && apt-get install -y -q ./$(basename "$deb")"
	ver1=$(dpkg-query -W -f '${Version}' sysboxd)
	say "version" "$ver0 -> $ver1"
	if [ "$ver0" != "$ver1" ]; then pass "upgrade: new version installed"; else fail "upgrade: new version installed" "still $ver0"; fi
	installed_checks
	pid1=$(docker inspect -f '{{.State.Running}} {{.State.Pid}}' "$name")
	if [ "$pid1" = "true $pid0" ]; then pass "upgrade: container kept running"; else fail "upgrade: container kept running" "state '$pid1', was pid $pid0"; fi
	after=$(docker exec "$name" cat /proc/uptime 2>&1)
	mem=$(docker exec "$name" grep MemTotal /proc/meminfo 2>&1)
	say "uptime before/after" "$before / $after"
	say "meminfo after" "$mem"
	if echo "$mem" | grep -q ' 262144 kB' && [ "${after%%.*}" -ge "${before%%.*}" ] 2>/dev/null; then
		pass "upgrade: container's virtual /proc still served"
	else
		fail "upgrade: container's virtual /proc still served" "uptime '$after', meminfo '$mem'"
	fi
	check "upgrade: a new system container starts" docker run --rm --runtime=sysbox-runc sysbox-test/busybox true
	docker rm -f "$name" >/dev/null 2>&1
}

# step_denied prints every apparmor="DENIED" line of the kernel log and fails on any but the
# one docs/design.md (AppArmor) explains: Debian 12's kernel logs a flock on a unix socket by
# any confined process (systemd inside starting e2scrub_all does it), and no profile rule can
# grant it.
step_denied() {
	local all known other
	all=$(journalctl -k --no-pager -o cat 2>/dev/null | grep 'apparmor="DENIED"')
	known=$(echo "$all" | grep 'operation="file_lock"' | grep 'family="unix"')
	other=$(echo "$all" | grep -v 'operation="file_lock".*family="unix"' | grep .)
	if [ -n "$known" ]; then
		echo "    known (flock on a unix socket, see docs/design.md, AppArmor):"
		echo "$known" | sed 's/^/    /'
	fi
	if [ -z "$other" ]; then
		pass "no apparmor DENIED in the kernel log (but the known file_lock ones: $(echo "$known" | grep -c .))"
	else
		echo "$other" | sed 's/^/    /'
		fail "no apparmor DENIED in the kernel log" "$(echo "$other" | wc -l) lines (above)"
	fi
}

# leftovers prints what an uninstalled Sysboxd must not leave behind (nothing when clean).
leftovers() {
	local p
	for p in /var/lib/sysbox /var/lib/sysboxfs /run/sysbox /usr/bin/sysbox-runc /usr/bin/sysbox-mgr \
		/usr/bin/sysbox-fs /usr/sbin/sysboxctl; do
		[ -e "$p" ] && echo "$p exists"
	done
	systemctl list-unit-files --no-legend 'sysbox*' 2>/dev/null | sed 's/^/unit /'
	find /etc/systemd/system /lib/systemd/system -iname '*sysbox*' 2>/dev/null | sed 's/^/unit file /'
	jq -e '.runtimes["sysbox-runc"]' /etc/docker/daemon.json >/dev/null 2>&1 && echo "sysbox-runc still in /etc/docker/daemon.json"
	grep -E 'sysbox' /proc/self/mountinfo | awk '{print "mount " $5}'
	pgrep -a -f 'sysbox-(mgr|fs)' | sed 's/^/process /'
	dpkg-query -W -f '${Status}\n' sysboxd 2>/dev/null | grep -v 'not-installed' | sed 's/^/package /'
}

step_remove_purge() {
	local left
	check "apt remove sysboxd" apt-get remove -y -q sysboxd
	if [ -d /var/lib/sysbox ]; then pass "remove keeps /var/lib/sysbox"; else fail "remove keeps /var/lib/sysbox" "it is gone"; fi
	if ! systemctl is-active -q sysbox-mgr sysbox-fs; then pass "remove stops the daemons"; else fail "remove stops the daemons" "still active"; fi
	check "apt purge sysboxd" apt-get purge -y -q sysboxd
	left=$(leftovers)
	if [ -z "$left" ]; then
		pass "purge leaves nothing"
	else
		echo "$left" | sed 's/^/    /'
		fail "purge leaves nothing" "$(echo "$left" | wc -l) leftovers (above)"
	fi
	check "docker still runs runc containers" docker run --rm sysbox-test/busybox true
}

step=${1:-}
shift || true
case "$step" in
host) step_host ;;
images) step_images ;;
install) step_install "$1" ;;
e2e) step_e2e "$1" "${2:-}" || failed=1 ;;
unit) step_unit || failed=1 ;;
cgroupfs) step_cgroupfs "$1" || failed=1 ;;
upgrade) step_upgrade "$1" ;;
denied) step_denied ;;
remove-purge) step_remove_purge ;;
*)
	echo "usage: ${0##*/} host|images|install DEB|unit|e2e RE [LATE]|cgroupfs RE|upgrade DEB|denied|remove-purge" >&2
	exit 2
	;;
esac
exit $failed
