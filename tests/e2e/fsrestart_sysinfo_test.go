//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	"github.com/sysboxd/sysboxd/sysbox-ipc/mgrclient"
)

// sysinfoLoop is a container init that runs busybox uptime (sysinfo(2)
// only, trapped by the notify fd the runtime handed over for init) every
// 0.2 s, counts the runs in /tmp/count and appends every run that failed
// (ENOSYS without an agent) or did not show the container's few minutes
// of uptime (the host's, if the call reached the kernel) to /tmp/errors.
// Its children share init's filter and notify fd, the one sysbox-mgr
// keeps across the restarts. (Not free: it also reads /proc/meminfo, a
// FUSE file, which is dead for the instant between the old daemon's exit
// and the new one's take-over.)
const sysinfoLoop = `n=0
while :; do
	out=$(uptime 2>&1); rc=$?
	n=$((n+1))
	case "$out" in *"up 0 min"*|*"up 1 min"*|*"up 2 min"*) ok=1 ;; *) ok=0 ;; esac
	if [ $rc -ne 0 ] || [ $ok = 0 ]; then echo "run $n: rc=$rc $out" >> /tmp/errors; fi
	echo $n > /tmp/count.new; mv /tmp/count.new /tmp/count
	sleep 0.2
done`

// startSysinfoLoop starts a system container running sysinfoLoop as init
// and returns its id.
func startSysinfoLoop(t *testing.T) string {
	t.Helper()
	name := uniqueName(t)
	t.Cleanup(func() { run(t, "docker", "rm", "-f", name) })
	return strings.TrimSpace(docker(t, "run", "-d", "--name", name, "--runtime="+runtime,
		"--memory", "256m", busybox, "sh", "-c", sysinfoLoop))
}

// loopRuns returns how many times the container's loop ran free, and the
// failed runs it recorded.
func loopRuns(t *testing.T, id string) (int, string) {
	t.Helper()
	out := docker(t, "exec", id, "sh", "-c", "cat /tmp/count 2>/dev/null || echo 0; cat /tmp/errors 2>/dev/null; true")
	first, rest, _ := strings.Cut(out, "\n")
	n, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatalf("loop count %q: %v", first, err)
	}
	return n, strings.TrimSpace(rest)
}

// loopAdvances waits until the loop ran free `by` more times than it had
// when called, and fails the test if any run failed.
func loopAdvances(t *testing.T, id, when string, by int) {
	t.Helper()
	start, errs := loopRuns(t, id)
	if errs != "" {
		t.Fatalf("%s: sysinfo failed in the container's init:\n%s", when, errs)
	}
	waitFor(t, 15*time.Second, when+": the container's init to run uptime again", func() bool {
		n, _ := loopRuns(t, id)
		return n >= start+by
	})
	if _, errs := loopRuns(t, id); errs != "" {
		t.Fatalf("%s: sysinfo failed in the container's init:\n%s", when, errs)
	}
}

// sysinfoWaiting reports whether a process of container id is inside
// sysinfo(2) (/proc/<pid>/syscall starts with its number): with sysbox-fs
// down, the trapped call waits there for the next agent.
func sysinfoWaiting(t *testing.T, id string) bool {
	t.Helper()
	procs := readFile(t, filepath.Join(hostCgroupDir(t, id, "pids"), "cgroup.procs"))
	for _, pid := range strings.Fields(procs) {
		b, err := os.ReadFile("/proc/" + pid + "/syscall")
		if err != nil {
			continue // exited meanwhile
		}
		if f := strings.Fields(string(b)); len(f) > 0 && f[0] == strconv.Itoa(unix.SYS_SYSINFO) {
			return true
		}
	}
	return false
}

// keptFor is how many notify fds sysbox-mgr keeps for container id.
func keptFor(t *testing.T, id string) int {
	t.Helper()
	c, err := mgrclient.New(ipc.MgrSocket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.KeptFds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range resp.GetFds() {
		if f.GetId() == id {
			n++
		}
	}
	return n
}

// stopFs stops sysbox-fs alone with sig and waits for it to exit;
// sysbox-mgr keeps running.
func stopFs(t *testing.T, sig string) { signalAndWait(t, fsPid(t), sig) }

// A restart of sysbox-fs alone (graceful or kill -9) must not break the
// trapped sysinfo(2) of running system containers: sysbox-mgr keeps a
// copy of each notify fd and the new sysbox-fs takes them back. Calls made
// while sysbox-fs is down wait for it instead of failing with ENOSYS.
// `sysboxctl restart` of both daemons must not either: it restarts
// sysbox-fs first, and sysbox-fs gives the new sysbox-mgr its copies again.
func TestSysboxFsRestartKeepsTrappedSysinfoWorking(t *testing.T) {
	t.Cleanup(func() { startDaemons(t) })
	mgrBefore := mgrPid(t)
	id := startSysinfoLoop(t)
	loopAdvances(t, id, "before any restart", 2)
	// If the agent last found sysbox-mgr down (an earlier test stopped it
	// just before a sweep), new fds are kept at its next sweep (10 s).
	waitFor(t, 15*time.Second, "sysbox-mgr to keep the container's notify fd", func() bool { return keptFor(t, id) >= 1 })

	for _, sig := range []string{"TERM", "KILL"} {
		when := "after SIGTERM and start"
		if sig == "KILL" {
			when = "after kill -9 and start"
		}
		stopFs(t, sig)
		waitFor(t, 10*time.Second, when+": a sysinfo call in the container to wait for sysbox-fs", func() bool { return sysinfoWaiting(t, id) })
		startDaemons(t)
		loopAdvances(t, id, when, 3)
		if n := keptFor(t, id); n < 1 {
			t.Fatalf("%s: sysbox-mgr keeps %d notify fds for the container", when, n)
		}
	}
	if p := mgrPid(t); p != mgrBefore {
		t.Fatalf("sysbox-mgr restarted (pid %d, was %d): the test proves nothing", p, mgrBefore)
	}

	must(t, sysboxctl, "restart")
	if p := mgrPid(t); p == mgrBefore {
		t.Fatalf("sysboxctl restart left sysbox-mgr running (pid %d)", p)
	}
	loopAdvances(t, id, "after sysboxctl restart", 3)
	waitFor(t, 20*time.Second, "sysbox-fs to give the new sysbox-mgr its copies", func() bool { return keptFor(t, id) >= 1 })
	stopFs(t, "KILL") // now only the new mgr's copies carry the fds
	startDaemons(t)
	loopAdvances(t, id, "after sysboxctl restart and kill -9 of sysbox-fs", 3)
	// Exec'd processes get new fds from the new daemon.
	if mem := freeMem(t, docker(t, "exec", id, "free", "-k")); mem[0] != 262144 {
		t.Errorf("exec'd free after the restarts: total %d kB, want 262144", mem[0])
	}
}
