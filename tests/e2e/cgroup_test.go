//go:build e2e

package e2e

// cgroup delegation on the host's cgroup v1 hierarchies (issue 3, item 3):
// container root manages sub-cgroups under its own cgroup, the limits
// Docker set hold for everything inside, and what the container may not
// change (its own limits, the devices it may use) is enforced from outside.
// The cgroup v2 code path is covered by the lifecycle unit tests on a fake
// tree (v2 cannot be switched on for tests on these hosts).

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cgroup2SuperMagic is the f_type of a cgroup2 file system (linux/magic.h).
const cgroup2SuperMagic = 0x63677270

// hostIsCgroupV2 reports whether the host's /sys/fs/cgroup is the unified
// (cgroup v2 only) hierarchy.
func hostIsCgroupV2(t *testing.T) bool {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Fatalf("statfs /sys/fs/cgroup: %v", err)
	}
	return st.Type == cgroup2SuperMagic
}

// needCgroupV1 skips a test that reads or writes the v1 hierarchies on a
// cgroup v2 host; cgroupv2_test.go proves the same there.
func needCgroupV1(t *testing.T) {
	t.Helper()
	if hostIsCgroupV2(t) {
		t.Skip("host runs cgroup v2 only: this test uses the v1 hierarchies (its v2 counterpart is in cgroupv2_test.go)")
	}
}

// hostCgroupDir is the host directory of a running container's cgroup in
// the v1 hierarchy of ctrl ("memory", "cpu", "systemd" for name=systemd...),
// read from its init's /proc/<pid>/cgroup.
func hostCgroupDir(t *testing.T, name, ctrl string) string {
	t.Helper()
	pid := inspect(t, name, "{{.State.Pid}}")
	want := ctrl
	if ctrl == "systemd" {
		want = "name=systemd"
	}
	for _, l := range lines(readFile(t, "/proc/"+pid+"/cgroup")) {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == want {
				dir := filepath.Join("/sys/fs/cgroup", ctrl, f[2])
				if _, err := os.Stat(dir); err != nil {
					t.Fatalf("cgroup dir of %s for %s: %v", name, ctrl, err)
				}
				return dir
			}
		}
	}
	t.Fatalf("container %s (pid %s) is in no %s cgroup", name, pid, ctrl)
	return ""
}

// v1Hierarchies lists the v1 hierarchies a container's init is in, by the
// name of their directory under /sys/fs/cgroup.
func v1Hierarchies(t *testing.T, name string) []string {
	t.Helper()
	pid := inspect(t, name, "{{.State.Pid}}")
	var out []string
	for _, l := range lines(readFile(t, "/proc/"+pid+"/cgroup")) {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 || f[1] == "" { // "0::/..." is the v2 hierarchy
			continue
		}
		out = append(out, strings.TrimPrefix(f[1], "name="))
	}
	return out
}

// Container root can create a child cgroup in every v1 hierarchy, write
// limits into it and move a task there; on the host the children are below
// the container's cgroup and owned by its root; everything is gone after rm.
func TestRootCreatesChildCgroupsInEveryV1Hierarchy(t *testing.T) {
	needCgroupV1(t)
	name := startBox(t, []string{"--memory", "128m"}, busybox, "sleep", "3600")
	r := containerRange(t, name)
	hier := v1Hierarchies(t, name)
	if len(hier) < 5 {
		t.Fatalf("container is in only %d v1 hierarchies: %v", len(hier), hier)
	}
	script := `set -e
for d in $(awk '$3 == "cgroup" {print $2}' /proc/mounts); do
	mkdir $d/sub
	if [ -f $d/cpuset.cpus ]; then cat $d/cpuset.cpus > $d/sub/cpuset.cpus; cat $d/cpuset.mems > $d/sub/cpuset.mems; fi
done
echo 32m > /sys/fs/cgroup/memory/sub/memory.limit_in_bytes
echo 7 > /sys/fs/cgroup/pids/sub/pids.max
echo 20000 > /sys/fs/cgroup/cpu/sub/cpu.cfs_quota_us
sleep 3600 &
for d in $(awk '$3 == "cgroup" {print $2}' /proc/mounts); do echo $! > $d/sub/cgroup.procs; done
cat /proc/$!/cgroup
cat /sys/fs/cgroup/memory/sub/memory.limit_in_bytes /sys/fs/cgroup/pids/sub/pids.max /sys/fs/cgroup/cpu/sub/cpu.cfs_quota_us
`
	out := docker(t, "exec", name, "sh", "-c", script)
	l := lines(out)
	got := map[string]string{}
	for _, line := range l {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && f[1] != "" {
			got[strings.TrimPrefix(f[1], "name=")] = f[2]
		}
	}
	for _, h := range hier {
		if got[h] != "/sub" {
			t.Errorf("hierarchy %s: task is in %q inside, want /sub", h, got[h])
		}
	}
	if n := len(l); n < 3 || strings.Join(l[n-3:], " ") != "33554432 7 20000" {
		t.Errorf("limits written into the children read back as %q", l)
	}
	for _, h := range hier {
		sub := filepath.Join(hostCgroupDir(t, name, h), "sub")
		var st syscall.Stat_t
		if err := syscall.Stat(sub, &st); err != nil {
			t.Errorf("hierarchy %s: child not below the container's cgroup on the host: %v", h, err)
			continue
		}
		if uint64(st.Uid) != r.outside {
			t.Errorf("hierarchy %s: child owned by host uid %d, want the container root's %d", h, st.Uid, r.outside)
		}
	}
	dirs := map[string]string{}
	for _, h := range hier {
		dirs[h] = hostCgroupDir(t, name, h)
	}
	docker(t, "rm", "-f", name)
	for h, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("hierarchy %s: %s left on the host after rm", h, d)
		}
	}
}

// Docker's limits hold for sub-cgroups the container makes: memory (a child
// without a limit is OOM-killed at the container's), pids (forks fail at the
// container's limit from a child whose own pids.max is "max") and cpu (a
// busy loop in a child is throttled to the container's quota).
func TestDockerLimitsHoldInsideSubCgroups(t *testing.T) {
	needCgroupV1(t)
	name := startBox(t, []string{"--memory", "64m", "--memory-swap", "64m", "--shm-size", "256m",
		"--pids-limit", "25", "--cpus", "0.5"}, busybox, "sleep", "3600")

	mem := docker(t, "exec", name, "sh", "-c", `M=/sys/fs/cgroup/memory
mkdir $M/sub; cat $M/sub/memory.limit_in_bytes; grep '^hierarchical_memory_limit ' $M/sub/memory.stat
echo $$ > $M/sub/cgroup.procs
dd if=/dev/zero of=/dev/shm/fill bs=1M count=150 2>/dev/null; echo dd-exit=$?
stat -c %s /dev/shm/fill; rm -f /dev/shm/fill`)
	l := lines(mem)
	if len(l) != 4 {
		t.Fatalf("memory probe output:\n%s", mem)
	}
	if own, _ := strconv.ParseInt(l[0], 10, 64); own < 1<<40 {
		t.Errorf("child has a limit of its own (%s): the test needs an unlimited child", l[0])
	}
	if l[1] != "hierarchical_memory_limit 67108864" {
		t.Errorf("child's effective limit: %q, want the container's 64m", l[1])
	}
	if l[2] == "dd-exit=0" {
		t.Errorf("150 MiB of shm written from a child of a 64m container")
	}
	if size, _ := strconv.ParseInt(l[3], 10, 64); size > 64<<20 {
		t.Errorf("the child stored %d bytes, above the container's 64m", size)
	}

	cpuDir := hostCgroupDir(t, name, "cpu")
	acct := filepath.Join(hostCgroupDir(t, name, "cpuacct"), "cpuacct.usage")
	before := atoiFile(t, acct)
	start := time.Now()
	docker(t, "exec", name, "sh", "-c", `C=/sys/fs/cgroup/cpu
mkdir $C/sub; echo $$ > $C/sub/cgroup.procs
timeout 3 sh -c 'while :; do :; done' || true`)
	wall := time.Since(start)
	used := time.Duration(atoiFile(t, acct) - before)
	stat := readFile(t, filepath.Join(cpuDir, "cpu.stat"))
	if !strings.Contains(stat, "nr_throttled") || strings.Contains(stat, "nr_throttled 0\n") {
		t.Errorf("container's cpu cgroup never throttled:\n%s", stat)
	}
	if float64(used) > 0.7*float64(wall) {
		t.Errorf("busy loop used %s CPU in %s wall under --cpus 0.5", used, wall)
	}

	_, errOut, code := dockerSplit(t, nil, "exec", name, "sh", "-c", `P=/sys/fs/cgroup/pids
mkdir $P/sub; [ "$(cat $P/sub/pids.max)" = max ] || exit 99
echo $$ > $P/sub/cgroup.procs
for i in $(seq 50); do sleep 2 & done; wait`)
	if code == 99 || !strings.Contains(errOut, "can't fork") {
		t.Errorf("50 forks in an unlimited child of a --pids-limit 25 container: exit %d, stderr %q", code, errOut)
	}
	if cur := atoiFile(t, filepath.Join(hostCgroupDir(t, name, "pids"), "pids.current")); cur > 25 {
		t.Errorf("pids.current %d above the container's limit 25", cur)
	}
}

// --cpuset-cpus holds: the container sees its cpus and cannot give a child
// a cpu outside them.
func TestCpusetLimitHoldsForChildren(t *testing.T) {
	needCgroupV1(t)
	if goruntime.NumCPU() < 2 {
		t.Skip("needs 2 cpus")
	}
	name := startBox(t, []string{"--cpuset-cpus", "0"}, busybox, "sleep", "3600")
	out, errOut, _ := dockerSplit(t, nil, "exec", name, "sh", "-c", `S=/sys/fs/cgroup/cpuset
cat $S/cpuset.cpus; mkdir $S/sub; echo 1 > $S/sub/cpuset.cpus && echo widened; echo 0 > $S/sub/cpuset.cpus && echo narrowed-ok; cat $S/sub/cpuset.cpus`)
	l := lines(out)
	if len(l) != 3 || l[0] != "0" || l[1] != "narrowed-ok" || l[2] != "0" {
		t.Fatalf("cpuset probe: stdout %q stderr %q", out, errOut)
	}
}

// The container cannot change its own limits: they are written by host root
// and stay owned by it.
func TestContainerCannotRaiseItsOwnLimits(t *testing.T) {
	needCgroupV1(t)
	name := startBox(t, []string{"--memory", "64m", "--pids-limit", "30", "--cpus", "0.5", "--cpuset-cpus", "0"}, busybox, "sleep", "3600")
	for _, c := range []struct{ ctrl, file, value string }{
		{"memory", "memory.limit_in_bytes", "1073741824"},
		{"memory", "memory.memsw.limit_in_bytes", "-1"},
		{"pids", "pids.max", "max"},
		{"cpu", "cpu.cfs_quota_us", "-1"},
		{"cpuset", "cpuset.cpus", fmt.Sprintf("0-%d", goruntime.NumCPU()-1)},
	} {
		hostFile := filepath.Join(hostCgroupDir(t, name, c.ctrl), c.file)
		if _, err := os.Stat(hostFile); err != nil {
			continue // e.g. no swap accounting
		}
		before := readFile(t, hostFile)
		_, errOut, code := dockerSplit(t, nil, "exec", name, "sh", "-c", "echo "+c.value+" > /sys/fs/cgroup/"+c.ctrl+"/"+c.file)
		if code == 0 {
			t.Errorf("container root wrote %s into its own %s", c.value, c.file)
		} else if !strings.Contains(errOut, "Permission denied") {
			t.Errorf("%s: refused with %q, want Permission denied", c.file, errOut)
		}
		if after := readFile(t, hostFile); after != before {
			t.Errorf("%s changed from %q to %q", c.file, before, after)
		}
	}
}

// The devices cgroup is set by the runtime from outside (Docker's rules,
// also for --privileged): the container cannot widen it, not even in a
// child, and cannot make device nodes.
func TestDevicesCgroupIsEnforcedFromOutside(t *testing.T) {
	needCgroupV1(t)
	for _, opts := range [][]string{nil, {"--privileged"}} {
		t.Run(strings.Join(append([]string{"opts"}, opts...), " "), func(t *testing.T) {
			name := startBox(t, opts, busybox, "sleep", "3600")
			hostList := readFile(t, filepath.Join(hostCgroupDir(t, name, "devices"), "devices.list"))
			if strings.Contains(hostList, "a *:* rwm") {
				t.Fatalf("the container's devices cgroup allows every device:\n%s", hostList)
			}
			if !strings.Contains(hostList, "c 1:3 rwm") {
				t.Errorf("the container's devices cgroup lacks /dev/null (c 1:3):\n%s", hostList)
			}
			out := docker(t, "exec", name, "sh", "-c", `D=/sys/fs/cgroup/devices
echo a > $D/devices.allow 2>/dev/null && echo own-widened
mkdir $D/sub && (echo a > $D/sub/devices.allow 2>/dev/null && echo sub-widened; true)
mknod /tmp/sda b 8 0 2>/dev/null && (head -c1 /tmp/sda >/dev/null 2>&1 && echo disk-readable; true)
mknod /tmp/mem c 1 1 2>/dev/null && (head -c1 /tmp/mem >/dev/null 2>&1 && echo mem-readable; true)
echo x > /dev/null && echo null-ok`)
			if strings.TrimSpace(out) != "null-ok" {
				t.Errorf("device probe: %q, want only null-ok", out)
			}
			if after := readFile(t, filepath.Join(hostCgroupDir(t, name, "devices"), "devices.list")); after != hostList {
				t.Errorf("devices.list changed from inside:\n%s", after)
			}
		})
	}
}
