#!/usr/bin/env bash
# Makes sure /etc/subuid and /etc/subgid hold the id pool of sysbox-mgr: an entry
# "sysbox:START:COUNT" (the same in both files) with COUNT = 268435456 (4096 containers of
# 65536 ids) and START a multiple of 65536, at least 1048576, overlapping no other entry of
# either file. Idempotent: an existing sysbox entry is kept as it is.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

SUBUID=${SUBUID_FILE:-/etc/subuid}
SUBGID=${SUBGID_FILE:-/etc/subgid}
NAME=${SYSBOX_SUBID_NAME:-sysbox}
COUNT=${SYSBOX_SUBID_COUNT:-268435456}
MIN_START=1048576
BLOCK=65536
MAX_ID=4294967294 # ids are 32-bit and 4294967295 means "none"

# entry_of FILE prints "START COUNT" of NAME's first entry in FILE (nothing if none).
entry_of() {
	awk -F: -v n="$NAME" '$1 == n && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ { print $2, $3; exit }' "$1"
}

# free_start prints the lowest START >= MIN_START, multiple of BLOCK, whose range
# [START, START+COUNT) overlaps no entry of the given files.
free_start() {
	awk -F: -v count="$COUNT" -v min="$MIN_START" -v block="$BLOCK" -v max="$MAX_ID" '
		BEGIN { n = 0 }
		$2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ && $3 > 0 { s[n] = $2 + 0; e[n] = $2 + $3; n++ }
		END {
			start = min
			do {
				moved = 0
				for (i = 0; i < n; i++) {
					if (start < e[i] && s[i] < start + count) {
						start = int((e[i] + block - 1) / block) * block
						moved = 1
					}
				}
			} while (moved)
			if (start + count - 1 > max) exit 1
			printf "%.0f\n", start
		}' "$@"
}

# overlaps FILE START COUNT succeeds when [START, START+COUNT) overlaps another owner's entry.
overlaps() {
	awk -F: -v n="$NAME" -v a="$2" -v c="$3" '
		$1 != n && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ && a < $2 + $3 && $2 < a + c { hit = 1 }
		END { exit !hit }' "$1"
}

require_root
touch "$SUBUID" "$SUBGID"
uid_entry=$(entry_of "$SUBUID")
gid_entry=$(entry_of "$SUBGID")

if [ -n "$uid_entry" ] && [ -n "$gid_entry" ]; then
	exit 0
fi
if [ -n "$uid_entry" ] || [ -n "$gid_entry" ]; then
	# One file has the entry: give the other the same range, if it is free there.
	read -r start count <<<"${uid_entry:-$gid_entry}"
	[ -n "$uid_entry" ] && target=$SUBGID || target=$SUBUID
	if overlaps "$target" "$start" "$count"; then
		die "$NAME:$start:$count is free in one of $SUBUID/$SUBGID but not in $target; fix by hand"
	fi
else
	start=$(free_start "$SUBUID" "$SUBGID") || die "no free range of $COUNT ids in $SUBUID/$SUBGID"
	count=$COUNT
	target=""
fi

for f in "$SUBUID" "$SUBGID"; do
	[ -z "$target" ] || [ "$f" = "$target" ] || continue
	# Keep the file ending in a newline before appending.
	if [ -s "$f" ] && [ -n "$(tail -c1 "$f")" ]; then echo >>"$f"; fi
	echo "$NAME:$start:$count" >>"$f"
done
log "added $NAME:$start:$count to $([ -z "$target" ] && echo "$SUBUID and $SUBGID" || echo "$target")"
