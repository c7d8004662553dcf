//go:build e2e

package e2e

// cgroup delegation on a cgroup v2 (unified) host, the counterpart of
// cgroup_test.go: the container's /sys/fs/cgroup is a writable cgroup2 at its
// own cgroup, container root builds a subtree there (after moving its
// processes into a leaf, as the "no internal processes" rule demands on any
// v2 system), and the limits Docker set from outside (--memory, --cpus,
// --pids-limit, docker update) show inside and hold for the subtree. These
// tests skip on a v1 host; tests/vm runs them in a stock Debian 12 guest.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// needCgroupV2 skips a test on a host that is not cgroup v2 only.
func needCgroupV2(t *testing.T) {
	t.Helper()
	if !hostIsCgroupV2(t) {
		t.Skip("host is not cgroup v2 only (tests/vm runs this test in a cgroup v2 guest)")
	}
}

// hostCgroupV2Dir is the host directory of a running container's own cgroup
// in the unified hierarchy: the root of its cgroup namespace. It is the
// host's path of the init's cgroup (/proc/<pid>/cgroup, "0::/path") less the
// path the init sees inside (the runtime may keep the init in a leaf below
// the container's cgroup). The directory's name must carry the container id.
func hostCgroupV2Dir(t *testing.T, name string) string {
	t.Helper()
	pid := inspect(t, name, "{{.State.Pid}}")
	id := fullID(t, name)
	outside := v2Path(t, readFile(t, "/proc/"+pid+"/cgroup"))
	inside := v2Path(t, docker(t, "exec", name, "cat", "/proc/1/cgroup"))
	root := outside
	if inside != "/" {
		var ok bool
		if root, ok = strings.CutSuffix(outside, inside); !ok {
			t.Fatalf("init's cgroup is %s on the host but %s inside: not a namespace rooted at the container's cgroup", outside, inside)
		}
	}
	if !strings.Contains(filepath.Base(root), id) {
		t.Fatalf("the container's cgroup namespace root %s does not name container %s", root, id)
	}
	dir := filepath.Join("/sys/fs/cgroup", root)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("cgroup dir of %s: %v", name, err)
	}
	return dir
}

// v2Path is the unified hierarchy's path in a /proc/<pid>/cgroup text.
func v2Path(t *testing.T, procCgroup string) string {
	t.Helper()
	for _, l := range lines(procCgroup) {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	t.Fatalf("no cgroup v2 line in %q", procCgroup)
	return ""
}

// moveToLeaf is a shell snippet that moves every process of the container's
// root cgroup (the calling shell included) into the leaf /sys/fs/cgroup/init,
// so that controllers can be enabled for children of the root.
const moveToLeaf = `C=/sys/fs/cgroup
mkdir -p $C/init
for p in $(cat $C/cgroup.procs); do echo $p > $C/init/cgroup.procs 2>/dev/null || true; done
`

// Inside, /sys/fs/cgroup is a read-write cgroup2 mount whose root is the
// container's own cgroup, with its interface files owned by container root;
// root moves any processes still in the root into a leaf, enables the controllers for children,
// makes a child with limits of its own and moves a task there. On the host the
// child is below the container's cgroup and owned by the container's root; it
// is gone after rm. docker exec keeps working after the delegation.
func TestCgroupV2RootIsDelegatedAndBuildsASubtree(t *testing.T) {
	needCgroupV2(t)
	name := startBox(t, []string{"--memory", "128m"}, busybox, "sleep", "3600")
	r := containerRange(t, name)
	hostDir := hostCgroupV2Dir(t, name)

	view := docker(t, "exec", name, "sh", "-c", `cat /proc/self/cgroup
awk '$2 == "/sys/fs/cgroup" {print $3, $4}' /proc/mounts
stat -c '%u %n' /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/cgroup.subtree_control /sys/fs/cgroup/cgroup.threads
cat /sys/fs/cgroup/cgroup.controllers`)
	l := lines(view)
	if len(l) != 6 {
		t.Fatalf("cgroup view inside:\n%s", view)
	}
	if p, ok := strings.CutPrefix(l[0], "0::/"); !ok || strings.HasPrefix(p, "..") || strings.Contains(p, ".slice") {
		t.Errorf("/proc/self/cgroup inside is %q, want a path below the container's own cgroup as root", l[0])
	}
	if f := strings.Fields(l[1]); len(f) != 2 || f[0] != "cgroup2" || !strings.HasPrefix(f[1], "rw") {
		t.Errorf("/sys/fs/cgroup inside is mounted as %q, want a rw cgroup2", l[1])
	}
	for _, owner := range l[2:5] {
		if !strings.HasPrefix(owner, "0 ") {
			t.Errorf("inside: %s, want owned by root", owner)
		}
	}
	ctrls := strings.Fields(l[5])
	for _, c := range []string{"cpu", "memory", "pids"} {
		if !contains(ctrls, c) {
			t.Errorf("controller %s not available inside: %q", c, l[5])
		}
	}

	out, errOut, code := dockerSplit(t, nil, "exec", name, "sh", "-c", moveToLeaf+`
echo "+memory +pids +cpu" > $C/cgroup.subtree_control || exit 11
mkdir $C/sub || exit 12
cat $C/sub/cgroup.controllers
echo 33554432 > $C/sub/memory.max || exit 13
echo 7 > $C/sub/pids.max || exit 14
echo "20000 100000" > $C/sub/cpu.max || exit 15
sleep 3600 &
echo $! > $C/sub/cgroup.procs || exit 16
cat /proc/$!/cgroup $C/sub/memory.max $C/sub/pids.max $C/sub/cpu.max`)
	if code != 0 {
		t.Fatalf("building a subtree inside: exit %d (11 subtree_control, 12 mkdir, 13-15 limits, 16 move)\nstdout %s\nstderr %s", code, out, errOut)
	}
	l = lines(out)
	if len(l) != 5 {
		t.Fatalf("subtree probe:\n%s", out)
	}
	for _, c := range []string{"cpu", "memory", "pids"} {
		if !contains(strings.Fields(l[0]), c) {
			t.Errorf("controller %s not enabled for the child: %q", c, l[0])
		}
	}
	if got := strings.Join(l[1:], "|"); got != "0::/sub|33554432|7|20000 100000" {
		t.Errorf("task cgroup and child limits read back as %q", got)
	}

	sub := filepath.Join(hostDir, "sub")
	var st syscall.Stat_t
	if err := syscall.Stat(sub, &st); err != nil {
		t.Fatalf("child not below the container's cgroup on the host: %v", err)
	}
	if uint64(st.Uid) != r.outside {
		t.Errorf("child owned by host uid %d, want the container root's %d", st.Uid, r.outside)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(sub, "memory.max"))); got != "33554432" {
		t.Errorf("host sees the child's memory.max as %q", got)
	}

	// Later execs land in a cgroup with controllers enabled for children:
	// the runtime must still place them (systemd inside does the same).
	if _, err := run(t, "docker", "exec", name, "true"); err != nil {
		t.Errorf("docker exec after root enabled controllers inside: %v", err)
	}

	docker(t, "rm", "-f", name)
	if _, err := os.Stat(hostDir); err == nil {
		t.Errorf("%s left on the host after rm", hostDir)
	}
}

// --memory, --cpus and --pids-limit land in the container's cgroup on the
// host and read the same inside; root inside cannot raise them (the files are
// host root's); they hold for a child that has no limit of its own.
func TestCgroupV2LimitsFromOutsideShowAndHoldInside(t *testing.T) {
	needCgroupV2(t)
	name := startBox(t, []string{"--memory", "64m", "--memory-swap", "64m", "--shm-size", "256m",
		"--cpus", "0.5", "--pids-limit", "20"}, busybox, "sleep", "3600")
	hostDir := hostCgroupV2Dir(t, name)
	for _, c := range []struct{ file, want, raise string }{
		{"memory.max", "67108864", "max"},
		{"cpu.max", "50000 100000", "max 100000"},
		{"pids.max", "20", "max"},
	} {
		host := strings.TrimSpace(readFile(t, filepath.Join(hostDir, c.file)))
		inside := strings.TrimSpace(docker(t, "exec", name, "cat", "/sys/fs/cgroup/"+c.file))
		if host != c.want || inside != c.want {
			t.Errorf("%s: host %q, inside %q, want %q", c.file, host, inside, c.want)
		}
		_, errOut, code := dockerSplit(t, nil, "exec", name, "sh", "-c", "echo '"+c.raise+"' > /sys/fs/cgroup/"+c.file)
		if code == 0 {
			t.Errorf("container root wrote %q into its own %s", c.raise, c.file)
		} else if !strings.Contains(errOut, "Permission denied") {
			t.Errorf("raising %s: refused with %q, want Permission denied", c.file, errOut)
		}
		if after := strings.TrimSpace(readFile(t, filepath.Join(hostDir, c.file))); after != c.want {
			t.Errorf("%s changed from outside's %q to %q", c.file, c.want, after)
		}
	}

	out, errOut, code := dockerSplit(t, nil, "exec", name, "sh", "-c", moveToLeaf+`
echo "+memory +pids +cpu" > $C/cgroup.subtree_control || exit 11
mkdir $C/sub || exit 12
cat $C/sub/memory.max $C/sub/pids.max`)
	if code != 0 || strings.Join(lines(out), " ") != "max max" {
		t.Fatalf("making an unlimited child inside: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Each probe runs in its own exec, moved into the child first.
	const intoSub = "echo $$ > /sys/fs/cgroup/sub/cgroup.procs || exit 12\n"

	out, errOut, code = dockerSplit(t, nil, "exec", name, "sh", "-c", intoSub+`
dd if=/dev/zero of=/dev/shm/fill bs=1M count=150 2>/dev/null; echo dd-exit=$?
stat -c %s /dev/shm/fill; rm -f /dev/shm/fill`)
	if l := lines(out); len(l) != 2 {
		t.Errorf("memory probe: exit %d, stdout %q, stderr %q", code, out, errOut)
	} else {
		if l[0] == "dd-exit=0" {
			t.Errorf("150 MiB of shm written from a child of a 64m container")
		}
		if size := atoi(t, l[1]); size > 64<<20 {
			t.Errorf("the child stored %d bytes, above the container's 64m", size)
		}
	}

	before := readFile(t, filepath.Join(hostDir, "cpu.stat"))
	if _, errOut, code = dockerSplit(t, nil, "exec", name, "sh", "-c", intoSub+`timeout 3 sh -c 'while :; do :; done'; true`); code != 0 {
		t.Errorf("cpu probe: exit %d, stderr %q", code, errOut)
	}
	after := readFile(t, filepath.Join(hostDir, "cpu.stat"))
	if throttled(t, after) <= throttled(t, before) {
		t.Errorf("a busy loop in the child under --cpus 0.5 was never throttled:\nbefore %s\nafter %s", before, after)
	}

	// Last: the forked sleeps hold the pids budget until they end.
	_, errOut, code = dockerSplit(t, nil, "exec", name, "sh", "-c", intoSub+`for i in $(seq 40); do sleep 5 & done; wait`)
	if code == 12 || !strings.Contains(errOut, "can't fork") {
		t.Errorf("40 forks in an unlimited child of a --pids-limit 20 container: exit %d, stderr %q; want fork failures", code, errOut)
	}
	if cur := atoiFile(t, filepath.Join(hostDir, "pids.current")); cur > 20 {
		t.Errorf("pids.current %d above the container's limit 20", cur)
	}
}

// throttled is nr_throttled in a cpu.stat text.
func throttled(t *testing.T, cpuStat string) int {
	t.Helper()
	for _, l := range lines(cpuStat) {
		if v, ok := strings.CutPrefix(l, "nr_throttled "); ok {
			return atoi(t, v)
		}
	}
	t.Fatalf("no nr_throttled in cpu.stat:\n%s", cpuStat)
	return 0
}

// docker update changes the running container's limits on the host and
// inside, and root inside can still build a subtree afterwards.
func TestCgroupV2DockerUpdateIsSeenInside(t *testing.T) {
	needCgroupV2(t)
	name := startBox(t, []string{"--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5", "--pids-limit", "20"},
		busybox, "sleep", "3600")
	hostDir := hostCgroupV2Dir(t, name)
	docker(t, "update", "--memory", "100m", "--memory-swap", "200m", "--cpus", "1.5", "--pids-limit", "50", name)
	for _, c := range []struct{ file, want string }{
		{"memory.max", "104857600"},
		{"memory.swap.max", "104857600"}, // v2 counts swap apart: 200m total - 100m memory
		{"cpu.max", "150000 100000"},
		{"pids.max", "50"},
	} {
		if _, err := os.Stat(filepath.Join(hostDir, c.file)); err != nil {
			t.Logf("%s: %v (no swap accounting in this kernel?)", c.file, err)
			continue
		}
		host := strings.TrimSpace(readFile(t, filepath.Join(hostDir, c.file)))
		inside := strings.TrimSpace(docker(t, "exec", name, "cat", "/sys/fs/cgroup/"+c.file))
		if host != c.want || inside != c.want {
			t.Errorf("after update, %s: host %q, inside %q, want %q", c.file, host, inside, c.want)
		}
	}
	if got := inspect(t, name, "{{.HostConfig.Memory}}"); got != "104857600" {
		t.Errorf("docker inspect Memory %s after update", got)
	}
	if out := strings.TrimSpace(docker(t, "exec", name, "grep", "^MemTotal", "/proc/meminfo")); !strings.Contains(out, " 102400 kB") {
		t.Errorf("/proc/meminfo after update: %q, want the new 100m limit", out)
	}
	if _, errOut, code := dockerSplit(t, nil, "exec", name, "sh", "-c", moveToLeaf+`mkdir $C/after-update`); code != 0 {
		t.Errorf("root inside cannot make a child cgroup after the update: exit %d, %q", code, errOut)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
