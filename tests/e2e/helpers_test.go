//go:build e2e

// Package e2e drives the real docker CLI and the installed Sysboxd binaries.
// It needs root, a running dockerd with the sysbox-runc runtime registered,
// the sysbox daemons running, and the test images (make test sets all that
// up). Every test cleans up the containers it made.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	"github.com/sysboxd/sysboxd/sysbox-ipc/mgrclient"
	"github.com/sysboxd/sysboxd/sysbox-ipc/sysmgrpb"
)

const (
	runtime     = "sysbox-runc"
	busybox     = "sysbox-test/busybox"
	fuseRoot    = "/var/lib/sysboxfs"
	sysboxctl   = "sysboxctl"
	cmdTimeout  = 2 * time.Minute
	mgrPidFile  = "/run/sysbox/sysbox-mgr.pid"
	releaseWait = 15 * time.Second
)

// slow is the factor by which command and wait timeouts are stretched, from
// SYSBOX_E2E_SLOW (an integer, default 1): the stock-host test bed
// (tests/vm) runs the tests in an emulated guest where each docker run takes
// 10 to 30 s.
func slow() time.Duration {
	if n, err := strconv.Atoi(os.Getenv("SYSBOX_E2E_SLOW")); err == nil && n > 1 {
		return time.Duration(n)
	}
	return 1
}

// run runs a command and returns its stdout; stderr is in the error.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout*slow())
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// `sysbox-runc create` hands its stdio to the container's init, which
	// keeps the pipes open: stop waiting for output once the command exited.
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // exited fine; a child still holds the pipes
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\nstderr: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func must(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := run(t, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	return must(t, "docker", args...)
}

// sysRun runs a throwaway system container and returns its output.
func sysRun(t *testing.T, args ...string) string {
	t.Helper()
	return docker(t, append([]string{"run", "--runtime=" + runtime, "--rm"}, args...)...)
}

// startSys starts a detached system container that sleeps, removed at the
// end of the test.
func startSys(t *testing.T, extra ...string) string {
	t.Helper()
	name := uniqueName(t)
	// Removed even when the run fails half way (docker creates first).
	t.Cleanup(func() { run(t, "docker", "rm", "-f", name) })
	args := append([]string{"run", "-d", "--name", name, "--runtime=" + runtime}, extra...)
	args = append(args, busybox, "sleep", "3600")
	return strings.TrimSpace(docker(t, args...))
}

// uniqueName is a container name no other test uses.
func uniqueName(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("sysbox-e2e-%x", b)
}

// idRange is one line of a uid_map: inside, outside, count.
type idRange struct{ inside, outside, count uint64 }

func parseIDMap(t *testing.T, s string) []idRange {
	t.Helper()
	var out []idRange
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		var r idRange
		var err error
		if r.inside, err = strconv.ParseUint(f[0], 10, 64); err != nil {
			t.Fatalf("bad uid_map line %q", sc.Text())
		}
		r.outside, _ = strconv.ParseUint(f[1], 10, 64)
		r.count, _ = strconv.ParseUint(f[2], 10, 64)
		out = append(out, r)
	}
	return out
}

// containerRange reads the uid_map of a running container.
func containerRange(t *testing.T, id string) idRange {
	t.Helper()
	m := parseIDMap(t, docker(t, "exec", id, "cat", "/proc/self/uid_map"))
	if len(m) != 1 {
		t.Fatalf("container %s: uid_map has %d lines, want 1: %+v", id, len(m), m)
	}
	return m[0]
}

func fullID(t *testing.T, name string) string {
	t.Helper()
	return strings.TrimSpace(docker(t, "inspect", "-f", "{{.Id}}", name))
}

// mgrLeases asks sysbox-mgr for its leases, keyed by container id.
func mgrLeases(t *testing.T) map[string]*sysmgrpb.Lease {
	t.Helper()
	c, err := mgrclient.New(ipc.MgrSocket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*sysmgrpb.Lease{}
	for _, l := range st.GetLeases() {
		out[l.GetId()] = l
	}
	return out
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	timeout *= slow()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// holdsFor checks cond every 50 ms for the whole of d and fails the test
// the first time it does not hold: for what must not happen, where no
// event marks the end of the wait.
func holdsFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !cond() {
			t.Fatalf("%s did not hold for %s", what, d)
		}
	}
	if !cond() {
		t.Fatalf("%s did not hold for %s", what, d)
	}
}

// mountsUnder lists mount points at or below dir (host mount namespace).
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// mgrPid is the running sysbox-mgr's pid.
func mgrPid(t *testing.T) int { return pidFromFile(t, mgrPidFile) }

// pidFromFile reads a daemon's pid file.
func pidFromFile(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// stopMgr stops sysbox-mgr (SIGTERM or SIGKILL) and makes sure it is
// started again when the test ends.
func stopMgr(t *testing.T, sig string) {
	t.Helper()
	signalAndWait(t, mgrPid(t), sig)
	t.Cleanup(func() { startDaemons(t) })
}

// signalAndWait sends sig to a daemon and waits until it has exited.
func signalAndWait(t *testing.T, pid int, sig string) {
	t.Helper()
	must(t, "kill", "-"+sig, strconv.Itoa(pid))
	waitFor(t, 30*time.Second, "pid "+strconv.Itoa(pid)+" to exit", func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
		return err != nil
	})
}

func startDaemons(t *testing.T) {
	t.Helper()
	must(t, sysboxctl, "start")
}
