package seccomp

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	fakeUptime  = "4242.00 8000.00\n"
	fakeMeminfo = "MemTotal:         262144 kB\n"
	fakeOnline  = "0\n"
)

// fakeTree makes a container's "FUSE tree" on a tmpfs of its own (so its
// device identifies it, as the FUSE mount's does): proc/uptime,
// proc/meminfo and a proc/sys directory, and returns its virtual files.
func fakeTree(t *testing.T) []VirtualFile {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	for name, text := range map[string]string{"proc/uptime": fakeUptime, "proc/meminfo": fakeMeminfo, "proc/sys/marker": "virtual sys\n",
		"sys/devices/system/cpu/online": fakeOnline} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return []VirtualFile{
		{Destination: "/proc/meminfo", Source: filepath.Join(dir, "proc/meminfo")},
		{Destination: "/proc/sys", Source: filepath.Join(dir, "proc/sys")},
		{Destination: "/proc/uptime", Source: filepath.Join(dir, "proc/uptime")},
		{Destination: "/sys/devices/system/cpu/online", Source: filepath.Join(dir, "sys/devices/system/cpu/online")},
	}
}

// startMountAgent starts an agent with the mount traps on for c1, and a
// child in a mount namespace of its own (its mounts never reach the host).
func startMountAgent(t *testing.T, id string) (*testAgent, *trapped) {
	t.Helper()
	return startMountAgentWith(t, id, 0)
}

// startMountAgentWith also gives the child the namespaces in cloneflags.
func startMountAgentWith(t *testing.T, id string, cloneflags uintptr) (*testAgent, *trapped) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts, another process's memory)")
	}
	reg := &registry{ids: map[string]bool{"c1": true}, files: fakeTree(t)}
	ta := startAgentWith(t, Config{Sweep: time.Hour}, reg)
	c := startChildWith(t, ta, id, &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Cloneflags: cloneflags})
	return ta, c
}

func TestProcMountGetsTheVirtualFilesOnTop(t *testing.T) {
	_, c := startMountAgent(t, "c1")
	p := t.TempDir()
	if a := c.do(t, "mount proc "+p+" 0"); a.Errno != 0 {
		t.Fatalf("mount -t proc: errno %d", a.Errno)
	}
	for file, want := range map[string]string{"uptime": fakeUptime, "meminfo": fakeMeminfo, "sys/marker": "virtual sys\n"} {
		if a := c.do(t, "read "+filepath.Join(p, file)); a.Errno != 0 || a.Text != want {
			t.Errorf("%s: errno %d, %q; want the virtual %q", file, a.Errno, a.Text, want)
		}
	}
	// The rest is a real procfs of the caller's pid namespace.
	if a := c.do(t, "read "+filepath.Join(p, "self/stat")); a.Errno != 0 ||
		!strings.HasPrefix(a.Text, strconv.Itoa(c.cmd.Process.Pid)+" ") {
		t.Errorf("self/stat: errno %d, %.40q; want the child's pid %d", a.Errno, a.Text, c.cmd.Process.Pid)
	}
	if a := c.do(t, "mountopts "+p); !strings.HasPrefix(a.Text, "rw,") {
		t.Errorf("proc mount options %q, want rw", a.Text)
	}
	// The virtual files cannot be unmounted; the procfs itself can.
	for _, f := range []string{"uptime", "meminfo", "sys"} {
		for _, flags := range []int{0, unix.MNT_DETACH, unix.MNT_EXPIRE} {
			if a := c.do(t, "umount "+filepath.Join(p, f)+" "+strconv.Itoa(flags)); a.Errno != int(unix.EPERM) {
				t.Errorf("umount %s (flags %#x): errno %d, want EPERM", f, flags, a.Errno)
			}
		}
	}
	// Nor moved away.
	elsewhere := t.TempDir()
	if a := c.do(t, "move "+filepath.Join(p, "uptime")+" "+elsewhere); a.Errno != int(unix.EPERM) {
		t.Errorf("mount --move of uptime: errno %d, want EPERM", a.Errno)
	}
	if a := c.do(t, "read "+filepath.Join(p, "uptime")); a.Text != fakeUptime {
		t.Errorf("uptime after the refused umount and move: %q", a.Text)
	}
	for _, cmd := range []string{"movemount", "movemountfd"} {
		if a := c.do(t, cmd+" "+filepath.Join(p, "meminfo")+" "+filepath.Join(p, "uptime")); a.Errno != int(unix.EPERM) {
			t.Errorf("%s of meminfo: errno %d, want EPERM", cmd, a.Errno)
		}
	}
	// Moving the procfs itself is the kernel's business.
	if a := c.do(t, "move "+p+" "+elsewhere); a.Errno != 0 {
		t.Errorf("mount --move of the procfs: errno %d, want 0", a.Errno)
	}
	p = elsewhere
	if a := c.do(t, "umount "+p+" "+strconv.Itoa(unix.MNT_DETACH)); a.Errno != 0 {
		t.Errorf("umount -l of the procfs: errno %d, want 0 (continued)", a.Errno)
	}
}

// On kernels without procfs's pidns option (before 6.17; Debian 12 runs 6.1) the procfs
// comes from a helper child started in the caller's pid namespace, and on kernels that
// cannot attach onto a detached mount (6.1 again) the tree is put together on a private
// stage. The test forces each path on this kernel: the caller is pid 1 of a pid namespace
// of its own, and the new procfs must be of that namespace, with the virtual files on top,
// and no stage left behind.
func TestProcMountOnOlderKernelsIsOfTheCallersPidNamespace(t *testing.T) {
	for _, tc := range []struct {
		name          string
		helper, stage bool
	}{
		{"pidns option, detached assembly", false, false},
		{"helper", true, false},
		{"stage", false, true},
		{"helper and stage (kernel 6.1)", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ta, c := startMountAgentWith(t, "c1", unix.CLONE_NEWPID)
			if tc.helper {
				ta.procfsPidns.once.Do(func() {}) // as on a kernel without the option
			} else if !ta.procfsPidns.supported() {
				t.Skip("this kernel has no procfs pidns option (before 6.17)")
			}
			if tc.stage {
				ta.detachedTargets.once.Do(func() {}) // as on a kernel that refuses detached targets
			} else if !ta.detachedTargets.supported() {
				t.Skip("this kernel cannot attach onto a detached mount")
			}
			p := t.TempDir()
			if a := c.do(t, "mount proc "+p+" 0"); a.Errno != 0 {
				t.Fatalf("mount -t proc: errno %d", a.Errno)
			}
			if a := c.do(t, "read "+filepath.Join(p, "self/stat")); a.Errno != 0 || !strings.HasPrefix(a.Text, "1 ") {
				t.Errorf("self/stat in the new procfs: errno %d, %.40q; want pid 1 (the caller's pid namespace)", a.Errno, a.Text)
			}
			for file, want := range map[string]string{"meminfo": fakeMeminfo, "uptime": fakeUptime, "sys/marker": "virtual sys\n"} {
				if a := c.do(t, "read "+filepath.Join(p, file)); a.Errno != 0 || a.Text != want {
					t.Errorf("%s: errno %d, %q; want the virtual %q", file, a.Errno, a.Text, want)
				}
			}
			if a := c.do(t, "umount "+filepath.Join(p, "meminfo")+" 0"); a.Errno != int(unix.EPERM) {
				t.Errorf("umount of the virtual meminfo: errno %d, want EPERM", a.Errno)
			}
			// A bad option fails as mount(2) fails, whoever made the procfs.
			if a := c.do(t, "mount proc "+t.TempDir()+" 0 nosuchoption=1"); a.Errno != int(unix.EINVAL) {
				t.Errorf("mount with an unknown proc option: errno %d, want EINVAL", a.Errno)
			}
			unmountLeavingNoStage(t, ta, c, p)
		})
	}
}

// unmountLeavingNoStage lazily unmounts the emulated mount at p (the kernel's
// business: it must succeed) and checks that no stage of the agent is left.
func unmountLeavingNoStage(t *testing.T, ta *testAgent, c *trapped, p string) {
	t.Helper()
	if a := c.do(t, "umount "+p+" "+strconv.Itoa(unix.MNT_DETACH)); a.Errno != 0 {
		t.Errorf("umount -l of %s: errno %d, want 0", p, a.Errno)
	}
	if entries, _ := os.ReadDir(ta.cfg.StageDir); len(entries) != 0 {
		t.Errorf("stage left behind: %d entries in %s", len(entries), ta.cfg.StageDir)
	}
}

func TestProcfsHelperArgsRoundTrip(t *testing.T) {
	pm := newMount{FSType: "proc", Source: "proc", Attrs: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_RDONLY,
		Options: []fsOption{{Key: "hidepid", Value: "invisible"}, {Key: "subset", Value: "pid"}, {Key: "weird", Flag: true}}}
	got, err := parseProcfsHelperArgs(procfsHelperArgs(pm))
	if err != nil {
		t.Fatal(err)
	}
	if got.FSType != pm.FSType || got.Source != pm.Source || got.Attrs != pm.Attrs || len(got.Options) != len(pm.Options) {
		t.Fatalf("round trip: %+v, want %+v", got, pm)
	}
	for i := range pm.Options {
		if got.Options[i] != pm.Options[i] {
			t.Errorf("option %d: %+v, want %+v", i, got.Options[i], pm.Options[i])
		}
	}
	for _, bad := range [][]string{nil, {"proc"}, {"proc", "x"}, {"proc", "0", "hidepid=2"}} {
		if _, err := parseProcfsHelperArgs(bad); err == nil {
			t.Errorf("parseProcfsHelperArgs(%q) accepted", bad)
		}
	}
}

func TestProcMountHonoursReadOnlyAndRelativeTargets(t *testing.T) {
	_, c := startMountAgent(t, "c1")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "p"), 0o755); err != nil {
		t.Fatal(err)
	}
	if a := c.do(t, "chdir "+dir); a.Errno != 0 {
		t.Fatal(a.Errno)
	}
	flags := strconv.Itoa(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if a := c.do(t, "mount proc p "+flags+" hidepid=1"); a.Errno != 0 {
		t.Fatalf("mount -o ro,hidepid=1 proc p (relative): errno %d", a.Errno)
	}
	a := c.do(t, "mountopts "+filepath.Join(dir, "p"))
	if !strings.HasPrefix(a.Text, "ro,nosuid,nodev,noexec") {
		t.Errorf("proc mount options %q, want ro,nosuid,nodev,noexec", a.Text)
	}
	if a := c.do(t, "mountopts "+filepath.Join(dir, "p/sys")); !strings.HasPrefix(a.Text, "ro,") {
		t.Errorf("/proc/sys on a read-only procfs: options %q, want ro", a.Text)
	}
	if a := c.do(t, "read p/uptime"); a.Text != fakeUptime {
		t.Errorf("p/uptime %q, want the virtual one", a.Text)
	}
	// A bad option fails as mount(2) fails.
	if a := c.do(t, "mount proc p 0 nosuchoption=1"); a.Errno != int(unix.EINVAL) {
		t.Errorf("mount with an unknown proc option: errno %d, want EINVAL", a.Errno)
	}
	if a := c.do(t, "mount proc "+filepath.Join(dir, "missing")+" 0"); a.Errno != int(unix.ENOENT) {
		t.Errorf("mount on a missing target: errno %d, want ENOENT", a.Errno)
	}
}

func TestOtherMountCallsContinueToTheKernel(t *testing.T) {
	_, c := startMountAgent(t, "c1")
	dir := t.TempDir()
	if a := c.do(t, "mount tmpfs "+dir+" 0 size=1m"); a.Errno != 0 {
		t.Fatalf("mount tmpfs: errno %d", a.Errno)
	}
	if a := c.do(t, "mountopts "+dir); !strings.HasPrefix(a.Text, "rw,") {
		t.Errorf("tmpfs not mounted: options %q", a.Text)
	}
	if a := c.do(t, "umount "+dir+" 0"); a.Errno != 0 {
		t.Errorf("umount tmpfs: errno %d, want 0", a.Errno)
	}
	if a := c.do(t, "umount "+dir+" 0"); a.Errno != int(unix.EINVAL) {
		t.Errorf("umount of a non-mount: errno %d, want the kernel's EINVAL", a.Errno)
	}
	for name, want := range map[string]int{"proc": int(unix.ENOSYS), "sysfs": int(unix.ENOSYS), "tmpfs": 0} {
		if a := c.do(t, "fsopen "+name); a.Errno != want {
			t.Errorf("fsopen %s: errno %d, want %d", name, a.Errno, want)
		}
	}
}

func TestRootProcCannotBeUnmounted(t *testing.T) {
	ta, c := startMountAgent(t, "c1")
	ta.reg.setInit("c1", c.cmd.Process.Pid)
	if a := c.do(t, "umount /proc "+strconv.Itoa(unix.MNT_DETACH)); a.Errno != int(unix.EPERM) {
		t.Fatalf("umount -l /proc at the root: errno %d, want EPERM", a.Errno)
	}
	if a := c.do(t, "read /proc/self/comm"); a.Errno != 0 {
		t.Fatalf("/proc gone after the refused umount: errno %d", a.Errno)
	}
}

func TestUnknownContainersMountsContinue(t *testing.T) {
	_, c := startMountAgent(t, "ghost")
	p := t.TempDir()
	if a := c.do(t, "mount proc "+p+" 0"); a.Errno != 0 {
		t.Fatalf("mount -t proc: errno %d", a.Errno)
	}
	host, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	if a := c.do(t, "read "+filepath.Join(p, "uptime")); a.Text == fakeUptime || len(a.Text) == 0 ||
		len(strings.Fields(a.Text)) != len(strings.Fields(string(host))) {
		t.Errorf("uptime %q, want the kernel's (like %q)", a.Text, host)
	}
	if a := c.do(t, "fsopen proc"); a.Errno != 0 {
		t.Errorf("fsopen proc of an unknown container: errno %d, want 0 (continued)", a.Errno)
	}
	if a := c.do(t, "umount "+p+" 0"); a.Errno != 0 {
		t.Errorf("umount: errno %d", a.Errno)
	}
}

// runc mounts onto /proc/self/fd/N, from a pid namespace of its own whose
// pids the /proc it sees does not show (its init is pid 1 there, another
// process in that /proc); the same paths must not let the container
// unmount a virtual file behind the agent's back.
func TestProcSelfFdTargetsResolveToTheCallersFiles(t *testing.T) {
	_, c := startMountAgentWith(t, "c1", syscall.CLONE_NEWPID)
	p := t.TempDir()
	a := c.do(t, "openpath "+p)
	if a.Errno != 0 {
		t.Fatal(a.Errno)
	}
	viaFd := "/proc/self/fd/" + strconv.Itoa(a.N)
	if a := c.do(t, "mount proc "+viaFd+" 0"); a.Errno != 0 {
		t.Fatalf("mount -t proc on %s: errno %d", viaFd, a.Errno)
	}
	if a := c.do(t, "read "+filepath.Join(p, "uptime")); a.Text != fakeUptime {
		t.Fatalf("uptime %q, want the virtual one", a.Text)
	}
	a = c.do(t, "openpath "+filepath.Join(p, "uptime"))
	if a.Errno != 0 {
		t.Fatal(a.Errno)
	}
	for _, path := range []string{"/proc/self/fd/" + strconv.Itoa(a.N), "/proc/thread-self/fd/" + strconv.Itoa(a.N),
		"/proc/self/root" + filepath.Join(p, "uptime"), "/proc/self/fd/" + strconv.Itoa(a.N) + "/"} {
		if a := c.do(t, "umount "+path+" "+strconv.Itoa(unix.MNT_DETACH)); a.Errno != int(unix.EPERM) && !(strings.HasSuffix(path, "/") && a.Errno == int(unix.ENOTDIR)) {
			t.Errorf("umount of the virtual uptime through %s: errno %d, want EPERM", path, a.Errno)
		}
	}
	if a := c.do(t, "umount /proc/self/fd/999 0"); a.Errno != int(unix.ENOENT) && a.Errno != int(unix.EBADF) {
		t.Errorf("umount through a closed fd: errno %d, want ENOENT", a.Errno)
	}
	if a := c.do(t, "read "+filepath.Join(p, "uptime")); a.Text != fakeUptime {
		t.Errorf("uptime after the refused umounts: %q", a.Text)
	}
}

func TestSysfsMountGetsTheVirtualFilesOnTop(t *testing.T) {
	_, c := startMountAgent(t, "c1")
	p := t.TempDir()
	if a := c.do(t, "mount sysfs "+p+" "+strconv.Itoa(unix.MS_RDONLY)); a.Errno != 0 {
		t.Fatalf("mount -t sysfs -o ro: errno %d", a.Errno)
	}
	online := filepath.Join(p, "devices/system/cpu/online")
	if a := c.do(t, "read "+online); a.Text != fakeOnline {
		t.Errorf("cpu/online %q, want the virtual %q", a.Text, fakeOnline)
	}
	if a := c.do(t, "read "+filepath.Join(p, "class/net/lo/ifindex")); a.Errno != 0 || a.Text != "1\n" {
		t.Errorf("class/net/lo/ifindex: errno %d, %q; want a real sysfs of the caller's net namespace", a.Errno, a.Text)
	}
	if a := c.do(t, "mountopts "+p); !strings.HasPrefix(a.Text, "ro,") {
		t.Errorf("sysfs mount options %q, want ro", a.Text)
	}
	if a := c.do(t, "umount "+online+" 0"); a.Errno != int(unix.EPERM) {
		t.Errorf("umount cpu/online: errno %d, want EPERM", a.Errno)
	}
	if a := c.do(t, "umount "+p+" "+strconv.Itoa(unix.MNT_DETACH)); a.Errno != 0 {
		t.Errorf("umount -l of the sysfs: errno %d, want 0", a.Errno)
	}
}

// On kernels that cannot attach onto a detached mount (6.1) the sysfs is put together on
// a stage too: forced here, with the caller in a net namespace of its own.
func TestSysfsMountAssembledOnAStageIsOfTheCallersNetNamespace(t *testing.T) {
	ta, c := startMountAgentWith(t, "c1", unix.CLONE_NEWNET)
	ta.detachedTargets.once.Do(func() {}) // as on a kernel that refuses detached targets
	p := t.TempDir()
	if a := c.do(t, "mount sysfs "+p+" "+strconv.Itoa(unix.MS_RDONLY)); a.Errno != 0 {
		t.Fatalf("mount -t sysfs -o ro: errno %d", a.Errno)
	}
	online := filepath.Join(p, "devices/system/cpu/online")
	if a := c.do(t, "read "+online); a.Text != fakeOnline {
		t.Errorf("cpu/online %q, want the virtual %q", a.Text, fakeOnline)
	}
	// The caller's net namespace has only lo: no host interface shows.
	if a := c.do(t, "read "+filepath.Join(p, "class/net/lo/ifindex")); a.Errno != 0 || a.Text != "1\n" {
		t.Errorf("class/net/lo/ifindex: errno %d, %q", a.Errno, a.Text)
	}
	if a := c.do(t, "umount "+online+" 0"); a.Errno != int(unix.EPERM) {
		t.Errorf("umount cpu/online: errno %d, want EPERM", a.Errno)
	}
	unmountLeavingNoStage(t, ta, c, p)
}

// TestTrappedMountCost times mount + lazy umount pairs through the agent:
// tmpfs (continued, umount checked) and proc (emulated with three virtual
// files on top). It fails only if the calls fail; the figures are logged.
func TestTrappedMountCost(t *testing.T) {
	ta, c := startMountAgent(t, "c1")
	ta.reg.setInit("c1", c.cmd.Process.Pid)
	p := t.TempDir()
	n := 200
	if !ta.procfsPidns.supported() {
		// Each procfs then comes from a helper process (procfs.go): fewer pairs, so
		// that the loop stays within the child's answer timeout under emulation.
		n = 20
	}
	for _, fstype := range []string{"tmpfs", "proc"} {
		start := time.Now()
		a := c.do(t, "mountloop "+strconv.Itoa(n)+" "+fstype+" "+p)
		took := time.Since(start)
		if a.Errno != 0 || a.N != n {
			t.Fatalf("%s: errno %d after %d pairs", fstype, a.Errno, a.N)
		}
		t.Logf("%d %s mount + umount -l pairs through the agent: %v, %v per pair", n, fstype, took, took/time.Duration(n))
	}
}
