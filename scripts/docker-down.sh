#!/usr/bin/env bash
# Stops dockerd, but only if docker-up.sh started it (the marker file names its pid).
# Prints nothing and succeeds when there is nothing of ours to stop.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
require_root

timeout_s=${DOCKER_STOP_TIMEOUT:-60}
marker="$SYSBOX_RUN_DIR/dockerd.started"

[ -f "$marker" ] || exit 0
pid=$(cat "$marker")
if ! pid_alive_as "$pid" dockerd; then
	rm -f "$marker"
	exit 0
fi

kill -TERM "$pid"
deadline=$((SECONDS + timeout_s))
while kill -0 "$pid" 2>/dev/null; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		log "dockerd (pid $pid) still running after ${timeout_s}s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		break
	fi
	sleep 0.5
done
rm -f "$marker"
log "stopped dockerd (pid $pid)"
