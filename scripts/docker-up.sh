#!/usr/bin/env bash
# Makes sure the Docker engine is running. When it is not, starts dockerd in the background
# (its own session, log in $SYSBOX_LOG_DIR/dockerd.log) and records that in a marker file, so
# that docker-down.sh stops only a dockerd that we started.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
require_root

timeout_s=${DOCKER_START_TIMEOUT:-90}
marker="$SYSBOX_RUN_DIR/dockerd.started"
logfile="$SYSBOX_LOG_DIR/dockerd.log"

docker_ok && exit 0
command -v dockerd >/dev/null || die "dockerd not found (run scripts/install-deps.sh)"

# A dockerd that is still coming up (or a hung one): wait for it rather than start a second.
if pgrep -x dockerd >/dev/null; then
	log "dockerd is running but not answering yet; waiting"
else
	# dockerd refuses to start when its pid file names a live process; clear a stale one.
	if [ -f /var/run/docker.pid ] && ! pid_alive_as "$(cat /var/run/docker.pid)" dockerd; then
		rm -f /var/run/docker.pid
	fi
	mkdir -p "$SYSBOX_LOG_DIR" "$SYSBOX_RUN_DIR"
	printf '\n=== %s: dockerd started by %s ===\n' "$(date -u +%FT%TZ)" "${0##*/}" >>"$logfile"
	set +m
	setsid dockerd >>"$logfile" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$marker"
	log "started dockerd (pid $pid, log $logfile)"
fi

deadline=$((SECONDS + timeout_s))
until docker_ok; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		log_tail "$logfile" 40
		die "dockerd did not answer 'docker info' within ${timeout_s}s"
	fi
	if [ -n "${pid:-}" ] && ! kill -0 "$pid" 2>/dev/null; then
		rm -f "$marker"
		log_tail "$logfile" 40
		die "dockerd exited during start-up"
	fi
	sleep 0.5
done
