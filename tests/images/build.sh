#!/usr/bin/env bash
# Builds the test images offline (no registry) and imports them into Docker:
#
#   sysbox-test/busybox         busybox-static in a tiny rootfs        CMD /bin/sh
#   sysbox-test/debian          debootstrap --variant=minbase bookworm CMD /bin/bash
#   sysbox-test/debian-docker   debian + docker.io, iptables, procps   CMD /bin/bash
#   sysbox-test/debian-systemd  debian + systemd, systemd-sysv, dbus   CMD /sbin/init
#
# Usage: build.sh [--force] IMAGE... | all
#        build.sh --export DIR IMAGE... | all
#
# --export needs no Docker: it makes the cached root filesystems and writes, for each image,
# DIR/NAME.tar (the rootfs) and DIR/NAME.changes (its `docker import --change` lines, one per
# line, the recipe label included), so that another Docker (the tests/vm guest) can import it
# as `docker import --change LINE... NAME.tar sysbox-test/NAME`.
#
# Each image has a recipe hash (the text of this script's recipe functions, the image name,
# its package list, its parent's hash). Root filesystems are cached as tarballs under $SYSBOX_IMAGE_CACHE
# (/var/cache/sysbox-test-images/<name>-<hash>.tar) and every imported image carries the label
# org.sysboxd.recipe=<hash>. So a second run does nothing when Docker has the image with that
# label, a fresh dockerd only needs `docker import` of the cached tarball, and only a changed
# recipe builds again. The debian tarball is the base the other debian images derive from.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../../scripts/lib.sh"

CACHE=${SYSBOX_IMAGE_CACHE:-/var/cache/sysbox-test-images}
REPO=sysbox-test
SUITE=bookworm
LABEL=org.sysboxd.recipe
ALL_IMAGES=(busybox debian debian-docker debian-systemd)

usage() {
	echo "usage: ${0##*/} [--force] IMAGE... | all   (images: ${ALL_IMAGES[*]})" >&2
	echo "       ${0##*/} --export DIR IMAGE... | all" >&2
	exit 2
}

# parent_of prints the image an image is derived from (empty for a base image).
parent_of() {
	case "$1" in
	debian-docker | debian-systemd) echo debian ;;
	*) echo "" ;;
	esac
}

# packages_of prints the packages an image adds to its parent.
packages_of() {
	case "$1" in
	busybox) echo "busybox-static" ;;
	debian) echo "" ;;
	debian-docker) echo "docker.io iptables procps" ;;
	debian-systemd) echo "systemd systemd-sysv dbus" ;;
	esac
}

# changes_of prints the `docker import --change` lines (image config) for an image.
changes_of() {
	case "$1" in
	busybox) echo 'CMD ["/bin/sh"]' ;;
	debian | debian-docker) echo 'CMD ["/bin/bash"]' ;;
	# Docker 20.10 cannot set STOPSIGNAL on import: stop systemd images with
	# `docker run --stop-signal SIGRTMIN+3` (its clean-shutdown signal), or let SIGTERM time out.
	debian-systemd) echo 'CMD ["/sbin/init"]' ;;
	esac
}

# recipe_hash prints the cache key of an image.
recipe_hash() {
	local name=$1 parent extra=""
	parent=$(parent_of "$name")
	[ "$name" = busybox ] && extra=$(dpkg-query -W -f='${Version}' busybox-static)
	{
		# The recipe: the functions that decide what goes into an image (not this script's
		# plumbing, so that editing logging or caching code does not force a rebuild).
		declare -f parent_of packages_of changes_of build_busybox tidy_debian build_debian \
			chroot_install build_derived
		echo "$name" "$SUITE"
		packages_of "$name"
		changes_of "$name"
		echo "$extra"
		if [ -n "$parent" ]; then recipe_hash "$parent"; fi
	} | sha256sum | cut -c1-16
}

build_busybox() {
	local root=$1 bb a
	bb=$(dpkg -L busybox-static | grep -E '^(/usr)?/bin/busybox$' | head -n1)
	[ -x "$bb" ] || die "busybox-static is not installed (run scripts/install-deps.sh)"
	mkdir -p "$root"/{bin,etc,proc,sys,dev,tmp,root,run,var/tmp,usr}
	chmod 1777 "$root/tmp" "$root/var/tmp"
	chmod 0700 "$root/root"
	cp "$bb" "$root/bin/busybox"
	for a in $("$bb" --list); do
		[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
	done
	ln -s bin "$root/sbin"
	ln -s ../bin "$root/usr/bin"
	ln -s ../bin "$root/usr/sbin"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
		>"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

# tidy_debian removes what an image should not carry: package caches and lists, host files.
tidy_debian() {
	local root=$1
	rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
		"$root"/var/lib/apt/lists/* "$root"/tmp/* "$root"/var/tmp/* "$root"/var/log/*.log \
		"$root"/var/log/apt/* "$root"/usr/sbin/policy-rc.d "$root"/var/lib/dbus/machine-id
	mkdir -p "$root/var/lib/apt/lists/partial"
	: >"$root/etc/resolv.conf"
	: >"$root/etc/machine-id"
	echo "sysbox-test" >"$root/etc/hostname"
}

build_debian() {
	local root=$1 logfile=$2 mirror
	command -v debootstrap >/dev/null || die "debootstrap is not installed (run scripts/install-deps.sh)"
	mirror=$(debian_mirror)
	log "debootstrap --variant=minbase $SUITE from $mirror (a few minutes)"
	run_logged "$logfile" debootstrap --variant=minbase "$SUITE" "$root" "$mirror"
	tidy_debian "$root"
}

build_derived() {
	local name=$1 root=$2 logfile=$3 parent_tar=$4
	# shellcheck disable=SC2046 # word splitting of the package list is wanted
	log "installing $(packages_of "$name") into a copy of the debian base"
	mkdir -p "$root"
	tar --numeric-owner -xpf "$parent_tar" -C "$root"
	# shellcheck disable=SC2046
	chroot_install "$root" "$logfile" $(packages_of "$name")
	case "$name" in
	debian-systemd)
		run_logged "$logfile" chroot "$root" systemctl set-default multi-user.target
		;;
	esac
	tidy_debian "$root"
}

# cached_tar NAME prints the path of NAME's rootfs tarball, building it if needed.
cached_tar() {
	local name=$1 hash tar work parent="" parent_tar="" logfile
	hash=$(recipe_hash "$name")
	tar="$CACHE/$name-$hash.tar"
	if [ -f "$tar" ]; then
		echo "$tar"
		return
	fi
	parent=$(parent_of "$name")
	if [ -n "$parent" ]; then parent_tar=$(cached_tar "$parent"); fi

	work=$(mktemp -d "$CACHE/work.$name.XXXXXX")
	# shellcheck disable=SC2064 # expand now: the trap must remove this work dir
	trap "rm -rf '$work'" EXIT
	logfile="$CACHE/$name.log"
	: >"$logfile"
	case "$name" in
	busybox) build_busybox "$work/rootfs" ;;
	debian) build_debian "$work/rootfs" "$logfile" ;;
	*) build_derived "$name" "$work/rootfs" "$logfile" "$parent_tar" ;;
	esac
	tar --numeric-owner -C "$work/rootfs" -cf "$tar.tmp" .
	mv "$tar.tmp" "$tar"
	rm -rf "$work"
	trap - EXIT
	# Older recipes of this image are no longer needed.
	find "$CACHE" -maxdepth 1 -name "$name-*.tar" ! -name "$name-$hash.tar" -delete
	echo "$tar"
}

# ensure_image NAME makes Docker hold sysbox-test/NAME built from the current recipe.
ensure_image() {
	local name=$1 force=$2 hash ref have tar start changes=() line old_id
	start=$SECONDS
	hash=$(recipe_hash "$name")
	ref="$REPO/$name"
	have=$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$ref" 2>/dev/null || true)
	if [ "$have" = "$hash" ] && [ "$force" = false ]; then
		log "$ref is up to date (recipe $hash)"
		return
	fi
	if [ "$force" = true ]; then
		rm -f "$CACHE/$name-$hash.tar"
	fi
	tar=$(cached_tar "$name")
	changes=(--change "LABEL $LABEL=$hash")
	while IFS= read -r line; do
		changes+=(--change "$line")
	done < <(changes_of "$name")
	old_id=$(docker image inspect -f '{{.Id}}' "$ref" 2>/dev/null || true)
	docker import "${changes[@]}" "$tar" "$ref:latest" >/dev/null
	# The image this one replaces is left untagged: remove it unless a container still uses it.
	if [ -n "$old_id" ]; then
		docker image rm "$old_id" >/dev/null 2>&1 || true
	fi
	log "$ref ready (recipe $hash, $((SECONDS - start))s)"
}

# export_image NAME DIR writes DIR/NAME.tar and DIR/NAME.changes (see the usage above).
export_image() {
	local name=$1 dir=$2 hash tar
	hash=$(recipe_hash "$name")
	tar=$(cached_tar "$name")
	rm -f "$dir/$name.tar"
	ln "$tar" "$dir/$name.tar" 2>/dev/null || cp "$tar" "$dir/$name.tar"
	{
		echo "LABEL $LABEL=$hash"
		changes_of "$name"
	} >"$dir/$name.changes"
	log "$REPO/$name exported to $dir (recipe $hash)"
}

main() {
	local force=false images=() i export_dir=""
	[ $# -gt 0 ] || usage
	if [ "$1" = --export ]; then
		[ $# -ge 3 ] || usage
		export_dir=$2
		shift 2
	fi
	for i in "$@"; do
		case "$i" in
		--force) force=true ;;
		all) images+=("${ALL_IMAGES[@]}") ;;
		busybox | debian | debian-docker | debian-systemd) images+=("$i") ;;
		-h | --help) usage ;;
		*)
			echo "${0##*/}: unknown image '$i'" >&2
			usage
			;;
		esac
	done
	require_root
	[ -n "$export_dir" ] || docker_ok || die "Docker is not running (run scripts/docker-up.sh)"
	mkdir -p "$CACHE"
	# One build at a time: concurrent runs would race on the same tarballs.
	exec 9>"$CACHE/.lock"
	if ! flock -n 9; then
		log "another image build is running; waiting for it"
		flock 9
	fi
	for i in "${images[@]}"; do
		if [ -n "$export_dir" ]; then
			mkdir -p "$export_dir"
			export_image "$i" "$export_dir"
		else
			ensure_image "$i" "$force"
		fi
	done
}

main "$@"
