#!/usr/bin/env bash
# Runs a command (or, without one, a shell) as root in the guest that tests/vm/run.sh --keep
# left running: ssh on 127.0.0.1 with the key of the guest's image build.
#
#   tests/vm/ssh.sh                       a shell
#   tests/vm/ssh.sh docker ps             a command
#   tests/vm/ssh.sh -t journalctl -f      ssh options first, then the command
set -euo pipefail
STATE=${VM_STATE_DIR:-/run/sysbox-vm}/state
[ -r "$STATE" ] || {
	echo "${0##*/}: no guest is running (no $STATE): start one with tests/vm/run.sh --keep" >&2
	exit 1
}
# shellcheck disable=SC1090
. "$STATE"
kill -0 "$PID" 2>/dev/null || {
	echo "${0##*/}: the guest (qemu pid $PID) is gone" >&2
	exit 1
}
opts=()
while [ $# -gt 0 ] && [[ $1 == -* ]]; do
	opts+=("$1")
	shift
done
exec ssh -i "$KEY" -p "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	-o LogLevel=ERROR ${opts[@]+"${opts[@]}"} root@127.0.0.1 "$@"
