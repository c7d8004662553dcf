//go:build e2e

package e2e

import (
	"strconv"
	"strings"
	"testing"
)

const fsPidFile = "/run/sysbox/sysbox-fs.pid"

func fsPid(t *testing.T) int { return pidFromFile(t, fsPidFile) }

// virtualFilesWork reads the container's virtual files and returns its
// uptime in seconds; it fails the test if any read fails or shows the host.
func virtualFilesWork(t *testing.T, name, when string) float64 {
	t.Helper()
	out, err := run(t, "docker", "exec", name, "sh", "-c",
		"cat /proc/uptime && grep MemTotal /proc/meminfo && cat /proc/sys/kernel/hostname && grep -c ' - fuse.sysboxfs ' /proc/self/mountinfo")
	if err != nil {
		t.Fatalf("%s: reading the virtual files failed: %v", when, err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("%s: got %q", when, out)
	}
	if !strings.Contains(lines[1], " 262144 kB") {
		t.Errorf("%s: %q, want the container's 256 MiB limit", when, lines[1])
	}
	if lines[2] == "" { // /proc/sys/kernel/hostname is served through the tree
		t.Errorf("%s: empty hostname from /proc/sys", when)
	}
	if n, _ := strconv.Atoi(lines[3]); n < 8 {
		t.Errorf("%s: %s fuse.sysboxfs mounts in the container, want the virtual files", when, lines[3])
	}
	up, err := strconv.ParseFloat(strings.Fields(lines[0])[0], 64)
	if err != nil {
		t.Fatalf("%s: uptime %q: %v", when, lines[0], err)
	}
	return up
}

// A restart of sysbox-fs (crash, upgrade, sysboxctl restart) must not break
// running system containers: the new daemon takes over their virtual files.
func TestSysboxFsRestartKeepsRunningContainersVirtualFiles(t *testing.T) {
	t.Cleanup(func() { startDaemons(t) })
	name := startSys(t, "--memory", "256m")
	before := virtualFilesWork(t, name, "before any restart")
	hostPanic := readHostFile(t, "/proc/sys/kernel/panic")
	// An emulated knob written inside keeps its value across restarts.
	must(t, "docker", "exec", name, "sh", "-c", "echo 7 > /proc/sys/kernel/panic")
	panicIs7 := func(when string) {
		t.Helper()
		if got := strings.TrimSpace(must(t, "docker", "exec", name, "cat", "/proc/sys/kernel/panic")); got != "7" {
			t.Errorf("%s: kernel.panic inside is %q, want the 7 written before", when, got)
		}
		if got := readHostFile(t, "/proc/sys/kernel/panic"); got != hostPanic {
			t.Errorf("%s: host kernel.panic changed from %q to %q", when, hostPanic, got)
		}
	}

	// A crash: SIGKILL, then a new daemon.
	signalAndWait(t, fsPid(t), "KILL")
	startDaemons(t)
	afterKill := virtualFilesWork(t, name, "after kill -9 and start")
	if afterKill < before {
		t.Errorf("uptime went back from %.2f to %.2f", before, afterKill)
	}
	panicIs7("after kill -9 and start")

	// A graceful restart.
	must(t, sysboxctl, "restart")
	afterRestart := virtualFilesWork(t, name, "after sysboxctl restart")
	if afterRestart < afterKill {
		t.Errorf("uptime went back from %.2f to %.2f", afterKill, afterRestart)
	}
	panicIs7("after sysboxctl restart")

	// Exec'd processes, which enter the same mount namespace, and new
	// containers work too.
	other := startSys(t, "--memory", "256m")
	virtualFilesWork(t, other, "new container after the restarts")
}
