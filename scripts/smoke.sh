#!/usr/bin/env bash
# Smoke run of an installed Sysboxd: one busybox container with the sysbox-runc runtime must
# start and show root mapped to a 65536-id range that is not the host's root. Prints the map;
# on failure shows Docker's error and the daemons' logs.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
require_root

image=sysbox-test/busybox
if ! out=$(timeout 120 docker run --runtime=sysbox-runc --rm "$image" cat /proc/self/uid_map 2>&1); then
	printf '%s\n' "$out" >&2
	for d in sysbox-mgr sysbox-fs; do log_tail "$SYSBOX_LOG_DIR/$d.log" 15; done
	die "smoke run failed: sysbox-runc could not run a container (logs above)"
fi
printf '    uid_map: %s\n' "$(echo "$out" | tr -s ' ' | sed 's/^ //')"
read -r inner outer count <<<"$out"
if [ "$inner" != 0 ] || [ "$outer" = 0 ] || [ "$count" != 65536 ]; then
	die "smoke run: expected root mapped to a 65536-id range away from host root, got: $out"
fi
