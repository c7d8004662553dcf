#!/usr/bin/env bash
# Builds the disk of the stock-host test bed: a Debian 12 (bookworm) system as our users run
# it (systemd as PID 1, cgroup v2 only, AppArmor, Docker from docker.io with its defaults,
# Debian's 6.1 kernel), booted by tests/vm/run.sh under qemu.
#
# Usage: build-image.sh [--deb PATH] [--force]
#
# Prints the cache directory of the image on stdout. It holds:
#   disk.qcow2        the root file system (ext4, no partition table), kernel modules included
#   vmlinuz, initrd   Debian's kernel and initrd, booted with qemu -kernel/-initrd
#   id_ed25519[.pub]  the ssh key root logs in with (made per build, never leaves the cache)
#   kernel-version    e.g. 6.1.0-41-amd64
#
# Offline apart from Debian's mirror, taken from the host's apt configuration
# (SYSBOX_DEBIAN_MIRROR overrides). No loop devices: the disk is made by mkfs.ext4 -d.
# --deb PATH adds the Depends of that sysboxd package to the package list, so that
# `apt install ./sysboxd_*.deb` in the guest needs no network.
#
# The image is cached under $SYSBOX_VM_CACHE (/var/cache/sysbox-vm/<hash>/), keyed by a hash
# of the recipe (the functions below that decide what goes into the disk and the package list);
# a changed recipe builds anew and older images are removed. Runs boot from a throwaway qcow2
# overlay on top of disk.qcow2, which stays as built.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../../scripts/lib.sh"

CACHE=${SYSBOX_VM_CACHE:-/var/cache/sysbox-vm}
SUITE=bookworm
DISK_SIZE=12G

# The packages of a stock host, plus what the bed itself uses (openssh-server to drive the
# guest, kmod for the 9p modules, procps/iproute2 for debugging).
BASE_PACKAGES="systemd systemd-sysv dbus udev apparmor docker.io containerd runc fuse3 iptables
uidmap jq ca-certificates linux-image-amd64 initramfs-tools kmod openssh-server procps iproute2
libseccomp2 util-linux bsdutils"

usage() {
	echo "usage: ${0##*/} [--deb PATH] [--force]" >&2
	exit 2
}

# deb_depends PATH prints the package names a .deb depends on (versions dropped, first
# choice of an alternative).
deb_depends() {
	{
		dpkg-deb -f "$1" Depends
		dpkg-deb -f "$1" Pre-Depends
	} | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/:any//' |
		awk 'NF {print $1}' | sort -u
}

# package_list prints the sorted package list of the image (base + the .deb's Depends).
package_list() {
	local deb=$1
	{
		# shellcheck disable=SC2086 # a list of package names
		printf '%s\n' $BASE_PACKAGES
		if [ -n "$deb" ]; then deb_depends "$deb"; fi
	} | sort -u
}

# configure_guest ROOT KEY writes the guest's configuration into its root file system.
configure_guest() {
	local root=$1 pubkey=$2
	echo "sysbox-vm" >"$root/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\tsysbox-vm\n::1\tlocalhost ip6-localhost\n' >"$root/etc/hosts"
	printf '/dev/vda\t/\text4\trw,errors=remount-ro\t0\t1\n' >"$root/etc/fstab"
	# The network: qemu's user networking, DHCP on the one virtio NIC.
	mkdir -p "$root/etc/systemd/network"
	printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' >"$root/etc/systemd/network/20-wired.network"
	: >"$root/etc/resolv.conf"
	# root logs in with the build's key only.
	# shellcheck disable=SC2174 # /root exists: only .ssh is made
	mkdir -p -m 0700 "$root/root/.ssh"
	install -m 0600 "$pubkey" "$root/root/.ssh/authorized_keys"
	printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' \
		>"$root/etc/ssh/sshd_config.d/sysbox-vm.conf"
	# A fresh machine-id at every boot of an overlay (the image has none).
	: >"$root/etc/machine-id"
	rm -f "$root/var/lib/dbus/machine-id"
	# The journal in memory only: the overlay is thrown away anyway.
	mkdir -p "$root/etc/systemd/journald.conf.d"
	printf '[Journal]\nStorage=volatile\n' >"$root/etc/systemd/journald.conf.d/sysbox-vm.conf"
}

# enable_units ROOT enables the services the bed needs and masks the periodic jobs that
# would only steal the guest's CPU during a test run.
enable_units() {
	local root=$1
	chroot "$root" systemctl enable systemd-networkd.service ssh.service docker.service \
		containerd.service apparmor.service
	chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer \
		e2scrub_all.timer fstrim.timer systemd-networkd-wait-online.service
	chroot "$root" systemctl set-default multi-user.target
}

# recipe_hash DEB prints the cache key of the image.
recipe_hash() {
	{
		declare -f package_list configure_guest enable_units chroot_install build_rootfs make_disk
		echo "$SUITE" "$DISK_SIZE"
		package_list "$1"
	} | sha256sum | cut -c1-16
}

# build_rootfs ROOT LOG DEB: debootstrap, the packages, the configuration.
build_rootfs() {
	local root=$1 logfile=$2 deb=$3 mirror
	mirror=$(debian_mirror)
	log "debootstrap --variant=minbase $SUITE from $mirror"
	run_logged "$logfile" debootstrap --variant=minbase "$SUITE" "$root" "$mirror"
	log "installing $(package_list "$deb" | wc -l) packages (kernel, systemd, docker.io, ...)"
	# shellcheck disable=SC2046 # a list of package names
	chroot_install "$root" "$logfile" $(package_list "$deb")
	rm -f "$root/usr/sbin/policy-rc.d"
	configure_guest "$root" "$work/id_ed25519.pub"
	run_logged "$logfile" enable_units "$root"
	rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/log/apt/* "$root"/tmp/* "$root"/var/tmp/*
}

# make_disk ROOT OUT: an ext4 file system filled from ROOT, as qcow2.
make_disk() {
	local root=$1 out=$2
	truncate -s "$DISK_SIZE" "$out.raw"
	mkfs.ext4 -q -F -L sysbox-vm -d "$root" "$out.raw"
	qemu-img convert -O qcow2 "$out.raw" "$out"
	rm -f "$out.raw"
}

main() {
	local deb="" force=false hash dir work logfile kver start=$SECONDS
	while [ $# -gt 0 ]; do
		case "$1" in
		--deb)
			deb=${2:?--deb needs a path}
			shift
			;;
		--force) force=true ;;
		-h | --help) usage ;;
		*) usage ;;
		esac
		shift
	done
	require_root
	if [ -n "$deb" ]; then
		[ -f "$deb" ] || die "no such package: $deb"
	fi
	for c in debootstrap mkfs.ext4 qemu-img ssh-keygen dpkg-deb; do
		command -v "$c" >/dev/null || die "$c is not installed (apt-get install debootstrap e2fsprogs qemu-utils openssh-client)"
	done
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	if ! flock -n 9; then
		log "another image build is running; waiting for it"
		flock 9
	fi
	hash=$(recipe_hash "$deb")
	dir="$CACHE/$hash"
	if [ -f "$dir/done" ] && ! $force; then
		log "image $hash is up to date ($dir)"
		echo "$dir"
		return
	fi
	rm -rf "$dir"
	work=$(mktemp -d "$CACHE/work.XXXXXX")
	# shellcheck disable=SC2064 # expand now: the trap must remove this work dir
	trap "rm -rf '$work'" EXIT
	logfile="$CACHE/build.log"
	echo "=== build-image.sh $hash started by $$ at $(date -Is) ===" >"$logfile"
	ssh-keygen -q -t ed25519 -N '' -C "sysbox-vm-$hash" -f "$work/id_ed25519"
	build_rootfs "$work/rootfs" "$logfile" "$deb"
	kver=$(find "$work/rootfs/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n1)
	[ -n "$kver" ] || die "no kernel in the image's /boot"
	[ -d "$work/rootfs/lib/modules/$kver/kernel" ] || die "no modules for $kver in the image"
	[ -f "$work/rootfs/boot/initrd.img-$kver" ] || die "no initrd for $kver in the image"
	cp "$work/rootfs/boot/vmlinuz-$kver" "$work/vmlinuz"
	cp "$work/rootfs/boot/initrd.img-$kver" "$work/initrd"
	echo "$kver" >"$work/kernel-version"
	log "making the disk ($DISK_SIZE ext4, qcow2)"
	run_logged "$logfile" make_disk "$work/rootfs" "$work/disk.qcow2"
	rm -rf "$work/rootfs"
	package_list "$deb" >"$work/packages"
	date -Is >"$work/done"
	mv "$work" "$dir"
	trap - EXIT
	# Older recipes are no longer needed.
	find "$CACHE" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" ! -name 'work.*' -exec rm -rf {} +
	log "image $hash ready in $((SECONDS - start)) s (kernel $kver): $dir"
	echo "$dir"
}

main "$@"
