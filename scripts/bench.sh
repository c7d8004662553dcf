#!/usr/bin/env bash
# bench.sh: the benchmarks behind `make bench`, all in one run so that the ratios compare
# figures taken under the same load on the same machine. See docs/perf.md for the targets.
#
#   (a) docker run --rm IMAGE true, runc vs --runtime=sysbox-runc, busybox and debian images
#   (b) runc run vs sysbox-runc run on one busybox bundle (no Docker)
#   (c) open + read-to-EOF + close latency of /proc files inside a runc container (native
#       procfs), a system container, a runc container with lxcfs bound over /proc files, and
#       a runc container with the same files served by a minimal go-fuse server with
#       sysbox-fs's options (tests/bench/fusefloor: the floor of FUSE on this machine)
#   (d) sysbox-fs VmRSS with no container of ours and with 10 system containers running
#   (e) sysbox-mgr Go benchmarks (-benchtime 1x)
#
# Every timed command runs round by round with the runtimes interleaved (the first one rotates),
# figures are p10/median/p90. Prints a table and writes it, with the machine, to $BENCH_OUT.
#
# Environment (defaults in brackets):
#   BENCH_RUNS [20]          measured runs per command in (a) and (b)
#   BENCH_WARMUP [1]         unmeasured rounds before them
#   BENCH_READ_ROUNDS [5]    containers per runtime in (c), interleaved
#   BENCH_READ_ITERS [2000]  timed reads per file per container in (c)
#   BENCH_RSS_CONTAINERS [10]
#   BENCH_LXCFS [auto]       auto: install Debian's lxcfs if missing and measure it; 0: skip
#   BENCH_GO_TIMEOUT [120]   seconds for each benchmark of (e); one still running then is reported
#   BENCH_RETRIES [3]        failed runs tolerated per section (not counted, run again, listed
#                            at the end): other work on a shared machine may restart a daemon
#   BENCH_SKIP []            sections to skip, e.g. "go rss"; names: docker direct read rss go
#   BENCH_OUT [.tmp/bench/latest.txt]  results file (untracked; `make bench-record` copies it
#                            to docs/perf-results.txt when docs/perf.md is updated)
#
# Needs root, dockerd with the sysbox-runc runtime, the daemons and the sysbox-test images
# (make install). Cleans up everything it creates (containers, bundle, lxcfs) on any exit.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=$(repo_root)
: "${BENCH_RUNS:=20}"
: "${BENCH_WARMUP:=1}"
: "${BENCH_READ_ROUNDS:=5}"
: "${BENCH_READ_ITERS:=2000}"
: "${BENCH_RSS_CONTAINERS:=10}"
: "${BENCH_LXCFS:=auto}"
: "${BENCH_GO_TIMEOUT:=120}"
: "${BENCH_RETRIES:=3}"
: "${BENCH_SKIP:=}"
: "${BENCH_OUT:=$ROOT/.tmp/bench/latest.txt}"

RUNC=/usr/sbin/runc
SYSBOX_RUNC=$(command -v sysbox-runc || true)
IMG_BUSYBOX=sysbox-test/busybox
IMG_DEBIAN=sysbox-test/debian
READ_FILES=(/proc/uptime /proc/meminfo /proc/stat /proc/sys/kernel/hostname)
LXCFS_FILES=(/proc/uptime /proc/meminfo /proc/stat) # lxcfs has no /proc/sys
LXCFS_DIR=/var/lib/lxcfs-bench
LOCK=/run/sysboxd-bench.lock
TAG="sysboxd-bench=$$" # docker label on every container we start
FS_PIDFILE=${SYSBOX_RUN_DIR}/sysbox-fs.pid

WORK=
LXCFS_PID=
LOCKED=

skipped() { [[ " $BENCH_SKIP " == *" $1 "* ]]; }

# ---------------------------------------------------------------------------------------------
# Clean-up: containers, bundle containers, lxcfs, work dir. Runs on every exit.

mounts_under() { # prints mount points at or below $1 (host mount namespace)
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo
}

FLOOR_PID=
stop_floor() {
	if [ -n "$FLOOR_PID" ]; then
		kill "$FLOOR_PID" 2>/dev/null || true
		wait "$FLOOR_PID" 2>/dev/null || true
		FLOOR_PID=
	fi
	if [ -n "$WORK" ] && [ -n "$(mounts_under "$WORK/floor")" ]; then umount -l "$WORK/floor" 2>/dev/null || true; fi
}
stop_lxcfs() {
	if [ -n "$LXCFS_PID" ]; then
		kill "$LXCFS_PID" 2>/dev/null || true
		wait "$LXCFS_PID" 2>/dev/null || true
		LXCFS_PID=
	fi
	if [ -n "$(mounts_under "$LXCFS_DIR")" ]; then
		fusermount3 -u "$LXCFS_DIR" 2>/dev/null || umount -l "$LXCFS_DIR" 2>/dev/null || true
	fi
	if [ -d "$LXCFS_DIR" ]; then rmdir "$LXCFS_DIR" 2>/dev/null || true; fi
}

cleanup() {
	local rc=$? ids id
	trap - EXIT INT TERM
	set +e
	mapfile -t ids < <(docker ps -aq --filter "label=$TAG" 2>/dev/null)
	[ "${#ids[@]}" -gt 0 ] && docker rm -f "${ids[@]}" >/dev/null 2>&1
	if [ -n "$WORK" ]; then
		for id in $("$RUNC" --root "$WORK/state-runc" list -q 2>/dev/null); do
			"$RUNC" --root "$WORK/state-runc" delete -f "$id" >/dev/null 2>&1
		done
		if [ -n "$SYSBOX_RUNC" ]; then
			for id in $("$SYSBOX_RUNC" --root "$WORK/state-sysbox" list -q 2>/dev/null); do
				"$SYSBOX_RUNC" --root "$WORK/state-sysbox" delete -f "$id" >/dev/null 2>&1
			done
		fi
	fi
	stop_lxcfs
	stop_floor
	[ -n "$LOCKED" ] && rm -f "$LOCK"
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ -n "$(mounts_under "$WORK")" ]; then
			log "warning: mounts left under $WORK, not removing it: $(mounts_under "$WORK" | tr '\n' ' ')"
		else
			rm -rf "$WORK" # the bundle rootfs going away also lets sysbox-mgr drop its leases
		fi
	fi
	exit "$rc"
}

# ---------------------------------------------------------------------------------------------
# Output helpers. Everything printed goes to the terminal and to the results file.

out() { printf '%s\n' "$*" | tee -a "$WORK/results.txt"; }
outf() { # printf-style
	# shellcheck disable=SC2059
	printf "$@" | tee -a "$WORK/results.txt"
}

# field LABEL COL FILE: column COL (2=N 3=P10 4=P50 5=P90) of the summary line for LABEL.
field() { awk -F'\t' -v l="$1" -v c="$2" '$1 == l { print $c; exit }' "$3"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "-" && a + 0 <= b + 0) }'; }
verdict() { if le "$1" "$2"; then echo "met"; else echo "NOT MET"; fi; }

TARGETS=() # "target|figure|verdict" rows for the final summary
target() { TARGETS+=("$1|$2|$3"); }

# retry WHAT CMD...: runs CMD, and again after a pause when it fails, up to BENCH_RETRIES
# failures; each failure is recorded in $WORK/failures.log. Output goes where CMD's goes.
retry() {
	local what=$1 i rc
	shift
	for ((i = 0; ; i++)); do
		rc=0
		"$@" && return 0 || rc=$?
		[ "$i" -lt "$BENCH_RETRIES" ] || return "$rc"
		echo "$what: failed (exit $rc), run again" | tee -a "$WORK/failures.log" >&2
		sleep 2
	done
}

# ---------------------------------------------------------------------------------------------

preflight() {
	require_root
	[ -x "$RUNC" ] || die "$RUNC not found (Debian's runc package)"
	[ -n "$SYSBOX_RUNC" ] || die "sysbox-runc not in PATH (make install)"
	command -v gcc >/dev/null || die "gcc not found (apt-get install gcc)"
	docker_ok || die "docker does not answer (make install starts dockerd)"
	docker info --format '{{json .Runtimes}}' | grep -q '"sysbox-runc"' ||
		die "docker has no sysbox-runc runtime (make install registers it)"
	local img
	for img in "$IMG_BUSYBOX" "$IMG_DEBIAN"; do
		docker image inspect "$img" >/dev/null 2>&1 || die "image $img missing (make images IMAGES='busybox debian')"
	done
	pid_alive_as "$(cat "$FS_PIDFILE" 2>/dev/null)" sysbox-fs || die "sysbox-fs is not running ($FS_PIDFILE)"
}

build_tools() {
	gcc -O2 -Wall -static -o "$WORK/reader" "$ROOT/tests/bench/reader/reader.c"
	(cd "$ROOT" && go build -o "$WORK/benchtool" ./tests/bench/benchtool && go build -o "$WORK/fusefloor" ./tests/bench/fusefloor)
}

machine() {
	local cpu mem commit
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	commit=$(git -c safe.directory="$ROOT" -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
	out "Sysboxd benchmarks ($(date -u '+%Y-%m-%d %H:%M:%S UTC'))"
	out "  machine: kernel $(uname -r), $cpu, $(nproc) cores, $mem"
	out "  commit:  $commit; docker $(docker version --format '{{.Server.Version}}'); runc $("$RUNC" --version | awk 'NR == 1 { print $3 }'); sysbox-runc $("$SYSBOX_RUNC" --version | awk '{ print $3; exit }')"
	out "  load average at start: $(cut -d' ' -f1-3 /proc/loadavg)$(awk -v n="$(nproc)" '{ if ($1 > n) printf " (above the %d cores: other work is running, figures are noisy)", n }' /proc/loadavg)"
	out "  runs: $BENCH_RUNS per command after $BENCH_WARMUP warm-up rounds; reads: $BENCH_READ_ROUNDS containers x $BENCH_READ_ITERS per file"
}

# (a) ------------------------------------------------------------------------------------------
bench_docker() {
	local s=$WORK/docker.tsv run="docker run --rm --label $TAG" img r_bb r_deb
	out ""
	out "(a) Container start+exit through Docker: docker run --rm IMAGE true (ms)"
	"$WORK/benchtool" time -n "$BENCH_RUNS" -warmup "$BENCH_WARMUP" -unit ms \
		-retries "$BENCH_RETRIES" -log "$WORK/failures.log" \
		"runc busybox=$run $IMG_BUSYBOX true" \
		"sysbox busybox=$run --runtime=sysbox-runc $IMG_BUSYBOX true" \
		"runc debian=$run $IMG_DEBIAN true" \
		"sysbox debian=$run --runtime=sysbox-runc $IMG_DEBIAN true" >"$s"
	outf '  %-8s %8s %6s %6s | %10s %6s %6s | %6s %9s  %s\n' image "runc p50" p10 p90 "sysbox p50" p10 p90 ratio "overhead" "target <= 1.5"
	for img in busybox debian; do
		local rm sm
		rm=$(field "runc $img" 4 "$s")
		sm=$(field "sysbox $img" 4 "$s")
		local rt
		rt=$(ratio "$sm" "$rm")
		outf '  %-8s %8s %6s %6s | %10s %6s %6s | %6s %6.0f ms  %s\n' "$img" \
			"$rm" "$(field "runc $img" 3 "$s")" "$(field "runc $img" 5 "$s")" \
			"$sm" "$(field "sysbox $img" 3 "$s")" "$(field "sysbox $img" 5 "$s")" \
			"$rt" "$(awk -v a="$sm" -v b="$rm" 'BEGIN { print a - b }')" "$(verdict "$rt" 1.5)"
		target "(a) docker run $img: sysbox/runc <= 1.5" "$rt" "$(verdict "$rt" 1.5)"
		[ "$img" = busybox ] && r_bb=$rt || r_deb=$rt
	done
	# "Does not grow with image size": the debian ratio within 10% (noise) of the busybox one.
	local grow
	grow=$(awk -v d="$r_deb" -v b="$r_bb" 'BEGIN { print (d <= b * 1.10) ? "met" : "NOT MET" }')
	out "  ratio debian/busybox: $(ratio "$r_deb" "$r_bb") (target: the ratio does not grow with the image, <= 1.10 allowing for noise)"
	target "(a) ratio does not grow with image size (debian <= 1.10 x busybox)" "$r_deb vs $r_bb" "$grow"
}

# (b) ------------------------------------------------------------------------------------------
make_bundle() {
	local b=$WORK/bundle cid
	mkdir -p "$b/rootfs" "$b/runc" "$b/sysbox" "$WORK/state-runc" "$WORK/state-sysbox"
	cid=$(docker create --label "$TAG" "$IMG_BUSYBOX" true)
	docker export "$cid" | tar -C "$b/rootfs" -xf -
	docker rm "$cid" >/dev/null
	(cd "$b/runc" && "$RUNC" spec)
	"$SYSBOX_RUNC" spec -b "$b/sysbox"
	local d
	for d in runc sysbox; do
		jq --arg root "$b/rootfs" '.root.path = $root | .process.terminal = false | .process.args = ["true"]' \
			"$b/$d/config.json" >"$b/$d/config.json.new"
		mv "$b/$d/config.json.new" "$b/$d/config.json"
	done
}

bench_direct() {
	local s=$WORK/direct.tsv b=$WORK/bundle rm sm rt
	out ""
	out "(b) runc run vs sysbox-runc run on one busybox bundle, process 'true', no terminal (ms)"
	make_bundle
	"$WORK/benchtool" time -n "$BENCH_RUNS" -warmup "$BENCH_WARMUP" -unit ms \
		-retries "$BENCH_RETRIES" -log "$WORK/failures.log" \
		"runc=$RUNC --root $WORK/state-runc run -b $b/runc bench-runc-$$-{i}" \
		"sysbox-runc=$SYSBOX_RUNC --root $WORK/state-sysbox run -b $b/sysbox bench-sysbox-$$-{i}" >"$s"
	rm=$(field runc 4 "$s")
	sm=$(field sysbox-runc 4 "$s")
	rt=$(ratio "$sm" "$rm")
	outf '  %-12s %8s %8s %8s\n' runtime median p10 p90
	outf '  %-12s %8s %8s %8s\n' runc "$rm" "$(field runc 3 "$s")" "$(field runc 5 "$s")"
	outf '  %-12s %8s %8s %8s\n' sysbox-runc "$sm" "$(field sysbox-runc 3 "$s")" "$(field sysbox-runc 5 "$s")"
	out "  ratio sysbox-runc/runc: $rt (target <= 3): $(verdict "$rt" 3)"
	target "(b) sysbox-runc run / runc run <= 3" "$rt" "$(verdict "$rt" 3)"
}

# (c) ------------------------------------------------------------------------------------------
start_lxcfs() {
	[ "$BENCH_LXCFS" = 0 ] && { out "  lxcfs: skipped (BENCH_LXCFS=0)"; return 1; }
	if ! command -v lxcfs >/dev/null; then
		log "installing Debian's lxcfs for the comparison (apt-get install -y lxcfs)"
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q lxcfs >"$WORK/apt.log" 2>&1; then
			out "  lxcfs: not installable here (see apt-get install lxcfs), column left out"
			return 1
		fi
	fi
	[ -n "$(mounts_under "$LXCFS_DIR")" ] && stop_lxcfs # left by a killed run
	mkdir -p "$LXCFS_DIR"
	lxcfs -f -p "$WORK/lxcfs.pid" "$LXCFS_DIR" >"$WORK/lxcfs.log" 2>&1 &
	LXCFS_PID=$!
	local i
	for i in $(seq 50); do
		[ -r "$LXCFS_DIR/proc/meminfo" ] && return 0
		sleep 0.1
	done
	out "  lxcfs: did not come up at $LXCFS_DIR, column left out"
	log_tail "$WORK/lxcfs.log" 10
	stop_lxcfs
	return 1
}

# start_floor mounts tests/bench/fusefloor on $WORK/floor, serving LXCFS_FILES.
start_floor() {
	mkdir -p "$WORK/floor"
	"$WORK/fusefloor" "$WORK/floor" "${LXCFS_FILES[@]}" >"$WORK/floor.log" 2>&1 &
	FLOOR_PID=$!
	local i
	for i in $(seq 50); do
		grep -q '^ready$' "$WORK/floor.log" && return 0
		sleep 0.1
	done
	out "  fusefloor: did not come up, column left out"
	log_tail "$WORK/floor.log" 10
	stop_floor
	return 1
}

bench_read() {
	local cfgs=(host runc sysbox) have_lxcfs=0 have_floor=0 round k cfg n f
	out ""
	out "(c) Read latency: open + read-to-EOF + close from inside the container (us)"
	# shellcheck disable=SC2016 # awk's program, run in the container
	out "  fuse mounts in a system container: $(retry "list fuse mounts" docker run --rm --label "$TAG" \
		--runtime=sysbox-runc "$IMG_BUSYBOX" awk '$3 ~ /^fuse/ { printf "%s ", $2 }' /proc/self/mounts)"
	if start_lxcfs; then
		have_lxcfs=1
		cfgs+=(lxcfs)
	fi
	if start_floor; then
		have_floor=1
		cfgs+=(floor)
	fi
	local fl=()
	for f in "${LXCFS_FILES[@]}"; do fl+=(-v "$WORK/floor$f:$f:ro"); done # runc binds nothing in /proc/sys
	local run=(docker run --rm --label "$TAG" -v "$WORK/reader:/bench-reader:ro")
	local lx=()
	for f in "${LXCFS_FILES[@]}"; do lx+=(-v "$LXCFS_DIR$f:$f:ro"); done
	local rargs=(-n "$BENCH_READ_ITERS" -w 200)
	n=${#cfgs[@]}
	for round in $(seq 0 $((BENCH_READ_ROUNDS - 1))); do
		local extra=()
		[ "$round" = 0 ] && extra=(-s /proc/uptime) # procfs semantics: fresh after lseek(0)
		for k in $(seq 0 $((n - 1))); do
			cfg=${cfgs[$(((round + k) % n))]}
			local o=$WORK/read-$cfg-$round.out
			case $cfg in
			host) "$WORK/reader" "${rargs[@]}" "${extra[@]}" "${READ_FILES[@]}" >"$o" ;;
			runc) retry "read runc $round" "${run[@]}" "$IMG_BUSYBOX" \
				/bench-reader "${rargs[@]}" "${extra[@]}" "${READ_FILES[@]}" >"$o" ;;
			sysbox) retry "read sysbox $round" "${run[@]}" --runtime=sysbox-runc "$IMG_BUSYBOX" \
				/bench-reader "${rargs[@]}" "${extra[@]}" "${READ_FILES[@]}" >"$o" ;;
			lxcfs) retry "read lxcfs $round" "${run[@]}" "${lx[@]}" "$IMG_BUSYBOX" \
				/bench-reader "${rargs[@]}" "${extra[@]}" "${LXCFS_FILES[@]}" >"$o" ;;
			floor) retry "read floor $round" "${run[@]}" "${fl[@]}" "$IMG_BUSYBOX" \
				/bench-reader "${rargs[@]}" "${extra[@]}" "${LXCFS_FILES[@]}" >"$o" ;;
			esac
		done
		printf . >&2
	done
	echo >&2
	[ "$have_lxcfs" = 1 ] && stop_lxcfs
	[ "$have_floor" = 1 ] && stop_floor

	local s=$WORK/read.tsv
	for cfg in "${cfgs[@]}"; do
		awk -F'\t' -v c="$cfg" '$1 == "ns" { print c " " $2 "\t" $3 }' "$WORK"/read-"$cfg"-*.out
	done | "$WORK/benchtool" stats -unit us >"$s"

	outf '  %-26s %-42s %8s | %8s %6s %6s | %10s %6s %6s | %6s | %9s %6s | %9s %6s %8s | %s\n' \
		file "served in the system container" "host p50" "runc p50" p10 p90 "sysbox p50" p10 p90 ratio "lxcfs p50" ratio \
		"floor p50" ratio "sb/floor" target
	local limit m st rr sr lr fr ratio_s ratio_l ratio_f v
	for f in "${READ_FILES[@]}"; do
		m=$(awk -F'\t' -v f="$f" '$1 == "mount" && $2 == f { print $3 " " $4; exit }' "$WORK/read-sysbox-0.out")
		case $m in
		fuse*) st="virtual (${m%% *} on ${m#* })" ;;
		*) st="native (${m%% *})" ;;
		esac
		rr=$(field "runc $f" 4 "$s")
		sr=$(field "sysbox $f" 4 "$s")
		lr=$(field "lxcfs $f" 4 "$s")
		fr=$(field "floor $f" 4 "$s")
		ratio_s=$(ratio "$sr" "$rr")
		ratio_l=$(ratio "$lr" "$rr")
		ratio_f=$(ratio "$fr" "$rr")
		case $f in
		/proc/meminfo) limit=6 ;;
		/proc/uptime) limit=8 ;;
		*) limit= ;;
		esac
		if [ -z "$limit" ]; then
			v="-"
		elif [[ $st != virtual* ]]; then
			v="n/a: native"
			target "(c) $f sysbox/native <= ${limit}x" "$ratio_s (served natively)" "n/a (not virtualized in this build)"
		else
			v="<=${limit}x $(verdict "$ratio_s" "$limit")"
			target "(c) $f sysbox/native <= ${limit}x" "$ratio_s" "$(verdict "$ratio_s" "$limit")"
		fi
		outf '  %-26s %-42s %8s | %8s %6s %6s | %10s %6s %6s | %6s | %9s %6s | %9s %6s %8s | %s\n' "$f" "$st" \
			"$(field "host $f" 4 "$s")" "$rr" "$(field "runc $f" 3 "$s")" "$(field "runc $f" 5 "$s")" \
			"$sr" "$(field "sysbox $f" 3 "$s")" "$(field "sysbox $f" 5 "$s")" "$ratio_s" \
			"${lr:--}" "$ratio_l" "${fr:--}" "$ratio_f" "$(ratio "$sr" "$fr")" "$v"
		[ -n "$limit" ] && [ -n "$fr" ] &&
			target "(c) $f go-fuse floor/native (reference)" "$ratio_f" "$(verdict "$ratio_f" "$limit") by the floor itself"
	done
	out "  medians over $BENCH_READ_ROUNDS containers x $BENCH_READ_ITERS reads per file; ratio = median / runc median"
	out "  floor: tests/bench/fusefloor, a minimal go-fuse server with sysbox-fs's options serving copies of the"
	out "  host files (no cgroup reads), bound over /proc in a runc container: what any FUSE server costs here;"
	out "  sb/floor = sysbox p50 / floor p50, the part of the latency that is sysbox-fs's own"
	for cfg in runc sysbox lxcfs floor; do
		[ -f "$WORK/read-$cfg-0.out" ] || continue
		out "  /proc/uptime re-read after lseek(0) while kept open, $cfg: $(awk -F'\t' '$1 == "fresh" { print ($3 == "unchanged") ? "STALE (unchanged for 1.5 s)" : "fresh data after " $3 " ms" }' "$WORK/read-$cfg-0.out")"
	done
}

# (d) ------------------------------------------------------------------------------------------
fs_trees() { grep -c ' fuse.sysboxfs ' /proc/self/mountinfo || true; }
fs_status() { # prints "VmRSS VmHWM RssAnon RssFile" in kB of sysbox-fs
	awk '$1 ~ /^(VmRSS|VmHWM|RssAnon|RssFile):$/ { v[$1] = $2 }
		END { print v["VmRSS:"], v["VmHWM:"], v["RssAnon:"], v["RssFile:"] }' "/proc/$(cat "$FS_PIDFILE")/status"
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

bench_rss() {
	local n=$BENCH_RSS_CONTAINERS i rss0 hwm0 anon0 file0 trees0 rss hwm anon file trees ids=() id
	out ""
	local pid0 pid
	pid0=$(cat "$FS_PIDFILE")
	out "(d) sysbox-fs memory (VmRSS of the daemon)"
	read -r rss0 hwm0 anon0 file0 < <(fs_status)
	trees0=$(fs_trees)
	for i in $(seq 1 "$n"); do
		# shellcheck disable=SC2016 # the container's shell expands $f
		id=$(retry "rss container $i" docker run -d --label "$TAG" --runtime=sysbox-runc "$IMG_BUSYBOX" \
			sh -c 'for f in /proc/uptime /proc/meminfo /proc/stat /proc/loadavg /proc/cpuinfo; do cat $f >/dev/null 2>&1; done; exec sleep 600')
		ids+=("$id")
	done
	for id in "${ids[@]}"; do # each container's FUSE tree is mounted and was read from
		for i in $(seq 100); do
			[ -n "$(mounts_under "/var/lib/sysboxfs/$id")" ] && break
			sleep 0.1
		done
		retry "rss read $id" docker exec "$id" cat /proc/uptime >/dev/null
	done
	sleep 2
	read -r rss hwm anon file < <(fs_status)
	trees=$(fs_trees)
	pid=$(cat "$FS_PIDFILE")
	docker rm -f "${ids[@]}" >/dev/null
	outf '  %-50s %9s %9s %11s %11s\n' "" "VmRSS MB" "VmHWM MB" "RssAnon MB" "RssFile MB"
	outf '  %-50s %9s %9s %11s %11s\n' "before (pid $pid0, $trees0 FUSE trees mounted)" \
		"$(mb "$rss0")" "$(mb "$hwm0")" "$(mb "$anon0")" "$(mb "$file0")"
	outf '  %-50s %9s %9s %11s %11s\n' "$n system containers started (pid $pid, $trees trees)" \
		"$(mb "$rss")" "$(mb "$hwm")" "$(mb "$anon")" "$(mb "$file")"
	[ "$pid" = "$pid0" ] || out "  warning: sysbox-fs was restarted during the measurement (pid $pid0 -> $pid)"
	out "  (FUSE trees: all system containers on the machine, other users' included; RssFile is the"
	out "  mapped binary and libraries, shared and reclaimable; RssAnon is the daemon's own memory)"
	target "(d) sysbox-fs VmRSS with $n containers < 20 MB" "$(awk -v k="$rss" 'BEGIN { printf "%.2f", k / 1024 }') MB" "$(awk -v k="$rss" 'BEGIN { print (k < 20 * 1024) ? "met" : "NOT MET" }')"
}

# (e) ------------------------------------------------------------------------------------------
bench_go() {
	local pkg name rc
	out ""
	out "(e) sysbox-mgr Go benchmarks: go test -run '^\$' -bench . -benchtime 1x ./sysbox-mgr/..."
	out "    (each benchmark on its own, stopped after ${BENCH_GO_TIMEOUT}s)"
	# "go test -list" prints each package's benchmark names, then "ok <package>".
	if ! (cd "$ROOT" && go test -list '^Benchmark' ./sysbox-mgr/...) >"$WORK/go-list.out" 2>&1; then
		out "  FAILED to build:"
		tail -n 20 "$WORK/go-list.out" | sed 's/^/    /' | tee -a "$WORK/results.txt"
		return 0
	fi
	awk '/^Benchmark/ { names[n++] = $1 } /^ok / { for (i = 0; i < n; i++) print $2, names[i]; n = 0 }' \
		"$WORK/go-list.out" >"$WORK/go-benchmarks"
	if [ ! -s "$WORK/go-benchmarks" ]; then
		out "  (no benchmarks in ./sysbox-mgr/...)"
		return 0
	fi
	while read -r pkg name; do
		rc=0
		# timeout signals its whole process group, so the test binary stops with the go command;
		# the temp dirs of a benchmark stopped that way go with $WORK.
		mkdir -p "$WORK/gotmp"
		(cd "$ROOT" && TMPDIR=$WORK/gotmp timeout -k 10 "$BENCH_GO_TIMEOUT" \
			go test -run '^$' -bench "^$name\$" -benchtime 1x "$pkg") >"$WORK/go.out" 2>&1 </dev/null || rc=$?
		case $rc in
		0) grep '^Benchmark.*ns/op' "$WORK/go.out" | sed 's/^/  /' | tee -a "$WORK/results.txt" ;;
		124 | 137) outf '  %-32s did not finish within %ss (BENCH_GO_TIMEOUT)\n' "$name" "$BENCH_GO_TIMEOUT" ;;
		*)
			out "  $name FAILED (exit $rc):"
			grep -v '^\(ok\|PASS\|?\)' "$WORK/go.out" | tail -n 20 | sed 's/^/    /' | tee -a "$WORK/results.txt"
			;;
		esac
	done <"$WORK/go-benchmarks"
}

# ---------------------------------------------------------------------------------------------

main() {
	preflight
	exec 9>>"$LOCK"
	flock -n 9 || die "another bench run holds $LOCK; wait for it to finish"
	LOCKED=1
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	WORK=$(mktemp -d /var/tmp/sysboxd-bench.XXXXXX)
	: >"$WORK/results.txt"
	local start=$SECONDS
	build_tools
	machine
	skipped docker || bench_docker
	skipped direct || bench_direct
	skipped read || bench_read
	skipped rss || bench_rss
	skipped go || bench_go

	out ""
	out "Targets"
	local t
	for t in "${TARGETS[@]}"; do
		IFS='|' read -r name fig verd <<<"$t"
		outf '  %-66s %-28s %s\n' "$name" "$fig" "$verd"
	done
	if [ -s "$WORK/failures.log" ]; then
		out ""
		out "Failed runs (not counted, run again; other work on the machine):"
		sed 's/^/  /' "$WORK/failures.log" | tee -a "$WORK/results.txt"
	fi
	out ""
	out "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); took $((SECONDS - start)) s"
	mkdir -p "$(dirname "$BENCH_OUT")"
	cp "$WORK/results.txt" "$BENCH_OUT"
	log "results written to $BENCH_OUT"
}

main "$@"
