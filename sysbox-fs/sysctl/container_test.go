package sysctl

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (setns)")
	}
}

// fakeContainer serves a fake procfs (its sys tree is hostFiles plus
// files) as both the host's /proc/sys and the container's view, in this
// process's own namespaces.
func fakeContainer(t *testing.T, files map[string]string, pid func() int) (*Container, string) {
	t.Helper()
	all := map[string]string{}
	for k, v := range hostFiles {
		all[k] = v
	}
	for k, v := range files {
		all[k] = v
	}
	sys := fakeHostSys(t, all)
	proc, err := OpenProcDir(filepath.Dir(sys))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Close() })
	host := Host{Dir: sys}
	c := NewContainer(NewValues(NewTable(host, Knobs()), host), proc, "/proc", pid)
	t.Cleanup(c.Close)
	return c, sys
}

func TestJoinNamespacesRunsInTheTargetsNetworkNamespace(t *testing.T) {
	needRoot(t)
	cmd := exec.Command("unshare", "--net", "--uts", "--ipc", "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	want := ""
	for i := 0; i < 100; i++ { // unshare execs sleep once the namespaces exist
		if exe, _ := os.Readlink(filepath.Join("/proc", itoa(cmd.Process.Pid), "exe")); strings.HasSuffix(exe, "sleep") {
			want, _ = os.Readlink(filepath.Join("/proc", itoa(cmd.Process.Pid), "ns/net"))
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mine, _ := os.Readlink("/proc/self/ns/net")
	if want == "" || want == mine {
		t.Fatalf("child netns %q, mine %q", want, mine)
	}
	ns, err := JoinNamespaces("/proc", cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := ns.Do(func() { got, _ = os.Readlink("/proc/thread-self/ns/net") }); err != nil {
		t.Fatal(err)
	}
	ns.Close()
	if got != want {
		t.Errorf("thread in %s, want the child's %s", got, want)
	}
	if err := ns.Do(func() {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v", err)
	}
	if now, _ := os.Readlink("/proc/thread-self/ns/net"); now != mine {
		t.Errorf("this thread moved to %s", now)
	}
}

func TestContainerAnswersEAGAINBeforeRegister(t *testing.T) {
	c, _ := fakeContainer(t, nil, func() int { return 0 })
	if _, err := c.Lookup("net/ipv4/ip_forward"); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("lookup before register: %v", err)
	}
	if _, err := c.ReadDir(""); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("readdir before register: %v", err)
	}
}

func TestContainerMergesEmulatedKnobsIntoTheKernelsView(t *testing.T) {
	needRoot(t)
	c, sys := fakeContainer(t, map[string]string{
		"net/ipv4/ip_forward": "0\n",
		"kernel/core_pattern": "core\n",
		"net/ipv4/neigh/lo/x": "1\n",
	}, os.Getpid)
	// the container's view lacks neigh/default: only the host has it
	if err := os.RemoveAll(filepath.Join(sys, "net/ipv4/neigh/default")); err != nil {
		t.Fatal(err)
	}
	e, err := c.Lookup("kernel/panic")
	if err != nil || !e.Emulated || e.Dir || e.Mode != 0o644 {
		t.Errorf("kernel/panic: %+v %v", e, err)
	}
	e, err = c.Lookup("net/ipv4/ip_forward")
	if err != nil || e.Emulated || e.Dir {
		t.Errorf("ip_forward: %+v %v", e, err)
	}
	if _, err := c.Lookup("kernel/nothing"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("missing file: %v", err)
	}
	ents, err := c.ReadDir("net/ipv4/neigh")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "default,lo" || !ents[0].Dir {
		t.Errorf("net/ipv4/neigh lists %v", ents)
	}
	// the emulated dir that only the table knows
	if e, err := c.Lookup("net/ipv4/neigh/default"); err != nil || !e.Dir {
		t.Errorf("neigh/default: %+v %v", e, err)
	}
	ents, err = c.ReadDir("net/ipv4/neigh/default")
	if err != nil || len(ents) != 1 || ents[0].Name != "gc_thresh1" || !ents[0].Emulated {
		t.Errorf("neigh/default lists %+v, %v", ents, err)
	}
	// pass-through writes only where the namespaces are the container's
	if _, err := c.Open("kernel/core_pattern", os.O_WRONLY); !errors.Is(err, syscall.EACCES) {
		t.Errorf("write open of kernel/core_pattern: %v, want EACCES", err)
	}
	f, err := c.Open("net/ipv4/ip_forward", os.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("1\n"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b := readHost(t, sys, "net/ipv4/ip_forward"); b != "1\n" {
		t.Errorf("ip_forward %q after a pass-through write", b)
	}
	f, err = c.Open("kernel/core_pattern", os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64)
	if n, err := f.ReadAt(buf, 0); err != nil || string(buf[:n]) != "core\n" {
		t.Errorf("read core_pattern %q %v", buf[:n], err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// startNetns starts a process in new net, UTS and IPC namespaces, with
// hostname name, and returns its pid once it runs there.
func startNetns(t *testing.T, name string) int {
	t.Helper()
	cmd := exec.Command("unshare", "--net", "--uts", "--ipc", "sh", "-c", "hostname "+name+" && exec sleep 30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 200; i++ {
		if exe, _ := os.Readlink(filepath.Join("/proc", itoa(cmd.Process.Pid), "exe")); strings.HasSuffix(exe, "sleep") {
			return cmd.Process.Pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("namespaced process did not start")
	return 0
}

func TestRealProcfsPassThroughIsTheContainersNetworkAndUTSNamespace(t *testing.T) {
	needRoot(t)
	pid := startNetns(t, "sysctl-test-host")
	proc, err := OpenProc("/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	host := Host{Dir: "/proc/sys"}
	c := NewContainer(NewValues(NewTable(host, Knobs()), host), proc, "/proc", func() int { return pid })
	defer c.Close()

	hostBefore, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	want := "1\n"
	if string(hostBefore) == "1\n" {
		want = "0\n"
	}
	f, err := c.Open("net/ipv4/ip_forward", os.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(want), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	read := func(p string) string {
		f, err := c.Open(p, os.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 256)
		n, err := f.ReadAt(b, 0)
		if err != nil {
			t.Fatal(err)
		}
		return string(b[:n])
	}
	if got := read("net/ipv4/ip_forward"); got != want {
		t.Errorf("namespace's ip_forward %q, want %q", got, want)
	}
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(after) != string(hostBefore) {
		t.Errorf("host ip_forward changed from %q to %q", hostBefore, after)
	}
	if got := read("kernel/hostname"); got != "sysctl-test-host\n" {
		t.Errorf("hostname %q, want the namespace's", got)
	}
	// kernel.random.uuid: a new value per read
	if a, b := read("kernel/random/uuid"), read("kernel/random/uuid"); a == b {
		t.Errorf("uuid repeated: %s", a)
	}
	// the container's netns lacks net.core.default_qdisc: emulated, listed
	ents, err := c.ReadDir("net/core")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range ents {
		found = found || (e.Name == "default_qdisc" && e.Emulated)
	}
	if !found {
		t.Errorf("net/core lacks the emulated default_qdisc: %+v", ents)
	}
}
