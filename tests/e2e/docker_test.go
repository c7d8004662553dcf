//go:build e2e

package e2e

// The Docker options a user expects to work with --runtime=sysbox-runc
// (issue 3, item 4), each proven through the real docker CLI.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	debianDocker  = "sysbox-test/debian-docker"
	debianSystemd = "sysbox-test/debian-systemd"
)

// startBox starts a detached system container from image with the given
// docker run options and command; it is removed when the test ends. It
// returns the container's name.
func startBox(t *testing.T, opts []string, image string, cmd ...string) string {
	t.Helper()
	name := uniqueName(t)
	t.Cleanup(func() { run(t, "docker", "rm", "-f", name) })
	args := append([]string{"run", "-d", "--name", name, "--runtime=" + runtime}, opts...)
	args = append(append(args, image), cmd...)
	docker(t, args...)
	return name
}

// inspect returns docker inspect -f format for a container, trimmed.
func inspect(t *testing.T, name, format string) string {
	t.Helper()
	return strings.TrimSpace(docker(t, "inspect", "-f", format, name))
}

// dockerSplit runs docker and returns stdout, stderr and the exit code
// (-1 if it could not run at all).
func dockerSplit(t *testing.T, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout*slow())
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	default:
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
		return "", "", -1
	}
}

// waitLogs waits until the container's output contains want.
func waitLogs(t *testing.T, name, want string) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%q in the logs of %s", want, name), func() bool {
		out, errOut, _ := dockerSplit(t, nil, "logs", name)
		return strings.Contains(out+errOut, want)
	})
}

func lines(s string) []string {
	return strings.Split(strings.TrimSpace(s), "\n")
}

// --- -it, -d, --rm ---------------------------------------------------------

// A terminal (-it) gives the process a pty, carries typed input to it and
// its exit code back. script(1) supplies the terminal docker -t needs.
func TestRunWithTTYGivesAPtyAndCarriesInputAndExitCode(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) not installed")
	}
	name := uniqueName(t)
	t.Cleanup(func() { run(t, "docker", "rm", "-f", name) })
	line := fmt.Sprintf("docker run -it --rm --name %s --runtime=%s %s sh -c 'tty; read x; echo got-$x; exit 5'", name, runtime, busybox)
	cmd := exec.Command("script", "-qec", line, "/dev/null")
	cmd.Stdin = strings.NewReader("typed\n")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 5 {
		t.Fatalf("exit = %v, want code 5; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "/dev/pts/0") {
		t.Errorf("tty inside is not /dev/pts/0; output:\n%s", out)
	}
	if !strings.Contains(string(out), "got-typed") {
		t.Errorf("typed input did not reach the process; output:\n%s", out)
	}
}

// -d returns at once with the container running; --rm removes it, and its
// id lease, when its process exits.
func TestRunDetachedWithRmRemovesContainerAndLeaseOnExit(t *testing.T) {
	name := uniqueName(t)
	t.Cleanup(func() { run(t, "docker", "rm", "-f", name) })
	id := strings.TrimSpace(docker(t, "run", "-d", "--rm", "--name", name, "--runtime="+runtime, busybox, "sleep", "8"))
	if len(id) != 64 {
		t.Fatalf("docker run -d printed %q, want the container id", id)
	}
	if got := inspect(t, name, "{{.State.Running}}"); got != "true" {
		t.Fatalf("detached container is not running right after docker run -d returned: %s", got)
	}
	if _, held := mgrLeases(t)[id]; !held {
		t.Fatalf("running container %s holds no lease", id)
	}
	waitFor(t, 30*time.Second, "--rm to remove the container", func() bool {
		out, _ := run(t, "docker", "ps", "-aq", "--no-trunc", "-f", "id="+id)
		return strings.TrimSpace(out) == ""
	})
	waitFor(t, releaseWait, "lease release after --rm", func() bool {
		_, held := mgrLeases(t)[id]
		return !held
	})
}

// --- -e, -w, --hostname, -u, --init -----------------------------------------

func TestRunEnvWorkdirAndHostname(t *testing.T) {
	out := sysRun(t, "-e", "FOO=bar baz", "-w", "/var/spool/work", "--hostname", "sysbox-host",
		busybox, "sh", "-c", `echo "$FOO"; pwd; hostname; cat /etc/hostname`)
	want := []string{"bar baz", "/var/spool/work", "sysbox-host", "sysbox-host"}
	if got := lines(out); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// A non-root user gets no capabilities at all, as with runc.
func TestRunAsUser1000HasNoCapabilities(t *testing.T) {
	out := sysRun(t, "-u", "1000", busybox, "sh", "-c",
		"id -u; grep -E '^Cap(Inh|Prm|Eff|Amb)' /proc/self/status; touch /root-only 2>/dev/null && echo wrote || echo denied")
	l := lines(out)
	if len(l) != 6 || l[0] != "1000" {
		t.Fatalf("unexpected output:\n%s", out)
	}
	for _, c := range l[1:5] {
		if f := strings.Fields(c); len(f) != 2 || strings.Trim(f[1], "0") != "" {
			t.Errorf("uid 1000 has capabilities: %s", c)
		}
	}
	if l[5] != "denied" {
		t.Errorf("uid 1000 could write to / (%s)", l[5])
	}
}

func TestRunWithInitRunsDockerInitAsPid1(t *testing.T) {
	out := sysRun(t, "--init", busybox, "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$")
	l := lines(out)
	if len(l) != 2 || !strings.Contains(l[0], "docker-init") {
		t.Fatalf("pid 1 is not docker-init:\n%s", out)
	}
	if l[1] == "1" {
		t.Fatalf("the command runs as pid 1 despite --init")
	}
}

// --- filesystems ---------------------------------------------------------

func TestRunReadOnlyRootWithWritableRunAndTmp(t *testing.T) {
	out := sysRun(t, "--read-only", "--tmpfs", "/run", "--tmpfs", "/tmp", busybox, "sh", "-c",
		"touch /run/a && touch /tmp/b && echo rw-ok; touch /etc/x 2>&1; grep ' / ' /proc/mounts")
	l := lines(out)
	if len(l) != 3 || l[0] != "rw-ok" {
		t.Fatalf("unexpected output:\n%s", out)
	}
	if !strings.Contains(l[1], "Read-only file system") {
		t.Errorf("write to the read-only root: %q, want EROFS", l[1])
	}
	if f := strings.Fields(l[2]); len(f) < 4 || !strings.HasPrefix(f[3], "ro") {
		t.Errorf("root mount is not read-only: %q", l[2])
	}
}

func TestRunTmpfsMountHasItsOptions(t *testing.T) {
	out := sysRun(t, "--tmpfs", "/scratch:rw,size=8m,mode=1777", busybox, "sh", "-c",
		"grep ' /scratch ' /proc/mounts; stat -c '%a %u' /scratch; echo x > /scratch/f && stat -c %u /scratch/f")
	l := lines(out)
	if len(l) != 3 {
		t.Fatalf("unexpected output:\n%s", out)
	}
	if f := strings.Fields(l[0]); len(f) < 4 || f[2] != "tmpfs" || !strings.Contains(f[3], "size=8192k") {
		t.Errorf("/scratch mount %q: want tmpfs with size=8192k", l[0])
	}
	if l[1] != "1777 0" || l[2] != "0" {
		t.Errorf("/scratch mode/owner %q and new file owner %q, want '1777 0' and 0", l[1], l[2])
	}
}

// Host dirs, named volumes and single files (-v) are ID-mapped: host root's
// files are root's inside, what root writes inside is host root's on disk,
// and other ids keep their number.
func TestBindMountsAndVolumesAreIDMapped(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "by-host-root"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "by-1000"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(dir, "by-1000"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(t.TempDir(), "single.conf")
	if err := os.WriteFile(single, []byte("single\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vol := uniqueName(t)
	docker(t, "volume", "create", vol)
	t.Cleanup(func() { run(t, "docker", "volume", "rm", "-f", vol) })

	out := sysRun(t, "-v", dir+":/data", "-v", vol+":/vol", "-v", single+":/etc/single.conf", busybox, "sh", "-c",
		"stat -c %u:%g /data/by-host-root; stat -c %u /data/by-1000; "+
			"echo in > /data/by-container; mkdir /vol/d && echo v > /vol/d/f; "+
			"cat /etc/single.conf; echo appended >> /etc/single.conf; stat -c %u /etc/single.conf")
	want := []string{"0:0", "1000", "single", "0"}
	if got := lines(out); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("inside: got %q, want %q", got, want)
	}
	if uid := ownerOf(t, filepath.Join(dir, "by-container")); uid != 0 {
		t.Errorf("file written by container root into a host dir is uid %d on the host, want 0", uid)
	}
	mp := inspectVolume(t, vol)
	for _, p := range []string{filepath.Join(mp, "d"), filepath.Join(mp, "d", "f")} {
		if uid := ownerOf(t, p); uid != 0 {
			t.Errorf("%s made by container root in a named volume is uid %d on the host, want 0", p, uid)
		}
	}
	if got := readFile(t, single); got != "single\nappended\n" {
		t.Errorf("single-file bind on the host reads %q after the container appended", got)
	}
}

func inspectVolume(t *testing.T, vol string) string {
	t.Helper()
	return strings.TrimSpace(docker(t, "volume", "inspect", "-f", "{{.Mountpoint}}", vol))
}

// --- resources --------------------------------------------------------------

// --memory, --cpus and --pids-limit land in the container's own cgroups on
// the host and show the same inside; the pids limit stops a fork loop.
func TestRunResourceLimitsAreSetAndEnforced(t *testing.T) {
	needCgroupV1(t)
	name := startBox(t, []string{"--memory", "64m", "--cpus", "0.5", "--pids-limit", "20"}, busybox, "sleep", "3600")
	for _, c := range []struct{ ctrl, file, want string }{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"pids", "pids.max", "20"},
	} {
		host := strings.TrimSpace(readFile(t, filepath.Join(hostCgroupDir(t, name, c.ctrl), c.file)))
		inside := strings.TrimSpace(docker(t, "exec", name, "cat", filepath.Join("/sys/fs/cgroup", c.ctrl, c.file)))
		if host != c.want || inside != c.want {
			t.Errorf("%s: host %q, inside %q, want %q", c.file, host, inside, c.want)
		}
	}
	// Start far more processes than allowed: forks fail once 20 tasks exist.
	_, errOut, code := dockerSplit(t, nil, "exec", name, "sh", "-c", "for i in $(seq 40); do sleep 60 & done; wait")
	if code == 0 || !strings.Contains(errOut, "can't fork") {
		t.Errorf("40 background processes under --pids-limit 20: exit %d, stderr %q; want fork failures", code, errOut)
	}
	cur, err := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(hostCgroupDir(t, name, "pids"), "pids.current"))))
	if err != nil || cur > 20 {
		t.Errorf("pids.current = %d (%v), want at most 20", cur, err)
	}
}

// A positive oom_score_adj is applied as is; a negative one is raised to
// what the runtime may set (at least -999, and not below the value of its
// caller, containerd's shim) instead of failing the start.
func TestRunOOMScoreAdjPositiveAppliedNegativeClamped(t *testing.T) {
	if out := strings.TrimSpace(sysRun(t, "--oom-score-adj", "500", busybox, "cat", "/proc/1/oom_score_adj")); out != "500" {
		t.Errorf("--oom-score-adj 500: pid 1 has %q", out)
	}
	for _, v := range []int{-500, -1000} {
		name := startBox(t, []string{"--oom-score-adj", strconv.Itoa(v)}, busybox, "sleep", "3600")
		pid := inspect(t, name, "{{.State.Pid}}")
		shim := parentOf(t, pid)
		shimAdj := atoiFile(t, fmt.Sprintf("/proc/%d/oom_score_adj", shim))
		want := max(v, -999, shimAdj)
		got := atoiFile(t, "/proc/"+pid+"/oom_score_adj")
		inside := strings.TrimSpace(docker(t, "exec", name, "cat", "/proc/1/oom_score_adj"))
		if got != want || inside != strconv.Itoa(want) {
			t.Errorf("--oom-score-adj %d: init has %d on the host, %s inside; want %d (shim at %d)", v, got, inside, want, shimAdj)
		}
	}
}

func parentOf(t *testing.T, pid string) int {
	t.Helper()
	for _, l := range lines(readFile(t, "/proc/"+pid+"/status")) {
		if v, ok := strings.CutPrefix(l, "PPid:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no PPid in /proc/%s/status", pid)
	return 0
}

func atoiFile(t *testing.T, path string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(readFile(t, path)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}

// --- networking -------------------------------------------------------------

func TestDefaultBridgeNetworkReachesGateway(t *testing.T) {
	name := startBox(t, nil, busybox, "sleep", "3600")
	ip := inspect(t, name, "{{.NetworkSettings.IPAddress}}")
	gw := inspect(t, name, "{{.NetworkSettings.Gateway}}")
	if ip == "" || gw == "" {
		t.Fatalf("no bridge address (ip %q, gateway %q)", ip, gw)
	}
	out := docker(t, "exec", name, "sh", "-c", "ip -4 -o addr show eth0; ping -c1 -W5 "+gw+" >/dev/null && echo ping-ok")
	if !strings.Contains(out, ip+"/") || !strings.Contains(out, "ping-ok") {
		t.Fatalf("eth0 lacks %s or the gateway %s did not answer:\n%s", ip, gw, out)
	}
}

// On a user-defined network, Docker's embedded DNS resolves one system
// container's name for another.
func TestUserDefinedNetworkResolvesContainerNames(t *testing.T) {
	net := uniqueName(t)
	docker(t, "network", "create", net)
	t.Cleanup(func() { run(t, "docker", "network", "rm", net) }) // after the containers (LIFO)
	server := startBox(t, []string{"--network", net}, busybox, "sleep", "3600")
	client := startBox(t, []string{"--network", net}, busybox, "sleep", "3600")
	ip := inspect(t, server, "{{(index .NetworkSettings.Networks \""+net+"\").IPAddress}}")
	out := docker(t, "exec", client, "sh", "-c", "nslookup "+server+" 127.0.0.11; ping -c1 -W5 "+server+" >/dev/null && echo ping-ok")
	if !strings.Contains(out, "Address: "+ip) && !strings.Contains(out, "Address 1: "+ip) {
		t.Errorf("nslookup %s did not return %s:\n%s", server, ip, out)
	}
	if !strings.Contains(out, "ping-ok") {
		t.Errorf("ping by name failed:\n%s", out)
	}
}

func TestPublishedPortAnswersOnTheHost(t *testing.T) {
	name := startBox(t, []string{"-p", "127.0.0.1::80"}, busybox, "sh", "-c",
		"mkdir /www && echo served-by-sysbox > /www/index.html && exec httpd -f -p 80 -h /www")
	hostPort := strings.TrimSpace(docker(t, "port", name, "80/tcp"))
	if !strings.HasPrefix(hostPort, "127.0.0.1:") {
		t.Fatalf("docker port: %q", hostPort)
	}
	var body string
	waitFor(t, 20*time.Second, "httpd on "+hostPort, func() bool {
		resp, err := http.Get("http://" + hostPort + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	if body != "served-by-sysbox\n" {
		t.Fatalf("body %q", body)
	}
}

// --- exec ---------------------------------------------------------------------

func TestExecHonoursUserWorkdirAndEnv(t *testing.T) {
	name := startBox(t, nil, busybox, "sleep", "3600")
	out := docker(t, "exec", "-u", "1000", "-w", "/tmp", "-e", "X=from-exec", name, "sh", "-c",
		"id -u; pwd; echo $X; grep CapEff /proc/self/status")
	l := lines(out)
	if len(l) != 4 || l[0] != "1000" || l[1] != "/tmp" || l[2] != "from-exec" || strings.Trim(strings.Fields(l[3])[1], "0") != "" {
		t.Fatalf("exec -u 1000 -w /tmp -e: got %q", l)
	}
	// Root exec'd into the container gets the full set, in its own userns.
	root := docker(t, "exec", name, "sh", "-c", "id -u; grep CapEff /proc/self/status; cat /proc/self/uid_map")
	l = lines(root)
	if len(l) != 3 || l[0] != "0" || strings.Trim(strings.Fields(l[1])[1], "0") == "" {
		t.Fatalf("exec as root: %q", l)
	}
	if m := parseIDMap(t, l[2]); len(m) != 1 || m[0].outside == 0 {
		t.Fatalf("exec'd process is not in the container's user namespace: %q", l[2])
	}
	_, _, code := dockerSplit(t, nil, "exec", name, "sh", "-c", "exit 9")
	if code != 9 {
		t.Errorf("docker exec exit code %d, want 9", code)
	}
}

func TestExecWithTTYGivesAPtyAndCarriesInput(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) not installed")
	}
	name := startBox(t, nil, busybox, "sleep", "3600")
	cmd := exec.Command("script", "-qec", "docker exec -it "+name+" sh -c 'tty; read x; echo got-$x; exit 4'", "/dev/null")
	cmd.Stdin = strings.NewReader("typed\n")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 {
		t.Fatalf("exit = %v, want code 4; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "/dev/pts/") || !strings.Contains(string(out), "got-typed") {
		t.Fatalf("no pty or input lost; output:\n%s", out)
	}
}

// --- lifecycle: pause, stop, restart, kill ------------------------------------

func TestPauseFreezesAndUnpauseResumes(t *testing.T) {
	needCgroupV1(t)
	name := startBox(t, nil, busybox, "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done")
	merged := inspect(t, name, "{{.GraphDriver.Data.MergedDir}}")
	count := func() string { return strings.TrimSpace(readFile(t, filepath.Join(merged, "tmp", "count"))) }
	waitFor(t, 10*time.Second, "the counter to start", func() bool { _, err := os.Stat(filepath.Join(merged, "tmp", "count")); return err == nil })
	docker(t, "pause", name)
	if s := inspect(t, name, "{{.State.Status}}"); s != "paused" {
		t.Fatalf("status after pause: %s", s)
	}
	if st := strings.TrimSpace(readFile(t, filepath.Join(hostCgroupDir(t, name, "freezer"), "freezer.state"))); st != "FROZEN" {
		t.Fatalf("freezer.state = %s", st)
	}
	a := count()
	// Running, the loop would write about 7 new values in this window.
	holdsFor(t, 700*time.Millisecond, "the counter staying at "+a+" while paused", func() bool { return count() == a })
	docker(t, "unpause", name)
	waitFor(t, 5*time.Second, "the counter to move after unpause", func() bool { return count() != a })
	if s := inspect(t, name, "{{.State.Status}}"); s != "running" {
		t.Fatalf("status after unpause: %s", s)
	}
}

// docker stop delivers SIGTERM to the container's init (a shell trap sees
// it) and the exit code is the one the trap chose.
func TestStopDeliversSIGTERMAndKeepsExitCode(t *testing.T) {
	name := startBox(t, nil, busybox, "sh", "-c", `trap 'echo got-sigterm; exit 3' TERM; echo ready; while true; do sleep 1; done`)
	waitLogs(t, name, "ready")
	start := time.Now()
	docker(t, "stop", "-t", "20", name)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("docker stop took %s: SIGTERM was not acted on, docker had to SIGKILL", took)
	}
	if code := inspect(t, name, "{{.State.ExitCode}}"); code != "3" {
		t.Errorf("exit code %s, want 3", code)
	}
	waitLogs(t, name, "got-sigterm")
}

func TestKillSendsTheChosenSignal(t *testing.T) {
	name := startBox(t, nil, busybox, "sh", "-c", `trap 'echo got-usr1' USR1; echo ready; while true; do sleep 1; done`)
	waitLogs(t, name, "ready")
	docker(t, "kill", "-s", "USR1", name)
	waitLogs(t, name, "got-usr1")
	if s := inspect(t, name, "{{.State.Running}}"); s != "true" {
		t.Fatalf("container stopped on a trapped USR1")
	}
	docker(t, "kill", "-s", "KILL", name)
	waitFor(t, 10*time.Second, "the container to die", func() bool {
		out, _ := run(t, "docker", "inspect", "-f", "{{.State.Running}}", name)
		return strings.TrimSpace(out) == "false"
	})
	if code := inspect(t, name, "{{.State.ExitCode}}"); code != "137" {
		t.Errorf("exit code after SIGKILL %s, want 137", code)
	}
}

// docker restart runs the container's process again with the same id range
// and a working exec.
func TestRestartRunsAgainWithTheSameRange(t *testing.T) {
	name := startBox(t, nil, busybox, "sh", "-c", "echo boot; exec sleep 3600")
	waitLogs(t, name, "boot")
	before := containerRange(t, name)
	pid := inspect(t, name, "{{.State.Pid}}")
	docker(t, "restart", "-t", "1", name)
	if s := inspect(t, name, "{{.State.Running}}"); s != "true" {
		t.Fatalf("not running after restart")
	}
	if p := inspect(t, name, "{{.State.Pid}}"); p == pid {
		t.Fatalf("same init pid %s after restart", p)
	}
	waitFor(t, 10*time.Second, "a second boot in the logs", func() bool {
		out, _ := run(t, "docker", "logs", name)
		return strings.Count(out, "boot") == 2
	})
	if after := containerRange(t, name); after != before {
		t.Fatalf("range changed across restart: %+v -> %+v", before, after)
	}
}

// --- observation: top, stats, logs --------------------------------------------

// docker top lists the container's processes with their host uids: those of
// the container's range, not host root.
func TestTopListsProcessesWithRangeUIDs(t *testing.T) {
	name := startBox(t, nil, busybox, "sleep", "3600")
	r := containerRange(t, name)
	out := docker(t, "top", name, "-o", "uid,pid,args")
	found := false
	for _, l := range lines(out)[1:] {
		f := strings.Fields(l)
		if len(f) >= 3 && strings.Join(f[2:], " ") == "sleep 3600" {
			found = true
			if f[0] != strconv.FormatUint(r.outside, 10) {
				t.Errorf("sleep runs as host uid %s, want the range start %d", f[0], r.outside)
			}
		}
	}
	if !found {
		t.Fatalf("docker top does not list sleep 3600:\n%s", out)
	}
}

func TestStatsNoStreamReportsUsageAndLimit(t *testing.T) {
	name := startBox(t, []string{"--memory", "64m"}, busybox, "sleep", "3600")
	out := strings.TrimSpace(docker(t, "stats", "--no-stream", "--format", "{{.Name}}|{{.MemUsage}}|{{.PIDs}}", name))
	f := strings.Split(out, "|")
	if len(f) != 3 || f[0] != name || !strings.HasSuffix(f[1], "/ 64MiB") || f[2] == "0" || f[2] == "" {
		t.Fatalf("docker stats: %q, want name, usage / 64MiB and a pid count", out)
	}
	if strings.HasPrefix(f[1], "0B") {
		t.Errorf("memory usage reads 0: %q", f[1])
	}
}

func TestLogsKeepStdoutAndStderrApart(t *testing.T) {
	name := startBox(t, nil, busybox, "sh", "-c", "echo to-stdout; echo to-stderr >&2; sleep 3600")
	waitLogs(t, name, "to-stderr")
	stdout, stderr, code := dockerSplit(t, nil, "logs", name)
	if code != 0 || strings.TrimSpace(stdout) != "to-stdout" || strings.TrimSpace(stderr) != "to-stderr" {
		t.Fatalf("docker logs: code %d stdout %q stderr %q", code, stdout, stderr)
	}
}

// docker update --memory changes the running container's limit on the host,
// inside, and for the sub-cgroups container root made; delegation survives.
func TestUpdateMemoryChangesTheLimitEverywhere(t *testing.T) {
	needCgroupV1(t)
	name := startBox(t, []string{"--memory", "64m", "--memory-swap", "128m"}, busybox, "sleep", "3600")
	docker(t, "exec", name, "mkdir", "/sys/fs/cgroup/memory/sub")
	docker(t, "update", "--memory", "100m", "--memory-swap", "200m", name)
	const want = "104857600"
	host := strings.TrimSpace(readFile(t, filepath.Join(hostCgroupDir(t, name, "memory"), "memory.limit_in_bytes")))
	inside := strings.TrimSpace(docker(t, "exec", name, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"))
	sub := docker(t, "exec", name, "grep", "^hierarchical_memory_limit ", "/sys/fs/cgroup/memory/sub/memory.stat")
	if host != want || inside != want || strings.TrimSpace(strings.TrimPrefix(sub, "hierarchical_memory_limit")) != want {
		t.Fatalf("after update: host %s, inside %s, sub-cgroup %q; want %s", host, inside, sub, want)
	}
	if got := inspect(t, name, "{{.HostConfig.Memory}}"); got != want {
		t.Errorf("docker inspect Memory %s", got)
	}
	docker(t, "exec", name, "mkdir", "/sys/fs/cgroup/memory/sub2") // still delegated

	docker(t, "update", "--cpus", "1.5", "--pids-limit", "50", name)
	for _, c := range []struct{ ctrl, file, want string }{
		{"cpu", "cpu.cfs_quota_us", "150000"},
		{"pids", "pids.max", "50"},
	} {
		if got := strings.TrimSpace(docker(t, "exec", name, "cat", "/sys/fs/cgroup/"+c.ctrl+"/"+c.file)); got != c.want {
			t.Errorf("after update, %s = %s inside, want %s", c.file, got, c.want)
		}
	}
}

// --- copying, committing ----------------------------------------------------

// docker cp out of a running container, and into a stopped one (which then
// sees the file as root's). Copying INTO a RUNNING container is a known
// limitation (see the comment below): it fails and leaves the container
// healthy.
func TestCpOutOfRunningAndIntoStoppedContainer(t *testing.T) {
	name := startBox(t, nil, busybox, "sh", "-c", "echo from-inside > /made-inside; chmod 640 /made-inside; exec sleep 3600")
	host := t.TempDir()
	waitFor(t, 10*time.Second, "/made-inside", func() bool {
		_, err := run(t, "docker", "exec", name, "test", "-f", "/made-inside")
		return err == nil
	})
	docker(t, "cp", name+":/made-inside", filepath.Join(host, "out"))
	if got := readFile(t, filepath.Join(host, "out")); got != "from-inside\n" {
		t.Errorf("copied out %q", got)
	}
	if st, err := os.Stat(filepath.Join(host, "out")); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("copied-out file mode: %v %v", st, err)
	}

	// Into a RUNNING container: dockerd (host root, fsuid 0) writes through
	// the container's overlay, whose layers are ID-mapped to the container's
	// range; host uid 0 has no id in that mapping, so the kernel refuses the
	// create with EOVERFLOW. Use docker cp on a stopped container, or
	// `docker exec -i <c> tar -x -C <dir>` on a running one.
	in := filepath.Join(host, "in")
	if err := os.WriteFile(in, []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := dockerSplit(t, nil, "cp", in, name+":/copied-in"); code == 0 {
		t.Logf("docker cp into a running container now works: the limitation in docs is gone")
	} else {
		t.Logf("docker cp into a running container (known limitation): %s", strings.TrimSpace(errOut))
	}
	tarIn := exec.Command("sh", "-c", "tar -C "+host+" -c in | docker exec -i "+name+" tar -x -C /tmp")
	if out, err := tarIn.CombinedOutput(); err != nil {
		t.Fatalf("the documented workaround failed: %v: %s", err, out)
	}
	if got := docker(t, "exec", name, "stat", "-c", "%u %s", "/tmp/in"); strings.TrimSpace(got) != "0 10" {
		t.Errorf("file copied in with tar: %q, want owner 0 and 10 bytes", got)
	}

	docker(t, "stop", "-t", "1", name)
	docker(t, "cp", in, name+":/copied-in")
	docker(t, "start", name)
	if got := docker(t, "exec", name, "sh", "-c", "stat -c %u:%g /copied-in; cat /copied-in"); got != "0:0\nfrom-host\n" {
		t.Errorf("file copied into the stopped container shows %q inside", got)
	}
}

// A committed image holds its files with in-container ids (root is 0), so a
// plain runc container of it sees them as root's.
func TestCommitKeepsRootOwnership(t *testing.T) {
	name := startBox(t, nil, busybox, "sleep", "3600")
	docker(t, "exec", name, "sh", "-c", "mkdir /committed && echo x > /committed/root-file && touch /committed/u1234 && chown 1234:1234 /committed/u1234")
	image := "sysbox-e2e-commit:" + strings.TrimPrefix(name, "sysbox-e2e-")
	docker(t, "commit", name, image)
	t.Cleanup(func() { run(t, "docker", "rmi", "-f", image) })
	out := docker(t, "run", "--rm", "--runtime=runc", image, "stat", "-c", "%u:%g %n", "/committed", "/committed/root-file", "/committed/u1234", "/bin/busybox")
	want := []string{"0:0 /committed", "0:0 /committed/root-file", "1234:1234 /committed/u1234", "0:0 /bin/busybox"}
	if got := lines(out); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("committed image under runc: %q, want %q", got, want)
	}
}

// --- --privileged, Docker in Docker, systemd ----------------------------------

// --privileged is accepted but runs an ordinary system container: own user
// namespace, no host devices.
func TestPrivilegedRunsAsOrdinarySystemContainer(t *testing.T) {
	name := startBox(t, []string{"--privileged"}, busybox, "sleep", "3600")
	out := docker(t, "exec", name, "sh", "-c", "cat /proc/self/uid_map; ls /dev")
	l := lines(out)
	if m := parseIDMap(t, l[0]); len(m) != 1 || m[0].outside == 0 || m[0].count != 65536 {
		t.Fatalf("--privileged container has uid_map %q", l[0])
	}
	devs := strings.Fields(strings.Join(l[1:], " "))
	blocks, _ := os.ReadDir("/sys/class/block")
	for _, b := range blocks {
		for _, d := range devs {
			if d == b.Name() {
				t.Errorf("host block device %s is in the container's /dev", d)
			}
		}
	}
	for _, d := range devs {
		if strings.HasPrefix(d, "sd") || strings.HasPrefix(d, "vd") || strings.HasPrefix(d, "nvme") || d == "mem" || d == "kmem" {
			t.Errorf("host device %s exposed to a --privileged system container", d)
		}
	}
}

// Docker runs inside a system container, unprivileged, on overlay2, and
// runs containers of an image loaded into it.
func TestDockerInDockerRunsInnerContainers(t *testing.T) {
	name := startBox(t, nil, debianDocker, "dockerd", "--log-level=warn")
	waitFor(t, 60*time.Second, "the inner dockerd", func() bool {
		_, err := run(t, "docker", "exec", name, "docker", "version")
		return err == nil
	})
	if d := strings.TrimSpace(docker(t, "exec", name, "docker", "info", "--format", "{{.Driver}}")); d != "overlay2" {
		t.Fatalf("inner storage driver %q, want overlay2", d)
	}
	load := exec.Command("sh", "-c", "docker save "+busybox+" | docker exec -i "+name+" docker load")
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("load image inside: %v: %s", err, out)
	}
	out := docker(t, "exec", name, "docker", "run", "--rm", "--memory", "32m", busybox, "sh", "-c",
		"echo inner-ok; cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
	if got := lines(out); len(got) != 2 || got[0] != "inner-ok" || got[1] != "33554432" {
		t.Fatalf("inner container: %q", got)
	}
}

// systemd boots as the init of a system container with no failed unit
// ("running"): the debugfs and tracefs mounts it cannot make in a user
// namespace find /sys/kernel/debug and /sys/kernel/tracing already mounted
// (empty dirs served by sysbox-fs).
func TestSystemdBootsAsInitWithNoFailedUnits(t *testing.T) {
	name := startBox(t, nil, debianSystemd)
	var state string
	waitFor(t, 90*time.Second, "systemd to finish booting", func() bool {
		out, _, _ := dockerSplit(t, nil, "exec", name, "systemctl", "is-system-running", "--wait")
		state = strings.TrimSpace(out)
		return state != "" && state != "starting" && state != "initializing"
	})
	failed, _, _ := dockerSplit(t, nil, "exec", name, "systemctl", "--failed", "--no-legend", "--plain")
	if state != "running" {
		// The failed units' own words, for whoever reads the failure.
		var why strings.Builder
		for _, l := range lines(failed) {
			if f := strings.Fields(l); len(f) > 0 {
				out, _, _ := dockerSplit(t, nil, "exec", name, "journalctl", "--no-pager", "-o", "cat", "-n", "15", "-u", f[0])
				fmt.Fprintf(&why, "--- journal of %s:\n%s", f[0], out)
			}
		}
		t.Fatalf("systemd state %q, want running; failed units:\n%s%s", state, failed, why.String())
	}
	if pid1 := strings.TrimSpace(docker(t, "exec", name, "cat", "/proc/1/comm")); pid1 != "systemd" {
		t.Fatalf("pid 1 is %q", pid1)
	}
}
