# shellcheck shell=bash
# Small helpers shared by the scripts in this directory (sourced, never run).

# Paths used by several scripts; each can be overridden from the environment.
: "${SYSBOX_LOG_DIR:=/var/log/sysbox}"
: "${SYSBOX_RUN_DIR:=/run/sysbox}"
: "${SYSBOX_PREFIX:=/usr/local}"

# Go is installed at /usr/local/go on our machines; make sure it is found.
case ":$PATH:" in
*:/usr/local/go/bin:*) ;;
*) [ -x /usr/local/go/bin/go ] && PATH="/usr/local/go/bin:$PATH" ;;
esac
export PATH

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

require_root() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (prefix the command with sudo)"
}

# repo_root prints the top of the source tree (the parent of scripts/).
repo_root() {
	cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd
}

# docker_ok succeeds when the Docker engine answers.
docker_ok() {
	timeout 10 docker info >/dev/null 2>&1
}

# log_tail prints the last lines of a log file, indented, for error messages; only those
# written since the last "=== ... started by ..." line our scripts put in front of each run.
log_tail() {
	local file=$1 lines=${2:-30}
	if [ -s "$file" ]; then
		printf -- '--- %s (last %s lines) ---\n' "$file" "$lines" >&2
		awk '/^=== .* started by /{buf=""} {buf = buf $0 "\n"} END{printf "%s", buf}' "$file" |
			tail -n "$lines" | sed 's/^/    /' >&2
		printf -- '---\n' >&2
	else
		printf '(%s is empty or missing)\n' "$file" >&2
	fi
}

# pid_alive_as PID NAME succeeds when PID is a live process whose command name is NAME.
pid_alive_as() {
	local pid=$1 name=$2 comm
	case "$pid" in '' | *[!0-9]*) return 1 ;; esac
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[ "$comm" = "${name:0:15}" ]
}

# The Debian root file systems (tests/images/build.sh, tests/vm/build-image.sh).

# run_logged LOG CMD... runs a command with its output in LOG; on failure shows the tail.
run_logged() {
	local logfile=$1
	shift
	if ! "$@" >>"$logfile" 2>&1; then
		log_tail "$logfile" 40
		die "failed: $*"
	fi
}

# debian_mirror prints the Debian mirror for $SUITE (default bookworm; SYSBOX_DEBIAN_MIRROR
# overrides): the first
# enabled "deb" source of $SUITE with component main in the host's apt configuration, as apt
# itself reads it (one-line sources.list entries and deb822 .sources files alike). Fails when
# there is none: a guessed mirror could be one this host cannot reach.
debian_mirror() {
	if [ -n "${SYSBOX_DEBIAN_MIRROR:-}" ]; then
		echo "$SYSBOX_DEBIAN_MIRROR"
		return
	fi
	local targets m suite=${SUITE:-bookworm}
	# shellcheck disable=SC2016 # $(...) here is apt's format syntax, not the shell's
	targets=$(apt-get indextargets --no-release-info --format '$(TARGET_OF) $(REPO_URI) $(RELEASE) $(COMPONENT)') ||
		die "apt-get indextargets failed: cannot read the apt sources"
	m=$(awk -v suite="$suite" '$1 == "deb" && $3 == suite && $4 == "main" { print $2; exit }' <<<"$targets")
	[ -n "$m" ] || die "no Debian mirror in the apt sources: none has \"deb URI $suite main\" (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list or *.sources); add one or set SYSBOX_DEBIAN_MIRROR"
	echo "${m%/}"
}

# chroot_install ROOT LOG PKG... installs packages into a root filesystem with apt-get in a
# chroot. The kernel file systems it needs are mounted in a private mount namespace, so they
# vanish with it even if the build is interrupted; they are unmounted explicitly as well.
chroot_install() {
	local root=$1 logfile=$2
	shift 2
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	# shellcheck disable=SC2016 # expanded by the inner shell
	run_logged "$logfile" unshare --mount --propagation private bash -euc '
		root=$1; shift
		mount -t proc proc "$root/proc"
		mount -t sysfs sysfs "$root/sys"
		mount --bind /dev "$root/dev"
		mount -t tmpfs tmpfs "$root/run"
		in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
		rc=0
		{ in_root apt-get update -q &&
		  in_root apt-get install -y -q --no-install-recommends "$@" &&
		  in_root apt-get clean; } || rc=$?
		umount "$root/run" "$root/dev" "$root/sys" "$root/proc"
		exit $rc
	' chroot-install "$root" "$@"
}
