#!/usr/bin/env bash
# tools.sh: builds pinned third-party programs that Debian lacks from the Go module proxy,
# once, and prints the directory that holds their binaries.
#
#   scripts/tools.sh containerd   # containerd, containerd-shim-runc-v2, ctr (containerd 2.x)
#   scripts/tools.sh cri-tools    # crictl, critest
#   scripts/tools.sh runc         # runc 1.2+ (for tests of an inner runc that uses openat2)
#   scripts/tools.sh cni-plugins  # bridge, host-local, loopback, portmap
#   scripts/tools.sh --list       # name, module and version of each
#
# Each tool is built into $SYSBOX_TOOLS_CACHE/<name>-<version>/bin (default
# /var/cache/sysbox-tools), which survives between CI runs: a second call only prints the
# directory. Builds run under `nice` and an flock, so parallel callers build a tool once.
# Versions are pinned here and nowhere else.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

: "${SYSBOX_TOOLS_CACHE:=/var/cache/sysbox-tools}"

# name|module|version|tags|packages (space separated, relative to the module root; "test:" builds
# the package's test binary, as critest is)
TOOLS='
containerd|github.com/containerd/containerd/v2|v2.2.9||cmd/containerd cmd/containerd-shim-runc-v2 cmd/ctr
cri-tools|sigs.k8s.io/cri-tools|v1.34.0||cmd/crictl test:cmd/critest
runc|github.com/opencontainers/runc|v1.4.4|seccomp|.
cni-plugins|github.com/containernetworking/plugins|v1.6.2||plugins/main/bridge plugins/main/loopback plugins/ipam/host-local plugins/meta/portmap
'

tool_line() {
	local name=$1 line
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		if [ "${line%%|*}" = "$name" ]; then
			printf '%s\n' "$line"
			return 0
		fi
	done <<<"$TOOLS"
	return 1
}

# build_tool NAME MODULE VERSION TAGS PACKAGES DEST: download MODULE@VERSION, copy it out of
# the read-only module cache and build each package into DEST (binary named after the
# package's last element; "." takes the module's last element).
build_tool() {
	local name=$1 module=$2 version=$3 tags=$4 pkgs=$5 dest=$6 dir work pkg out
	dir=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$dir" ] || die "$name: go mod download $module@$version gave no source directory"
	work=$(mktemp -d "${TMPDIR:-/tmp}/sysbox-tool-$name.XXXXXX")
	cp -r "$dir/." "$work/"
	chmod -R u+w "$work"
	mkdir -p "$dest.tmp"
	local ok=1 cmd
	for pkg in $pkgs; do
		cmd=(go build)
		case "$pkg" in test:*) pkg=${pkg#test:} cmd=(go test -c) ;; esac
		out=${pkg##*/}
		[ "$pkg" = . ] && out=${module##*/}
		log "building $name $version: $pkg"
		if ! (cd "$work" && GOFLAGS=-mod=mod nice -n 10 "${cmd[@]}" -trimpath ${tags:+-tags "$tags"} \
			-ldflags "-s -w" -o "$dest.tmp/$out" "./$pkg"); then
			ok=0
			break
		fi
	done
	rm -rf "$work"
	[ "$ok" = 1 ] || die "$name: building $pkg of $module@$version failed"
	mv "$dest.tmp" "$dest"
}

main() {
	local name=${1:-}
	case "$name" in
	"" | -h | --help)
		sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
		exit 2
		;;
	--list)
		printf '%s\n' "$TOOLS" | sed '/^$/d' | cut -d'|' -f1-3 | tr '|' ' '
		exit 0
		;;
	esac
	local line module version tags pkgs dest
	line=$(tool_line "$name") || die "unknown tool '$name' (known: $(printf '%s\n' "$TOOLS" | sed '/^$/d' | cut -d'|' -f1 | tr '\n' ' '))"
	IFS='|' read -r _ module version tags pkgs <<<"$line"
	dest="$SYSBOX_TOOLS_CACHE/$name-$version/bin"
	if [ ! -d "$dest" ]; then
		mkdir -p "$SYSBOX_TOOLS_CACHE"
		exec 9>"$SYSBOX_TOOLS_CACHE/.$name.lock"
		flock 9
		if [ ! -d "$dest" ]; then
			rm -rf "$dest.tmp"
			build_tool "$name" "$module" "$version" "$tags" "$pkgs" "$dest"
		fi
		exec 9>&-
	fi
	printf '%s\n' "$dest"
}

main "$@"
