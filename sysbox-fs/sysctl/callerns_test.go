package sysctl

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startIn starts argv (which must exec sleep) and returns its pid once it
// runs sleep.
func startIn(t *testing.T, argv ...string) int {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 300; i++ {
		if exe, _ := os.Readlink(filepath.Join("/proc", itoa(cmd.Process.Pid), "exe")); strings.HasSuffix(exe, "/sleep") {
			return cmd.Process.Pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%v did not start", argv)
	return 0
}

// startUserns starts a process in new user, net, UTS and IPC namespaces
// whose uid and gid 0 are the host's root (as a system container's) and
// returns its pid once it runs there.
func startUserns(t *testing.T, root int) int {
	t.Helper()
	cmd := exec.Command("unshare", "--user", "--net", "--uts", "--ipc", "sh", "-c", "read x; exec sleep 30")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	ok := false
	for i := 0; i < 300 && !ok; i++ {
		exe, _ := os.Readlink(filepath.Join("/proc", itoa(pid), "exe"))
		mine, _ := os.Readlink("/proc/self/ns/user")
		theirs, _ := os.Readlink(filepath.Join("/proc", itoa(pid), "ns/user"))
		ok = strings.HasSuffix(exe, "/sh") && theirs != mine
		if !ok {
			time.Sleep(10 * time.Millisecond)
		}
	}
	m := fmt.Sprintf("0 %d 65536", root)
	for _, f := range []string{"uid_map", "gid_map"} {
		if err := os.WriteFile(filepath.Join("/proc", itoa(pid), f), []byte(m), 0); err != nil {
			t.Fatal(err)
		}
	}
	in.Write([]byte("go\n"))
	for i := 0; i < 300; i++ {
		if exe, _ := os.Readlink(filepath.Join("/proc", itoa(pid), "exe")); strings.HasSuffix(exe, "/sleep") {
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("user-namespaced process did not start")
	return 0
}

func realContainer(t *testing.T, initPid int) *Container {
	t.Helper()
	proc, err := OpenProc("/proc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Close() })
	host := Host{Dir: "/proc/sys"}
	c := NewContainer(NewValues(NewTable(host, Knobs()), host), proc, "/proc", func() int { return initPid })
	t.Cleanup(c.Close)
	return c
}

func readFor(t *testing.T, c *Container, pid int, p string) string {
	t.Helper()
	f, err := c.OpenFor(pid, p, os.O_RDONLY)
	if err != nil {
		t.Fatalf("open %s for pid %d: %v", p, pid, err)
	}
	defer f.Close()
	b := make([]byte, 256)
	n, err := f.ReadAt(b, 0)
	if err != nil {
		t.Fatalf("read %s for pid %d: %v", p, pid, err)
	}
	return string(b[:n])
}

func writeFor(c *Container, pid int, p, v string) error {
	f, err := c.OpenFor(pid, p, os.O_WRONLY)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteAt([]byte(v), 0)
	return err
}

// A process of the container in namespaces of its own (unshare -n, an
// inner container) reads and writes its own namespaces' sysctls, not the
// container init's: a write to net.core.somaxconn from an `unshare -n`
// changed the container's.
func TestPassThroughFollowsTheCallersNamespaces(t *testing.T) {
	needRoot(t)
	initPid := startNetns(t, "callerns-init")
	inner := startNetns(t, "callerns-inner")
	c := realContainer(t, initPid)
	c.idle = time.Hour

	initBefore := readFor(t, c, initPid, "net/core/somaxconn")
	if err := writeFor(c, inner, "net/core/somaxconn", "2000\n"); err != nil {
		t.Fatal(err)
	}
	if got := readFor(t, c, inner, "net/core/somaxconn"); got != "2000\n" {
		t.Errorf("inner namespace's somaxconn %q after writing 2000", got)
	}
	if got := readFor(t, c, initPid, "net/core/somaxconn"); got != initBefore {
		t.Errorf("init's somaxconn changed from %q to %q by the inner namespace's write", initBefore, got)
	}
	if got := readFor(t, c, 0, "net/core/somaxconn"); got != initBefore {
		t.Errorf("no caller: somaxconn %q, want the init's %q", got, initBefore)
	}
	if got := readFor(t, c, inner, "kernel/hostname"); got != "callerns-inner\n" {
		t.Errorf("inner hostname %q", got)
	}
	if got := readFor(t, c, initPid, "kernel/hostname"); got != "callerns-init\n" {
		t.Errorf("init hostname %q", got)
	}
	// lookups too: a device only the inner namespace has
	if err := exec.Command("nsenter", "-t", itoa(inner), "-n", "ip", "link", "add", "callerns0", "type", "bridge").Run(); err != nil {
		t.Skipf("ip link add bridge: %v", err)
	}
	if _, err := c.LookupFor(inner, "net/ipv4/conf/callerns0"); err != nil {
		t.Errorf("inner lookup of its device: %v", err)
	}
	if _, err := c.LookupFor(initPid, "net/ipv4/conf/callerns0"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("init lookup of the inner device: %v, want ENOENT", err)
	}
	// one thread per namespace, not per request: net and uts of inner
	if n := c.callerThreads(); n != 2 {
		t.Errorf("%d caller threads, want 2 (inner's net and uts)", n)
	}
}

// A caller's thread holds its namespace alive: it ends once unused for
// the idle time, and a caller whose process is gone gets an error.
func TestCallerThreadsEndWhenIdle(t *testing.T) {
	needRoot(t)
	initPid := startNetns(t, "idle-init")
	inner := startNetns(t, "idle-inner")
	c := realContainer(t, initPid)
	c.idle = 0
	f, err := c.OpenFor(inner, "net/core/somaxconn", os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.callerThreads(); n != 1 {
		t.Fatalf("%d caller threads while a file is open, want 1", n)
	}
	f.Close()
	if n := c.callerThreads(); n != 0 {
		t.Errorf("%d caller threads after the last use, want 0", n)
	}
	if _, err := c.OpenFor(1<<22+7, "net/core/somaxconn", os.O_RDONLY); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("open for a pid that does not exist: %v, want ENOENT", err)
	}
}

// The kernel lets only the IPC namespace owner's root write kernel.shm*,
// msg*, sem and fs.mqueue.*: host root, whom the daemon's threads are, gets
// EACCES. They are written with the thread's euid set to that root, in the
// caller's IPC namespace, and the host's values do not change.
func TestIPCSysctlsAreWritableInTheCallersIPCNamespace(t *testing.T) {
	needRoot(t)
	const root = 300000
	initPid := startUserns(t, root)
	// an inner IPC namespace, created by the container's root
	inner := startIn(t, "nsenter", "-t", itoa(initPid), "-U", "unshare", "--ipc", "sleep", "30")
	c := realContainer(t, initPid)
	hostShmmni, _ := os.ReadFile("/proc/sys/kernel/shmmni")
	hostMsgMax, _ := os.ReadFile("/proc/sys/fs/mqueue/msg_max")
	for _, tc := range []struct {
		pid  int
		p, v string
	}{
		{initPid, "kernel/shmmni", "4000\n"},
		{initPid, "kernel/sem", "250\t32000\t32\t200\n"},
		{initPid, "fs/mqueue/msg_max", "20\n"},
		{inner, "kernel/shmmni", "3000\n"},
		{inner, "kernel/msgmnb", "32768\n"},
	} {
		if err := writeFor(c, tc.pid, tc.p, tc.v); err != nil {
			t.Errorf("pid %d: write %s: %v", tc.pid, tc.p, err)
			continue
		}
		if got := readFor(t, c, tc.pid, tc.p); got != tc.v {
			t.Errorf("pid %d: %s reads %q after writing %q", tc.pid, tc.p, got, tc.v)
		}
	}
	if got := readFor(t, c, initPid, "kernel/shmmni"); got != "4000\n" {
		t.Errorf("init's shmmni %q after the inner namespace's write, want 4000", got)
	}
	if b, _ := os.ReadFile("/proc/sys/kernel/shmmni"); string(b) != string(hostShmmni) {
		t.Errorf("host shmmni changed from %q to %q", hostShmmni, b)
	}
	if b, _ := os.ReadFile("/proc/sys/fs/mqueue/msg_max"); string(b) != string(hostMsgMax) {
		t.Errorf("host msg_max changed from %q to %q", hostMsgMax, b)
	}
	if euid := os.Geteuid(); euid != 0 {
		t.Errorf("the process's euid is %d after the writes", euid)
	}
}

// The host's own IPC namespace is never written (a container sharing it).
func TestIPCSysctlsOfTheHostsNamespaceAreRefused(t *testing.T) {
	needRoot(t)
	c := realContainer(t, os.Getpid())
	if err := writeFor(c, 0, "kernel/shmmni", "4096\n"); !errors.Is(err, syscall.EACCES) {
		t.Errorf("write of the host's shmmni: %v, want EACCES", err)
	}
}

func TestRootOf(t *testing.T) {
	for _, tc := range []struct {
		m    string
		want int
	}{
		{"         0     165536      65536\n", 165536},
		{"1000 1000 1\n0 200000 1000\n", 200000},
		{"1000 1000 1\n", -1},
		{"", -1},
		{"0 5 0\n", -1},
	} {
		if got := rootOf(tc.m); got != tc.want {
			t.Errorf("rootOf(%q) = %d, want %d", tc.m, got, tc.want)
		}
	}
}

// ping_group_range through the pass-through: gids of the container's user
// namespace in and out; a gid it does not map, or past INT_MAX, is EINVAL
// as the kernel answers inside (host root's write accepted both).
func TestPingGroupRangeUsesTheContainersGids(t *testing.T) {
	needRoot(t)
	const root = 310000
	initPid := startUserns(t, root)
	c := realContainer(t, initPid)
	for _, bad := range []string{"0 2147483648\n", "0 65536\n"} {
		if err := writeFor(c, initPid, pingGroupRange, bad); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("write %q: %v, want EINVAL", bad, err)
		}
	}
	if got := readFor(t, c, initPid, pingGroupRange); got != "65534\t65534\n" {
		t.Errorf("new namespace's range %q, want the kernel's unmapped 1 0", got)
	}
	if err := writeFor(c, initPid, pingGroupRange, "0 1000\n"); err != nil {
		t.Fatal(err)
	}
	if got := readFor(t, c, initPid, pingGroupRange); got != "0\t1000\n" {
		t.Errorf("range %q after writing 0 1000", got)
	}
	// the kernel's own view, read by a process in the namespaces
	out, err := exec.Command("nsenter", "-t", itoa(initPid), "-U", "-n", "cat", "/proc/sys/"+pingGroupRange).Output()
	if err != nil || string(out) != "0\t1000\n" {
		t.Errorf("the kernel shows the namespace %q (%v), want 0 1000", out, err)
	}
}
