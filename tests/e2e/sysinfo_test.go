//go:build e2e

package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freeMem returns busybox free's "Mem:" line as numbers: total, used, free,
// shared, buff/cache (the units free was asked for).
func freeMem(t *testing.T, out string) []uint64 {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != "Mem:" {
			continue
		}
		var vals []uint64
		for _, s := range f[1:6] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("bad free line %q", line)
			}
			vals = append(vals, v)
		}
		return vals
	}
	t.Fatalf("no Mem: line in\n%s", out)
	return nil
}

// busybox free takes total, free, shared and buffers from sysinfo(2) and the
// page cache from /proc/meminfo: with the trap both are the container's.
func TestFreeAgreesWithTheContainersMeminfo(t *testing.T) {
	out := sysRun(t, "--memory", "256m", busybox, "sh", "-c", "free -k; cat /proc/meminfo")
	mem := freeMem(t, out)
	total, used, free := mem[0], mem[1], mem[2]
	if want := uint64(meminfoKB(t, out, "MemTotal")); total != 256*1024 || total != want {
		t.Fatalf("free total %d kB, /proc/meminfo MemTotal %d kB, want both %d\n%s", total, want, 256*1024, out)
	}
	// Read a moment apart: allow the container's usage to move by 4 MiB.
	if mf := uint64(meminfoKB(t, out, "MemFree")); free+4096 < mf || mf+4096 < free {
		t.Errorf("free's free %d kB, /proc/meminfo MemFree %d kB\n%s", free, mf, out)
	}
	if used > total || free > total {
		t.Errorf("used %d kB, free %d kB of %d kB\n%s", used, free, total, out)
	}
}

// busybox uptime is sysinfo's uptime and loads.
var upRE = regexp.MustCompile(`up +(\d+) min`)

func TestUptimeIsTheContainersUptime(t *testing.T) {
	if up := uptimeOf(t, strings.TrimSpace(readFile(t, "/proc/uptime"))); up < 120 {
		t.Skipf("the host itself is up %.0f s: its uptime would pass", up)
	}
	out := sysRun(t, busybox, "uptime")
	m := upRE.FindStringSubmatch(out)
	if m == nil || m[1] != "0" {
		t.Fatalf("uptime says %q, want \"up 0 min\" (a container that just started)", out)
	}
}

func TestExecProcessGetsTheContainersSysinfo(t *testing.T) {
	id := startSys(t, "--memory", "128m")
	waitFor(t, 10*time.Second, "the container's uptime to reach 1 s", func() bool {
		return uptimeOf(t, docker(t, "exec", id, "cat", "/proc/uptime")) >= 1
	})
	if mem := freeMem(t, docker(t, "exec", id, "free", "-m")); mem[0] != 128 {
		t.Errorf("exec'd free: total %d MiB, want 128", mem[0])
	}
	out := docker(t, "exec", id, "uptime")
	if m := upRE.FindStringSubmatch(out); m == nil || m[1] != "0" && m[1] != "1" {
		t.Errorf("exec'd uptime says %q, want the container's (0 or 1 min)", out)
	}
	// A process forked by an exec'd shell inherits its filter.
	if mem := freeMem(t, docker(t, "exec", id, "sh", "-c", "free -m | cat")); mem[0] != 128 {
		t.Errorf("free under an exec'd shell: total %d MiB, want 128", mem[0])
	}
}

func TestRuncContainerSeesTheHostsSysinfo(t *testing.T) {
	hostMiB := uint64(meminfoKB(t, readFile(t, "/proc/meminfo"), "MemTotal")) / 1024
	out := docker(t, "run", "--runtime=runc", "--rm", "--memory", "256m", busybox, "free", "-m")
	if mem := freeMem(t, out); mem[0] != hostMiB {
		t.Fatalf("runc container's free: total %d MiB, want the host's %d", mem[0], hostMiB)
	}
}
