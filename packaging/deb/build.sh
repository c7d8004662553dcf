#!/usr/bin/env bash
# Builds the Debian package bin/sysboxd_<version>_amd64.deb from this tree (`make deb`):
# builds the binaries (scripts/build.sh, stamped with the package version), lays out the
# package tree in .tmp/deb/root, generates what is derived from the tree (systemd units and
# sysboxctl with /usr/bin paths, man pages from each program's --help, changelog, control
# fields) and runs dpkg-deb. No debhelper: the package is binary-only.
#
# Environment:
#   DEB_VERSION      package version (default: derived from git, see deb_version below)
#   DEB_MAINTAINER   Maintainer field (default: author of the last commit)
#   DEB_OUT_DIR      where the .deb goes (default: bin)
#   DEB_SKIP_BUILD   set to 1 to package the binaries already in bin/ (no rebuild)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
root=$(repo_root)
cd "$root"

PKG=sysboxd
ARCH=$(dpkg --print-architecture)
OUT_DIR=${DEB_OUT_DIR:-bin}
GO=${GO:-go}
STAGE=.tmp/deb
DEST=$STAGE/root
git_() { git -c safe.directory="$root" "$@"; }

for tool in dpkg-deb dpkg-shlibdeps help2man; do
	command -v "$tool" >/dev/null ||
		die "$tool not found (apt-get install dpkg-dev help2man; or run scripts/install-deps.sh)"
done

# deb_version prints a Debian version for HEAD, upstream part then Debian revision 1:
#   on a tag vX.Y.Z            X.Y.Z-1
#   N commits after vX.Y.Z     X.Y.Z+git<commit date>.<N>.<sha>-1
#   no tag                     0.1.0~git<commit date>.<sha>-1
# with ".dirty" added to the upstream part when the work tree has uncommitted changes. The
# commit date and time (UTC) keep later commits sorting higher; the tilde keeps untagged
# builds below a first 0.1.0 release.
deb_version() {
	local desc tag n sha date
	sha=$(git_ rev-parse --short=7 HEAD)
	date=$(TZ=UTC git_ log -1 --date=format-local:%Y%m%d.%H%M%S --format=%cd HEAD)
	if desc=$(git_ describe --tags --long --match 'v[0-9]*' 2>/dev/null); then
		# vX.Y.Z-N-gSHA
		tag=${desc%-*-g*}
		n=${desc%-g*}
		n=${n##*-}
		tag=${tag#v}
		if [ "$n" = 0 ]; then
			printf '%s' "$tag"
		else
			printf '%s+git%s.%s.%s' "$tag" "$date" "$n" "$sha"
		fi
	else
		printf '0.1.0~git%s.%s' "$date" "$sha"
	fi
	if [ -n "$(git_ status --porcelain --untracked-files=no 2>/dev/null)" ]; then
		printf '.dirty'
	fi
	echo -1
}

VERSION=${DEB_VERSION:-$(deb_version)}
# Debian policy 5.6.12: upstream version starts with a digit; [A-Za-z0-9.+~-] only.
[[ "$VERSION" =~ ^([0-9]+:)?[0-9][A-Za-z0-9.+~-]*$ ]] ||
	die "'$VERSION' is not a valid Debian version (digits first, then letters, digits and . + ~ -)"
MAINTAINER=${DEB_MAINTAINER:-$(git_ log -1 --format='%an <%ae>' HEAD)}
COMMIT=$(git_ rev-parse --short HEAD)
DATE_RFC2822=$(TZ=UTC git_ log -1 --date=format-local:'%a, %d %b %Y %H:%M:%S +0000' --format=%cd HEAD)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git_ log -1 --format=%ct HEAD)}

if [ "${DEB_SKIP_BUILD:-}" != 1 ]; then
	# Position-independent executables, as Debian builds them (and lintian wants): the pure
	# Go daemons become PIEs that still load no shared library.
	GOFLAGS="-buildmode=pie${GOFLAGS:+ $GOFLAGS}" VERSION=$VERSION COMMIT=$COMMIT scripts/build.sh
fi
for b in sysbox-runc sysbox-mgr sysbox-fs; do
	[ -x "bin/$b" ] || die "bin/$b is missing (scripts/build.sh did not build it)"
done

log "staging $PKG $VERSION in $DEST"
rm -rf "$STAGE"
mkdir -p "$DEST/DEBIAN"
umask 022

# put DIR MODE SRC [NAME]: install SRC into $DEST/DIR with MODE.
put() {
	install -D -m "$2" "$3" "$DEST/$1/${4:-${3##*/}}"
}

# Binaries (stripped: debug info is not shipped; Go keeps symbol names for panics in pclntab).
for b in sysbox-runc sysbox-mgr sysbox-fs; do
	put usr/bin 0755 "bin/$b"
	strip --strip-unneeded --remove-section=.comment --remove-section=.note "$DEST/usr/bin/$b"
done

# sysboxctl and the systemd units come from the `make install` sources, whose paths are
# /usr/local; the package's are /usr. Each substitution must hit, or the build stops.
subst() { # subst FILE FROM TO OUT
	grep -qF "$2" "$1" || die "$1 no longer contains '$2': update packaging/deb/build.sh"
	mkdir -p "$(dirname "$4")"
	sed "s#$2#$3#g" "$1" >"$4"
	! grep -qF "/usr/local/" "$4" || die "$4 still names /usr/local after the substitution"
}
# shellcheck disable=SC2016 # literal text to replace
subst scripts/sysboxctl 'BIN_DIR=${SYSBOX_BIN_DIR:-/usr/local/bin}' 'BIN_DIR=${SYSBOX_BIN_DIR:-/usr/bin}' "$DEST/usr/sbin/sysboxctl"
chmod 0755 "$DEST/usr/sbin/sysboxctl"
for u in packaging/systemd/*.service; do
	if grep -q '/usr/local/bin/' "$u"; then
		subst "$u" /usr/local/bin/ /usr/bin/ "$DEST/lib/systemd/system/${u##*/}"
	else
		put lib/systemd/system 0644 "$u"
	fi
	chmod 0644 "$DEST/lib/systemd/system/${u##*/}"
done

# The subordinate id pool set-up, shared with `make install` (postinst runs it).
put usr/lib/sysboxd 0755 scripts/subid-setup.sh
put usr/lib/sysboxd 0644 scripts/lib.sh

# Configuration (conffiles).
put etc/default 0644 packaging/deb/sysbox.default sysbox
conffiles=(/etc/default/sysbox)
if [ -f packaging/apparmor/sysbox-container ]; then
	put etc/apparmor.d 0644 packaging/apparmor/sysbox-container
	conffiles+=(/etc/apparmor.d/sysbox-container)
fi
printf '%s\n' "${conffiles[@]}" >"$DEST/DEBIAN/conffiles"

# Documentation. A version without a Debian revision is a native package's, whose
# changelog is changelog.gz.
doc=usr/share/doc/$PKG
changelog=changelog.Debian.gz
case "$VERSION" in *-*) ;; *) changelog=changelog.gz ;; esac
put "$doc" 0644 README.md
# copyright: ours, plus the Go modules linked into the binaries with their licenses.
license_of() { # license_of MODULE_DIR prints a short license name
	local f
	f=$(find "$1" -maxdepth 1 -type f -iregex '.*/\(licen[cs]e\|copying\)[^/]*' | sort | head -n1)
	if [ -z "$f" ]; then
		echo "unknown (no license file)"
	elif grep -q 'Apache License' "$f"; then
		echo Apache-2.0
	elif grep -q 'Mozilla Public License' "$f"; then
		echo MPL-2.0
	elif grep -q 'Permission is hereby granted, free of charge' "$f"; then
		echo Expat
	elif grep -q 'Neither the name' "$f"; then
		echo BSD-3-Clause
	elif grep -q 'Redistribution and use in source and binary forms' "$f"; then
		echo BSD-2-Clause
	elif grep -q 'Permission to use, copy, modify, and/or distribute' "$f"; then
		echo ISC
	else
		echo "see ${f##*/} of the module"
	fi
}
modules=$("$GO" list -deps -tags "${GO_TAGS:-seccomp}" \
	-f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}' \
	./sysbox-runc ./sysbox-mgr ./sysbox-fs | sort -u |
	while read -r path ver dir; do printf ' %s %s: %s\n' "$path" "$ver" "$(license_of "$dir")"; done)
[ -n "$modules" ] || die "go list found no Go modules to name in the copyright file"
awk -v mods="$modules" '$0 == "@MODULES@" { print mods; next } { print }' \
	packaging/deb/copyright.in >"$DEST/$doc/copyright"
chmod 0644 "$DEST/$doc/copyright"
{
	printf '%s (%s) unstable; urgency=medium\n\n' "$PKG" "$VERSION"
	printf '  * Built from git commit %s.\n' "$COMMIT"
	# lintian wants changelog lines within 80 columns.
	git_ log -1 --format='Last change: %s' HEAD | fold -s -w 74 | sed 's/ *$//; 1s/^/  * /; 2,$s/^/    /'
	printf '\n -- %s  %s\n' "$MAINTAINER" "$DATE_RFC2822"
} | gzip -9n >"$DEST/$doc/$changelog"
chmod 0644 "$DEST/$doc/$changelog"

# Man pages from --help, so that they say what the programs say. help2man runs the staged
# programs (sysboxctl with SYSBOX_BIN_DIR pointing at the staged binaries); the --help of
# each subcommand given is added as a section of its own.
man() { # man SECTION PROGRAM DESCRIPTION [SUBCOMMAND...]
	local sect=$1 prog=$2 name=$3 out include sub
	shift 3
	out="$DEST/usr/share/man/man$sect/${prog##*/}.$sect"
	include=$STAGE/${prog##*/}.h2m
	printf '[SEE ALSO]\nsysbox-runc(1), sysbox-mgr(1), sysbox-fs(1), sysboxctl(8)\n' >"$include"
	for sub in "$@"; do
		# shellcheck disable=SC2086 # "docker-runtime add" is two words
		{
			printf '[COMMAND %s]\n.nf\n' "$(echo "$sub" | tr "[:lower:]" "[:upper:]")"
			"$prog" $sub --help | sed -e 's/\\/\\e/g' -e "s/^[.']/\\\\\&&/"
			printf '.fi\n'
		} >>"$include"
	done
	mkdir -p "$(dirname "$out")"
	SYSBOX_BIN_DIR="$DEST/usr/bin" SYSBOX_DEFAULTS_FILE=/dev/null \
		help2man --no-info --no-discard-stderr --section="$sect" --version-string="$VERSION" \
		--name="$name" --source="Sysboxd $VERSION" --manual="Sysboxd" --include="$include" "$prog" |
		gzip -9n >"$out.gz"
	chmod 0644 "$out.gz"
	zcat "$out.gz" | grep -q '^\.SH' || die "help2man produced no sections for $prog"
}
man 1 "$DEST/usr/bin/sysbox-runc" "OCI runtime for system containers" \
	create start run exec kill delete state list ps spec features
man 1 "$DEST/usr/bin/sysbox-mgr" "Sysboxd manager daemon and preflight check" \
	check status release "docker-runtime add" "docker-runtime remove"
man 1 "$DEST/usr/bin/sysbox-fs" "Sysboxd file system daemon"
man 8 "$DEST/usr/sbin/sysboxctl" "start, stop and check the Sysboxd daemons"

# Maintainer scripts.
for s in preinst postinst prerm postrm; do
	install -m 0755 "packaging/deb/$s" "$DEST/DEBIAN/$s"
done

# Dependencies of the binaries (libc6, libseccomp2) from the shlibs database.
shlibs_dir=$STAGE/shlibs
mkdir -p "$shlibs_dir/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$PKG" "$PKG" >"$shlibs_dir/debian/control"
shlibs=$(cd "$shlibs_dir" && dpkg-shlibdeps -O "$root/$DEST/usr/bin/sysbox-runc" 2>/dev/null |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no library dependencies for sysbox-runc"

installed_size=$(du -sk --exclude=DEBIAN "$DEST" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SHLIBS@/$shlibs/" \
	-e "s/@INSTALLED_SIZE@/$installed_size/" -e "s|@MAINTAINER@|$MAINTAINER|" \
	packaging/deb/control.in >"$DEST/DEBIAN/control"

(cd "$DEST" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
	xargs -0 md5sum) >"$DEST/DEBIAN/md5sums"
chmod 0644 "$DEST/DEBIAN/md5sums" "$DEST/DEBIAN/conffiles" "$DEST/DEBIAN/control"
find "$DEST" -type d -exec chmod 0755 {} +
find "$DEST" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$OUT_DIR"
deb="$OUT_DIR/${PKG}_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$DEST" "$deb" >/dev/null
log "built $deb"
