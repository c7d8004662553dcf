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
