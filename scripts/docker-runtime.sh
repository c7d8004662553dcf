#!/usr/bin/env bash
# Registers (add) or unregisters (remove) the sysbox-runc runtime in /etc/docker/daemon.json,
# keeping every other key, then has a running dockerd reload it (SIGHUP) and waits until
# `docker info` shows the change. A dockerd that is not running reads the file when it starts.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
require_root

CONFIG=${DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}
RUNTIME=sysbox-runc
RUNTIME_PATH=${SYSBOX_RUNC_PATH:-$SYSBOX_PREFIX/bin/sysbox-runc}
timeout_s=${DOCKER_RELOAD_TIMEOUT:-30}

usage() {
	echo "usage: ${0##*/} add|remove" >&2
	exit 2
}

# The file is edited by `sysbox-mgr docker-runtime add|remove` (the same code as the Debian
# package's maintainer scripts): every other key kept, atomic, an invalid file refused.
# This tree's bin/sysbox-mgr when built, else the installed one.
MGR=${SYSBOX_MGR:-$(repo_root)/bin/sysbox-mgr}
[ -x "$MGR" ] || MGR="$SYSBOX_PREFIX/bin/sysbox-mgr"

# edit_config add|remove: rewrites the config through sysbox-mgr.
edit_config() {
	local args=(docker-runtime "$1" --config "$CONFIG" --name "$RUNTIME")
	[ "$1" = add ] && args+=(--path "$RUNTIME_PATH")
	[ -x "$MGR" ] || die "$MGR not found: run 'make build'"
	"$MGR" "${args[@]}" >/dev/null || die "could not edit $CONFIG"
}

# dockerd_pid prints the pid of the running dockerd (empty if none).
dockerd_pid() {
	local pid
	pid=$(cat /var/run/docker.pid 2>/dev/null || true)
	if pid_alive_as "$pid" dockerd; then
		echo "$pid"
		return
	fi
	pgrep -x -o dockerd || true
}

runtime_listed() {
	docker info --format '{{json .Runtimes}}' 2>/dev/null | jq -e --arg r "$RUNTIME" 'has($r)' >/dev/null
}

# reload_and_wait WANT: SIGHUP dockerd, then wait until the runtime is listed (WANT=yes) or not.
reload_and_wait() {
	local want=$1 pid deadline
	pid=$(dockerd_pid)
	if [ -z "$pid" ]; then
		log "dockerd is not running; it will read $CONFIG when it starts"
		return
	fi
	kill -HUP "$pid"
	deadline=$((SECONDS + timeout_s))
	while :; do
		if runtime_listed; then
			[ "$want" = yes ] && return
		else
			[ "$want" = no ] && return
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			log_tail "$SYSBOX_LOG_DIR/dockerd.log" 20
			die "dockerd did not $([ "$want" = yes ] && echo add || echo remove) runtime $RUNTIME within ${timeout_s}s (check $CONFIG)"
		fi
		sleep 0.3
	done
}

[ $# -eq 1 ] || usage
command -v jq >/dev/null || die "jq not found (run scripts/install-deps.sh)"
# shellcheck disable=SC2016 # $r and $p are jq variables
case "$1" in
add)
	if [ -f "$CONFIG" ] && jq -e --arg r "$RUNTIME" --arg p "$RUNTIME_PATH" '.runtimes[$r].path == $p' \
		"$CONFIG" >/dev/null 2>&1 && { ! docker_ok || runtime_listed; }; then
		exit 0 # already registered and loaded
	fi
	edit_config add
	reload_and_wait yes
	;;
remove)
	# "runtimes" stays even when it becomes empty: dockerd's reload only replaces the
	# runtimes it knows when the key is present (without it the old set stays until a restart).
	edit_config remove
	reload_and_wait no
	;;
*) usage ;;
esac
