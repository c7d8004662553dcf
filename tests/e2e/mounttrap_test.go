//go:build e2e

package e2e

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The mount traps (sysbox-fs's seccomp agent): a procfs mounted inside a
// system container gets the container's virtual files on top; the virtual
// files and the root /proc cannot be unmounted; fsopen of proc is refused
// so that tools fall back to mount(2).

// fieldAfter returns the first field after prefix on the line starting
// with prefix, "" when none.
func fieldAfter(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), prefix); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// hostUptime is the host's uptime in seconds; the test is skipped when
// the host is so fresh that a container's uptime could not be told apart.
func hostUptime(t *testing.T) float64 {
	t.Helper()
	up := uptimeOf(t, strings.TrimSpace(readFile(t, "/proc/uptime")))
	if up < 300 {
		t.Skipf("the host itself is up %.0f s: its uptime would pass", up)
	}
	return up
}

func uptimeSeconds(t *testing.T, s string) float64 {
	t.Helper()
	f := strings.Fields(s)
	if len(f) == 0 {
		t.Fatalf("no uptime in %q", s)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		t.Fatalf("uptime %q: %v", s, err)
	}
	return v
}

func TestProcMountedInsideShowsTheContainersMeminfoAndUptime(t *testing.T) {
	hostUptime(t)
	out := sysRun(t, "--memory", "256m", busybox, "sh", "-c",
		"mkdir /p && mount -t proc proc /p && grep MemTotal /p/meminfo && echo uptime $(cat /p/uptime) && "+
			"echo sysfs $(grep -c ' /p/sys .* fuse' /proc/self/mountinfo) && echo pid1 $(cat /p/1/comm)")
	if got := fieldAfter(out, "MemTotal:"); got != "262144" {
		t.Fatalf("MemTotal in the new procfs %q kB, want 262144\n%s", got, out)
	}
	if up := uptimeSeconds(t, fieldAfter(out, "uptime")); up > 60 {
		t.Errorf("uptime in the new procfs %.0f s, want the container's (a few seconds)\n%s", up, out)
	}
	if got := fieldAfter(out, "sysfs"); got != "1" {
		t.Errorf("/p/sys is not the container's virtual /proc/sys (%s fuse mounts)\n%s", got, out)
	}
	if got := fieldAfter(out, "pid1"); got != "sh" {
		t.Errorf("pid 1 of the new procfs is %q, want the container's init (sh)\n%s", got, out)
	}
}

func TestProcMountedReadOnlyInsideIsReadOnly(t *testing.T) {
	out := sysRun(t, busybox, "sh", "-c",
		"mkdir /p && mount -t proc -o ro,nosuid proc /p && grep ' /p ' /proc/self/mountinfo; grep ' /p/sys ' /proc/self/mountinfo; "+
			"echo x > /p/sys/kernel/hostname; echo write=$?")
	var procLine, sysLine string
	for _, l := range lines(out) {
		f := strings.Fields(l)
		if len(f) > 5 && f[4] == "/p" {
			procLine = f[5]
		}
		if len(f) > 5 && f[4] == "/p/sys" {
			sysLine = f[5]
		}
	}
	if !strings.HasPrefix(procLine, "ro,nosuid") || !strings.HasPrefix(sysLine, "ro,") {
		t.Fatalf("mount options /p %q, /p/sys %q; want both read-only\n%s", procLine, sysLine, out)
	}
	if fieldAfter(out, "write=") == "0" || !strings.Contains(out, "write=1") {
		t.Errorf("write to the read-only /p/sys succeeded\n%s", out)
	}
}

func TestUnshareMountProcShowsInnerPidsAndTheVirtualMeminfo(t *testing.T) {
	hostUptime(t)
	out := sysRun(t, "--memory", "256m", busybox, "sh", "-c",
		"unshare -fp --mount-proc sh -c 'echo pids $(ls /proc | grep -c \"^[0-9]*$\"); echo self $(cat /proc/self/stat | cut -d\" \" -f1); "+
			"echo pid1 $(cat /proc/1/comm); grep MemTotal /proc/meminfo; echo uptime $(cat /proc/uptime)'")
	if got := fieldAfter(out, "pid1"); got != "sh" {
		t.Errorf("pid 1 in the new pid namespace is %q, want sh\n%s", got, out)
	}
	if n, _ := strconv.Atoi(fieldAfter(out, "pids")); n < 1 || n > 4 {
		t.Errorf("%d pids in the new procfs, want only the inner namespace's few\n%s", n, out)
	}
	if got := fieldAfter(out, "MemTotal:"); got != "262144" {
		t.Errorf("MemTotal %q kB, want 262144\n%s", got, out)
	}
	if up := uptimeSeconds(t, fieldAfter(out, "uptime")); up > 60 {
		t.Errorf("uptime %.0f s, want the container's\n%s", up, out)
	}
}

func TestVirtualFilesAndRootProcCannotBeUnmounted(t *testing.T) {
	out := sysRun(t, "--memory", "256m", busybox, "sh", "-c",
		"umount /proc/meminfo; echo meminfo=$?; umount -l /proc/uptime; echo uptime=$?; umount -l /proc/sys; echo sys=$?; "+
			"umount -l /proc; echo proc=$?; touch /xf; mount --move /proc/uptime /xf; echo move=$?; "+
			"unshare -m sh -c 'umount /proc/meminfo; echo inner=$?'; "+
			"mkdir /p && mount -t proc proc /p && umount /p/meminfo; echo new=$?; "+
			"grep MemTotal /proc/meminfo; grep MemTotal /p/meminfo; "+
			"mkdir /t && mount -t tmpfs tmpfs /t && umount /t; echo tmpfs=$?; umount -l /p; echo newproc=$?")
	for _, k := range []string{"meminfo=", "uptime=", "sys=", "proc=", "move=", "inner=", "new="} {
		if got := fieldAfter(out, k); got == "0" || got == "" {
			t.Errorf("umount %s gave %q, want a failure\n%s", strings.TrimSuffix(k, "="), got, out)
		}
	}
	for _, k := range []string{"tmpfs=", "newproc="} {
		if got := fieldAfter(out, k); got != "0" {
			t.Errorf("umount %s gave %q, want success\n%s", strings.TrimSuffix(k, "="), got, out)
		}
	}
	n := 0
	for _, l := range lines(out) {
		if strings.HasPrefix(l, "MemTotal:") {
			n++
			if f := strings.Fields(l); len(f) < 2 || f[1] != "262144" {
				t.Errorf("after the refused umounts: %q, want the container's 262144 kB\n%s", l, out)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d MemTotal lines, want 2\n%s", n, out)
	}
}

// A proc mount through the trap and its umount, timed inside the
// container: the cost of the emulation.
func TestTrappedProcMountCost(t *testing.T) {
	const n = 100
	name := startSys(t)
	start := time.Now()
	out := docker(t, "exec", name, "sh", "-c",
		"mkdir -p /p && i=0; while [ $i -lt "+strconv.Itoa(n)+" ]; do mount -t proc proc /p || exit 1; umount -l /p || exit 1; i=$((i+1)); done; echo done")
	took := time.Since(start)
	if strings.TrimSpace(out) != "done" {
		t.Fatalf("loop: %q", out)
	}
	t.Logf("%d trapped proc mounts + umounts (plus one docker exec): %v, %v per pair", n, took, took/n)
}

// The inner containers of Docker in a system container get a procfs with
// the system container's virtual files: their meminfo shows the system
// container's memory limit, not the host's.
func TestInnerDockerContainerSeesTheVirtualMeminfo(t *testing.T) {
	name := startBox(t, []string{"--memory", "512m"}, debianDocker, "dockerd", "--log-level=warn")
	waitFor(t, 60*time.Second, "the inner dockerd", func() bool {
		_, err := run(t, "docker", "exec", name, "docker", "version")
		return err == nil
	})
	load := exec.Command("sh", "-c", "docker save "+busybox+" | docker exec -i "+name+" docker load")
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("load image inside: %v: %s", err, out)
	}
	out := docker(t, "exec", name, "docker", "run", "--rm", busybox, "sh", "-c",
		"grep MemTotal /proc/meminfo; grep -c ' /proc/meminfo .* fuse' /proc/self/mountinfo")
	if got := fieldAfter(out, "MemTotal:"); got != "524288" {
		t.Fatalf("inner container's MemTotal %q kB, want the system container's 524288\n%s", got, out)
	}
}

// Read-only, as runc mounts it for inner containers: the container's own
// /sys is read-only and locked, so the kernel refuses a read-write sysfs
// (EPERM), emulated or not.
func TestSysfsMountedInsideShowsTheContainersCPUs(t *testing.T) {
	out := sysRun(t, "--cpuset-cpus", "0", busybox, "sh", "-c",
		"mkdir /s && mount -o ro -t sysfs sysfs /s && echo online $(cat /s/devices/system/cpu/online) && "+
			"echo lo $(cat /s/class/net/lo/ifindex) && umount /s/devices/system/cpu/online; echo umount=$?")
	if got := fieldAfter(out, "online"); got != strings.TrimSpace(sysRun(t, "--cpuset-cpus", "0", busybox, "cat", "/sys/devices/system/cpu/online")) || got != "0" {
		t.Errorf("cpu/online in the new sysfs %q, want the container's 0\n%s", got, out)
	}
	if got := fieldAfter(out, "lo"); got != "1" {
		t.Errorf("class/net/lo/ifindex %q, want 1 (the container's net namespace)\n%s", got, out)
	}
	if got := fieldAfter(out, "umount="); got == "0" || got == "" {
		t.Errorf("umount of the virtual cpu/online: %q, want a failure\n%s", got, out)
	}
}
