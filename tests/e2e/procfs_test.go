//go:build e2e

package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// meminfoKB returns a /proc/meminfo field in kB.
func meminfoKB(t *testing.T, meminfo, key string) int {
	t.Helper()
	for _, line := range strings.Split(meminfo, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == key+":" {
			v, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("bad %s line %q", key, line)
			}
			return v
		}
	}
	t.Fatalf("no %s in meminfo:\n%s", key, meminfo)
	return 0
}

// The example: a 256 MiB, one-CPU system container sees a 256 MiB,
// one-CPU machine.
func TestProcShowsTheContainersMemoryAndCPUs(t *testing.T) {
	out := sysRun(t, "--memory", "256m", "--cpuset-cpus", "0", busybox, "sh", "-c",
		"free -m | grep Mem:; nproc; grep -c ^processor /proc/cpuinfo; cat /sys/devices/system/cpu/online; "+
			"grep -c '^cpu' /proc/stat; cat /proc/meminfo")
	lines := strings.Split(out, "\n")
	if len(lines) < 6 {
		t.Fatalf("unexpected output:\n%s", out)
	}
	if f := strings.Fields(lines[0]); len(f) < 2 || f[1] != "256" {
		t.Errorf("free -m: %q, want total 256", lines[0])
	}
	for i, want := range map[int]string{1: "1", 2: "1", 3: "0", 4: "2"} {
		if strings.TrimSpace(lines[i]) != want {
			t.Errorf("line %d (nproc, cpuinfo processors, cpu/online, cpu lines in /proc/stat) = %q, want %q\n%s",
				i, lines[i], want, out)
		}
	}
	meminfo := strings.Join(lines[5:], "\n")
	if total := meminfoKB(t, meminfo, "MemTotal"); total != 256*1024 {
		t.Errorf("MemTotal %d kB, want %d", total, 256*1024)
	}
	if free, total := meminfoKB(t, meminfo, "MemFree"), meminfoKB(t, meminfo, "MemTotal"); free <= 0 || free > total {
		t.Errorf("MemFree %d kB outside (0, MemTotal %d]", free, total)
	}
}

func TestEachContainerSeesOnlyItsOwnLimits(t *testing.T) {
	a := startSys(t, "--memory", "128m")
	b := startSys(t, "--memory", "384m")
	for id, want := range map[string]int{a: 128 * 1024, b: 384 * 1024} {
		if got := meminfoKB(t, docker(t, "exec", id, "cat", "/proc/meminfo"), "MemTotal"); got != want {
			t.Errorf("container %s MemTotal %d kB, want %d", id, got, want)
		}
	}
}

func TestWithoutLimitsProcShowsTheHostsTotals(t *testing.T) {
	host := meminfoKB(t, readFile(t, "/proc/meminfo"), "MemTotal")
	got := meminfoKB(t, sysRun(t, busybox, "cat", "/proc/meminfo"), "MemTotal")
	if got != host {
		t.Fatalf("MemTotal %d kB without a limit, want the host's %d", got, host)
	}
}

func TestStatBtimeIsTheContainersStart(t *testing.T) {
	out := sysRun(t, busybox, "sh", "-c", "grep ^btime /proc/stat; cat /proc/uptime")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("unexpected output %q", out)
	}
	btime, err := strconv.ParseInt(strings.Fields(lines[0])[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	up := uptimeOf(t, lines[1])
	if d := time.Now().Unix() - (btime + int64(up)); d < -3 || d > 3 {
		t.Fatalf("btime %d + uptime %.0f is %ds away from now", btime, up, d)
	}
	if time.Now().Unix()-btime > 60 {
		t.Fatalf("btime %d is the host's boot, not the container's start", btime)
	}
}

func TestLoadavgAndSwapsAreTheContainers(t *testing.T) {
	out := sysRun(t, busybox, "sh", "-c", "cat /proc/loadavg; cat /proc/swaps | wc -l")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("unexpected output %q", out)
	}
	f := strings.Fields(lines[0])
	if len(f) != 5 {
		t.Fatalf("loadavg %q has %d fields", lines[0], len(f))
	}
	// r/t counts the container's own threads: a handful, not the host's;
	// the reader itself (cat) is running, as the kernel counts it.
	rt := strings.Split(f[3], "/")
	running, err1 := strconv.Atoi(rt[0])
	total, err2 := strconv.Atoi(rt[1])
	if err1 != nil || err2 != nil || total < 1 || total > 20 || running < 1 || running > total {
		t.Fatalf("loadavg tasks %q: want the container's few threads, the reader running", f[3])
	}
	if lines[1] != "1" {
		t.Fatalf("/proc/swaps has %s lines without a swap limit, want the header only", lines[1])
	}
}

func TestVirtualProcFilesAreReadOnly(t *testing.T) {
	_, err := run(t, "docker", "run", "--runtime="+runtime, "--rm", busybox, "sh", "-c", "echo 1 > /proc/uptime")
	if err == nil {
		t.Fatal("container root wrote /proc/uptime")
	}
}

func TestRuncContainerKeepsTheNativeProc(t *testing.T) {
	out := docker(t, "run", "--rm", "--memory", "256m", busybox, "cat", "/proc/meminfo")
	host := meminfoKB(t, readFile(t, "/proc/meminfo"), "MemTotal")
	if got := meminfoKB(t, out, "MemTotal"); got != host {
		t.Fatalf("runc container MemTotal %d, want the host's %d", got, host)
	}
}
