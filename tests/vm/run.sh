#!/usr/bin/env bash
# The stock-host test bed: boots a Debian 12 guest (systemd, cgroup v2, AppArmor, docker.io
# with its defaults, kernel 6.1) under qemu and, inside it, installs the sysboxd .deb, runs
# an end-to-end subset, upgrades the package under a running system container, checks the
# kernel log for AppArmor denials and removes and purges the package. See tests/vm/README.md.
#
# Usage: run.sh [--keep] [--boot-only] [--run REGEXP] [--accel auto|kvm|tcg]
#        run.sh --stop          power off a guest left running by --keep
#
#   --keep        leave the guest running afterwards; tests/vm/ssh.sh runs commands in it
#   --boot-only   boot, host checks, images and the package install only (with --keep: a
#                 guest to poke at)
#   --run RE      the e2e tests to run (default: $VM_E2E_RUN, else the subset below)
#   --accel       auto (default): KVM if it boots within $VM_KVM_PROBE s, else TCG
#
# Environment: VM_TIMEOUT (whole run, seconds, default 2100), VM_MEM (MiB, 4096), VM_CPUS (2),
# SYSBOX_E2E_SLOW (timeout factor for the tests, default 4), SYSBOX_VM_CACHE.
# Exits non-zero when anything failed; the last line is "tests: N passed, N failed, N skipped"
# (the e2e tests' verdicts plus the bed's own checks).
set -uo pipefail
# The whole script is one compound command: bash parses it before running any of it, so a
# checkout that changes this file under a running guest (a merge, a pull) cannot break the run.
{
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../../scripts/lib.sh"
root=$(repo_root)
cd "$root" || exit 1

# The subset: what a stock host must show, lean enough for TCG (each docker run 10-30 s).
DEFAULT_RUN='^(TestSystemContainerHasExclusiveRangeAndOwnUptime|TestTwoRunningContainersGetDisjointRanges|TestRootfsIsIDMappedNotChowned|TestBindMountsAndVolumesAreIDMapped|TestCgroupV2.*|TestProcShowsTheContainersMemoryAndCPUs|TestExecProcessGetsTheContainersSysinfo|TestSysfsMountedInsideShowsTheContainersCPUs|TestVirtualFilesAndRootProcCannotBeUnmounted|TestDockerInDockerRunsInnerContainers|TestSystemdBootsAsInitWithNoFailedUnits|TestSysboxFsRestartKeepsRunningContainersVirtualFiles|TestMgrRestartKeepsRunningLeaseAndIssuesNewRange|TestSysFilesPerContainer|TestSystemContainersRunUnderTheSysboxContainerProfile|TestAppArmorDeniesWhatNoSystemContainerNeeds)$'
# Run after the others, once the guest is up 310 s: they skip on a fresher host, whose own
# uptime could not be told from a container's.
LATE_RUN='^(TestUptimeIsTheContainersUptime|TestProcMountedInsideShowsTheContainersMeminfoAndUptime)$'
# Run again with dockerd on its cgroupfs driver (the subset runs on the systemd driver,
# Docker's default on such hosts).
CGROUPFS_RUN='^(TestCgroupV2.*|TestDockerInDockerRunsInnerContainers)$'

STATE_DIR=${VM_STATE_DIR:-/run/sysbox-vm}
WORK=$root/.tmp/vm
SHARE=$WORK/share
TIMEOUT=${VM_TIMEOUT:-2100}
MEM=${VM_MEM:-4096}
CPUS=${VM_CPUS:-2}
BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-420}
KVM_PROBE=${VM_KVM_PROBE:-20}
export SYSBOX_E2E_SLOW=${SYSBOX_E2E_SLOW:-4}

keep=false boot_only=false accel=auto e2e_run=${VM_E2E_RUN:-$DEFAULT_RUN} late_run=$LATE_RUN
[ -n "${VM_E2E_RUN:-}" ] && late_run=""
usage() {
	sed -n '7,14p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# --- the guest's ssh and power ------------------------------------------------------------

# State of a running guest, for ssh.sh and --stop: PID, PORT, KEY, ACCEL.
load_state() {
	[ -f "$STATE_DIR/state" ] || return 1
	# shellcheck disable=SC1091
	. "$STATE_DIR/state"
}

# gssh CMD: runs CMD in the guest as root (KEY and PORT from the state).
gssh() {
	ssh -i "$KEY" -p "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o LogLevel=ERROR -o ConnectTimeout=10 -o ServerAliveInterval=15 -o ServerAliveCountMax=8 \
		-o BatchMode=yes root@127.0.0.1 "$@"
}

qemu_alive() { [ -n "${PID:-}" ] && kill -0 "$PID" 2>/dev/null; }

stop_guest() {
	qemu_alive || return 0
	gssh systemctl poweroff >/dev/null 2>&1 || true
	local end=$((SECONDS + 60))
	while qemu_alive && [ $SECONDS -lt $end ]; do sleep 1; done
	if qemu_alive; then
		log "the guest did not power off in 60 s: killing qemu (pid $PID)"
		kill "$PID" 2>/dev/null
		sleep 2
		kill -9 "$PID" 2>/dev/null
	fi
	rm -f "$STATE_DIR/state"
}

if [ "${1:-}" = --stop ]; then
	require_root
	load_state || die "no guest is running (no $STATE_DIR/state)"
	stop_guest
	echo "guest stopped"
	exit 0
fi

while [ $# -gt 0 ]; do
	case "$1" in
	--keep) keep=true ;;
	--boot-only) boot_only=true ;;
	--run)
		e2e_run=${2:?--run needs a regexp}
		late_run=""
		shift
		;;
	--accel)
		accel=${2:?--accel needs auto, kvm or tcg}
		shift
		;;
	-h | --help) usage ;;
	*) usage ;;
	esac
	shift
done
case "$accel" in auto | kvm | tcg) ;; *) usage ;; esac
require_root

# --- bookkeeping --------------------------------------------------------------------------

t0=$SECONDS
results=() # "step|status|seconds|detail"
passed=0 failed=0 skipped=0 any_fail=0
timings=()
phase() { printf '\n==== vm: %s ====\n' "$*"; }
record() {
	results+=("$1|$2|$3|$4")
	[ "$2" = FAIL ] && any_fail=1
	return 0
}
# count LOG adds the CHECK lines and go test verdicts in LOG to the totals.
count() {
	local p f s
	p=$(grep -cE '^CHECK PASS |^[[:space:]]*--- PASS' "$1")
	f=$(grep -cE '^CHECK FAIL |^[[:space:]]*--- FAIL' "$1")
	s=$(grep -cE '^[[:space:]]*--- SKIP' "$1")
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	step_counts="$p passed, $f failed, $s skipped"
}
# guest_step NAME SECONDS ARGS...: runs tests/vm/guest.sh ARGS in the guest, streams and logs
# its output, counts its checks, records the step.
guest_step() {
	local name=$1 limit=$2 start=$SECONDS rc logf
	shift 2
	logf="$WORK/log/$name.log"
	phase "$name"
	# shellcheck disable=SC2029 # the command is meant to expand here
	timeout --kill-after=10 "$limit" ssh -i "$KEY" -p "$PORT" -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10 \
		-o ServerAliveInterval=15 -o ServerAliveCountMax=8 -o BatchMode=yes root@127.0.0.1 \
		"SHARE=/mnt/share SYSBOX_E2E_SLOW=$SYSBOX_E2E_SLOW bash /mnt/share/guest.sh $(printf '%q ' "$@")" \
		2>&1 | tee "$logf"
	rc=${PIPESTATUS[0]}
	count "$logf"
	local secs=$((SECONDS - start))
	timings+=("$name ${secs}s")
	if [ "$rc" -eq 0 ]; then
		record "$name" PASS "$secs" "$step_counts"
	elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		record "$name" FAIL "$secs" "timed out after ${limit}s"
		failed=$((failed + 1))
	else
		# What failed, by name: top-level tests and checks.
		local what
		what=$(sed -nE 's/^--- FAIL: ([^ ]+).*/\1/p; s/^CHECK FAIL ([^:]+):.*/\1/p' "$logf" | paste -sd, | sed 's/,/, /g')
		record "$name" FAIL "$secs" "$step_counts, exit $rc${what:+; failed: $what}"
		# a step that died without a CHECK FAIL line still counts as one failure
		grep -qE '^CHECK FAIL |^[[:space:]]*--- FAIL' "$logf" || failed=$((failed + 1))
	fi
	return "$rc"
}

cleanup() {
	[ -n "${watchdog:-}" ] && kill "$watchdog" 2>/dev/null
	if ! $keep; then stop_guest; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- host packages ------------------------------------------------------------------------

need=()
for c in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils ssh:openssh-client \
	debootstrap:debootstrap mkfs.ext4:e2fsprogs dpkg-shlibdeps:dpkg-dev help2man:help2man; do
	command -v "${c%%:*}" >/dev/null || need+=("${c#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	phase "host packages: ${need[*]}"
	apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; } ||
		die "could not install ${need[*]}"
fi

# --- build what is missing ----------------------------------------------------------------

mkdir -p "$WORK/log" "$STATE_DIR"
if load_state && qemu_alive; then
	die "a guest is already running (qemu pid $PID, ssh port $PORT): tests/vm/run.sh --stop first"
fi
rm -rf "$SHARE"
mkdir -p "$SHARE/images"

phase "build: packages, e2e test binary, test images, guest disk"
start=$SECONDS
build_ok=true
debs=()
rm -f bin/sysboxd_*.deb
# The package version comes from git (make deb), not from a VERSION that an outer `make test`
# exported (git describe's stamp, e.g. a bare commit id, is no Debian version).
if nice -n 10 env -u VERSION -u COMMIT make --no-print-directory deb >"$WORK/log/deb.log" 2>&1; then
	deb1=$(ls -t bin/sysboxd_*_amd64.deb | head -n1)
	v1=$(dpkg-deb -f "$deb1" Version)
	mv "$deb1" "$SHARE/"
	# The upgrade target: the same tree, a higher version.
	if nice -n 10 make --no-print-directory deb VERSION="${v1%-*}+vmupgrade-1" >>"$WORK/log/deb.log" 2>&1; then
		deb2=$(ls -t bin/sysboxd_*_amd64.deb | head -n1)
		mv "$deb2" "$SHARE/"
		debs=("$SHARE/$(basename "$deb1")" "$SHARE/$(basename "$deb2")")
	else
		build_ok=false
	fi
else
	build_ok=false
fi
$build_ok || { log_tail "$WORK/log/deb.log" 30; record build FAIL 0 "make deb failed"; }
if $build_ok; then
	if ! nice -n 10 go test -c -tags 'e2e seccomp' -o "$SHARE/e2e.test" ./tests/e2e >"$WORK/log/e2e-build.log" 2>&1; then
		log_tail "$WORK/log/e2e-build.log" 30
		record build FAIL 0 "go test -c ./tests/e2e failed"
		build_ok=false
	fi
fi
# Unit tests that act on the kernel (mounts, ID-mapping, namespaces, seccomp, cgroups), run
# as root in the guest too: there they meet kernel 6.1, cgroup v2 and AppArmor for real.
UNIT_PKGS=(internal/idmap internal/mountns internal/mountstage sysbox-runc/internal/rootfs
	sysbox-runc/internal/lifecycle sysbox-fs/seccomp sysbox-mgr/preflight)
if $build_ok; then
	rm -rf "$SHARE/unit" && mkdir -p "$SHARE/unit"
	for pkg in "${UNIT_PKGS[@]}"; do
		if ! nice -n 10 go test -c -tags seccomp -o "$SHARE/unit/${pkg//\//_}.test" "./$pkg" >>"$WORK/log/e2e-build.log" 2>&1; then
			log_tail "$WORK/log/e2e-build.log" 30
			record build FAIL 0 "go test -c ./$pkg failed"
			build_ok=false
			break
		fi
	done
fi
images=(busybox debian-docker debian-systemd)
if $build_ok && ! nice -n 10 tests/images/build.sh --export "$SHARE/images" "${images[@]}"; then
	record build FAIL 0 "tests/images/build.sh --export failed"
	build_ok=false
fi
if $build_ok && ! img=$(nice -n 10 "$here/build-image.sh" --deb "${debs[0]}"); then
	record build FAIL 0 "tests/vm/build-image.sh failed"
	build_ok=false
fi
cp "$here/guest.sh" "$SHARE/"
if $build_ok; then
	record build PASS $((SECONDS - start)) "${debs[*]##*/}"
	timings+=("build $((SECONDS - start))s")
fi

# --- boot ---------------------------------------------------------------------------------

free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 30000))
		ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || {
			echo "$p"
			return
		}
	done
	return 1
}

# start_qemu ACCEL DRIVE: starts the guest on the qcow2 DRIVE (written to); sets PID.
start_qemu() {
	local acc=$1 drive=$2 cpu=max
	[ "$acc" = kvm ] && cpu=host
	rm -f "$WORK/console.log"
	nice -n 10 qemu-system-x86_64 -name sysbox-vm -machine q35 -accel "$acc" -cpu "$cpu" \
		-m "$MEM" -smp "$CPUS" -uuid "$(cat /proc/sys/kernel/random/uuid)" \
		-kernel "$img/vmlinuz" -initrd "$img/initrd" \
		-append "root=/dev/vda rw console=ttyS0 panic=-1" \
		-drive "file=$drive,if=virtio,format=qcow2,cache=unsafe" \
		-nic "user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:$PORT-:22" \
		-virtfs "local,path=$SHARE,mount_tag=share,security_model=none,readonly=on" \
		-display none -monitor none -serial "file:$WORK/console.log" -no-reboot \
		>"$WORK/log/qemu.log" 2>&1 &
	PID=$!
	printf 'PID=%s\nPORT=%s\nKEY=%s\nACCEL=%s\nWORK=%s\n' "$PID" "$PORT" "$KEY" "$acc" "$WORK" >"$STATE_DIR/state"
}

# overlay BACKING FILE: a fresh qcow2 FILE whose backing file is BACKING.
overlay() {
	rm -f "$2"
	qemu-img create -q -f qcow2 -b "$1" -F qcow2 "$2"
}

# kill_qemu: ends qemu at once (the overlay is thrown away).
kill_qemu() {
	kill "$PID" 2>/dev/null
	sleep 1
	kill -9 "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	rm -f "$STATE_DIR/state"
}

# kvm_boots: starts qemu with KVM and waits up to $KVM_PROBE s for the kernel's first words.
kvm_boots() {
	[ -w /dev/kvm ] || return 1
	overlay "$img/disk.qcow2" "$WORK/overlay.qcow2" || return 1
	start_qemu kvm "$WORK/overlay.qcow2" 2>/dev/null
	local end=$((SECONDS + KVM_PROBE))
	while [ $SECONDS -lt $end ]; do
		qemu_alive || break
		if grep -q 'Linux version' "$WORK/console.log" 2>/dev/null; then
			kill_qemu
			return 0
		fi
		sleep 1
	done
	if qemu_alive; then
		log "KVM: no kernel output in ${KVM_PROBE}s: using TCG"
	else
		log "KVM: qemu exited ($(tail -c 200 "$WORK/log/qemu.log" | tr '\n' ' ')): using TCG"
	fi
	kill_qemu
	return 1
}

# boot DRIVE: boots the guest on DRIVE, waits for ssh, mounts the share; sets boot_s.
boot() {
	local start=$SECONDS end=$((SECONDS + BOOT_TIMEOUT)) up=false
	start_qemu "$ACCEL" "$1"
	while [ $SECONDS -lt $end ] && qemu_alive; do
		if gssh true >/dev/null 2>&1; then
			up=true
			break
		fi
		sleep 3
	done
	boot_s=$((SECONDS - start))
	if $up && gssh 'mkdir -p /mnt/share && mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro share /mnt/share' 2>"$WORK/log/mount.log"; then
		return 0
	fi
	$up && log "mounting the share failed: $(cat "$WORK/log/mount.log")"
	echo "--- console (last 30 lines) ---"
	tail -n 30 "$WORK/console.log" 2>/dev/null
	return 1
}

# images_layer: sets LAYER to a qcow2 layer over the cached disk that has the test images imported
# into the guest's Docker (importing them under TCG takes minutes), cached beside the disk,
# keyed by the images' recipes; built by one boot when missing.
images_layer() {
	local key layer start=$SECONDS f
	key=$(for f in "$SHARE"/images/*.changes; do
		echo "${f##*/}"
		cat "$f"
	done | sha256sum | cut -c1-16)
	layer="$img/images-$key.qcow2"
	LAYER=$layer
	[ -f "$layer" ] && return 0
	# Runs beside each other (VM_STATE_DIR) share the cache: one builds the layer, the others
	# wait for it.
	exec 8>"$img/.images.lock"
	flock 8
	if [ -f "$layer" ]; then
		exec 8>&-
		return 0
	fi
	phase "test images into the guest disk (once per image recipe)"
	find "$img" -maxdepth 1 -name 'images-*.qcow2*' -delete
	overlay "$img/disk.qcow2" "$layer.tmp" && boot "$layer.tmp" && guest_step images 1200 images || {
		kill_qemu
		exec 8>&-
		return 1
	}
	# No machine-id of this boot on the disk: each run's guest makes its own.
	gssh ': >/etc/machine-id; sync; systemctl poweroff' >/dev/null 2>&1
	local end=$((SECONDS + 120))
	while qemu_alive && [ $SECONDS -lt $end ]; do sleep 1; done
	if qemu_alive; then
		kill_qemu
		exec 8>&-
		return 1
	fi
	rm -f "$STATE_DIR/state"
	chmod 0444 "$layer.tmp"
	mv "$layer.tmp" "$layer"
	exec 8>&-
	timings+=("images-layer $((SECONDS - start))s")
}

booted=false
if $build_ok; then
	KEY=$img/id_ed25519
	PORT=$(free_port) || die "no free port for ssh"
	ACCEL=tcg
	case "$accel" in
	kvm) ACCEL=kvm ;;
	auto) if kvm_boots; then ACCEL=kvm; fi ;;
	esac
	# The overall timeout: a hung guest must not hang CI.
	rm -f "$WORK/timed-out"
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		sleep "$TIMEOUT" &
		s=$!
		wait "$s"
		echo "tests/vm/run.sh: overall timeout (${TIMEOUT}s): killing qemu" >&2
		touch "$WORK/timed-out"
		# shellcheck disable=SC1091
		. "$STATE_DIR/state" 2>/dev/null && kill "$PID" 2>/dev/null
		sleep 5
		kill -9 "$PID" 2>/dev/null
	) &
	watchdog=$!
	if images_layer; then
		phase "boot (accelerator $ACCEL)"
		overlay "$LAYER" "$WORK/overlay.qcow2" && boot "$WORK/overlay.qcow2" && booted=true
	fi
	if $booted; then
		record boot PASS "$boot_s" "accelerator $ACCEL, ssh on 127.0.0.1:$PORT"
		passed=$((passed + 1))
		timings+=("boot ${boot_s}s ($ACCEL)")
	else
		record boot FAIL "${boot_s:-0}" "no guest (accelerator $ACCEL; console in $WORK/console.log)"
		failed=$((failed + 1))
	fi
fi

# --- in the guest -------------------------------------------------------------------------

if $booted; then
	guest_step host 400 host
	guest_step images 600 images
	installed=false
	guest_step install 300 install "/mnt/share/$(basename "${debs[0]}")" && installed=true
	if ! $boot_only; then
		guest_step unit 600 unit
		if $installed; then
			guest_step e2e 1500 e2e "$e2e_run" "$late_run"
			[ -n "$late_run" ] && guest_step cgroupfs 600 cgroupfs "$CGROUPFS_RUN"
		else
			record e2e FAIL 0 "not run: the install failed"
			failed=$((failed + 1))
		fi
		if $installed; then
			guest_step upgrade 400 upgrade "/mnt/share/$(basename "${debs[1]}")"
		fi
		guest_step denied 60 denied
		if $installed; then
			guest_step remove-purge 300 remove-purge
		fi
	fi
fi
if [ -f "$WORK/timed-out" ]; then
	record timeout FAIL "$TIMEOUT" "the whole run hit VM_TIMEOUT=${TIMEOUT}s: qemu was killed"
	failed=$((failed + 1))
fi

if $keep && $booted && qemu_alive; then
	kill "$watchdog" 2>/dev/null
	watchdog=""
	phase "the guest keeps running"
	echo "  ssh:   tests/vm/ssh.sh [CMD...]     (root@127.0.0.1 port $PORT, key $KEY)"
	echo "  stop:  tests/vm/run.sh --stop"
fi
cleanup
trap - EXIT

# --- summary ------------------------------------------------------------------------------

phase "summary ($((SECONDS - t0))s, logs in $WORK/log)"
for r in "${results[@]}"; do
	IFS='|' read -r name status secs detail <<<"$r"
	printf '  %-13s %-5s %5ss  %s\n' "$name" "$status" "$secs" "$detail"
done
echo "vm: accelerator ${ACCEL:-none}, kernel $(cat "${img:-/nonexistent}/kernel-version" 2>/dev/null || echo '?'), ${timings[*]:-}, total $((SECONDS - t0))s"
[ "$any_fail" -eq 1 ] && [ "$failed" -eq 0 ] && failed=1
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$any_fail" -eq 0 ]
exit
}
