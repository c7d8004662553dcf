package lifecycle

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/sysbox-runc/internal/syscont"
)

func TestStatNamespaceReadsTypeIdentityAndOwner(t *testing.T) {
	net, err := statNamespace("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if net.Type != specs.NetworkNamespace {
		t.Errorf("type = %q, want network", net.Type)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	if net.ID != (syscont.NamespaceID{Dev: st.Dev, Ino: st.Ino}) {
		t.Errorf("id = %+v, stat says dev %d ino %d", net.ID, st.Dev, st.Ino)
	}
	user, err := statNamespace("/proc/self/ns/user")
	if err != nil {
		t.Fatal(err)
	}
	if user.Type != specs.UserNamespace {
		t.Errorf("type = %q, want user", user.Type)
	}
	if net.Owner != user.ID {
		t.Errorf("owner of our net namespace = %+v, want our user namespace %+v", net.Owner, user.ID)
	}
	if user.ID == net.ID {
		t.Error("two namespaces with the same id")
	}
}

func TestStatNamespaceRefusesOtherFiles(t *testing.T) {
	if _, err := statNamespace("/proc/self/status"); !errors.Is(err, syscont.ErrNotNamespace) {
		t.Errorf("/proc/self/status: err = %v, want ErrNotNamespace", err)
	}
	if _, err := statNamespace(t.TempDir()); !errors.Is(err, syscont.ErrNotNamespace) {
		t.Errorf("a directory: err = %v, want ErrNotNamespace", err)
	}
	missing := "/proc/self/ns/no-such-namespace"
	if _, err := statNamespace(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: err = %v, want ErrNotExist naming it", err)
	}
}

func TestNamespaceTypeOfEveryCloneFlag(t *testing.T) {
	for flag, want := range map[int]specs.LinuxNamespaceType{
		unix.CLONE_NEWNS: specs.MountNamespace, unix.CLONE_NEWUTS: specs.UTSNamespace,
		unix.CLONE_NEWIPC: specs.IPCNamespace, unix.CLONE_NEWUSER: specs.UserNamespace,
		unix.CLONE_NEWPID: specs.PIDNamespace, unix.CLONE_NEWNET: specs.NetworkNamespace,
		unix.CLONE_NEWCGROUP: specs.CgroupNamespace, unix.CLONE_NEWTIME: specs.TimeNamespace,
		unix.CLONE_VM: "",
	} {
		if got := namespaceType(flag); got != want {
			t.Errorf("namespaceType(%#x) = %q, want %q", flag, got, want)
		}
	}
	for _, name := range []string{"mnt", "uts", "ipc", "user", "pid", "net", "cgroup", "time"} {
		if _, err := statNamespace("/proc/self/ns/" + name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPrepareRefusesNamespacePathBeforeAskingAnyDaemon(t *testing.T) {
	mgr, fs := &fakeMgr{}, &fakeFs{}
	spec := testSpec(t.TempDir())
	spec.Linux.Namespaces[1].Path = "/proc/self/ns/net" // the test's own: another user namespace's
	_, err := Prepare(context.Background(), testConfig(t), mgr, fs, spec)
	if !errors.Is(err, syscont.ErrNotSupported) || !strings.Contains(err.Error(), "/proc/self/ns/net") {
		t.Fatalf("err = %v, want a refusal naming the path", err)
	}
	if len(mgr.calls)+len(fs.calls) != 0 {
		t.Fatalf("daemons were called: mgr %v fs %v", mgr.calls, fs.calls)
	}
}

func TestPrepareAllowsNamespacePathInPlainContainer(t *testing.T) {
	spec := testSpec(t.TempDir())
	spec.Linux.Namespaces[1].Path = "/proc/self/ns/net"
	spec.Process.Env = []string{"SYSBOX_SYSCONT_MODE=FALSE"}
	if _, err := Prepare(context.Background(), testConfig(t), &fakeMgr{}, &fakeFs{}, spec); err != nil {
		t.Fatalf("plain container with a namespace path: %v", err)
	}
}

func TestApplyRootPropagationWithoutFlagsDoesNothing(t *testing.T) {
	if err := applyRootPropagation(0, 0); err != nil {
		t.Fatal(err)
	}
	if err := applyRootPropagation(0, unix.MS_UNBINDABLE); err == nil {
		t.Fatal("applied propagation without a container init pid")
	}
}

// A process in a mount namespace of its own stands for the container's init.
func TestApplyRootPropagationMakesTheRootUnbindable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a mount namespace")
	}
	for _, tc := range []struct {
		name         string
		flags        uintptr
		submountsToo bool
	}{
		{"unbindable", unix.MS_UNBINDABLE, false},
		{"runbindable", unix.MS_UNBINDABLE | unix.MS_REC, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "60")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			pid := cmd.Process.Pid
			self := readLink(t, "/proc/self/ns/mnt")
			deadline := time.Now().Add(5 * time.Second)
			for readLink(t, "/proc/"+strconv.Itoa(pid)+"/ns/mnt") == self {
				if time.Now().After(deadline) {
					t.Fatal("unshare did not enter its mount namespace")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := applyRootPropagation(pid, tc.flags); err != nil {
				t.Fatal(err)
			}
			root, sub := mountPropagation(t, pid)
			if !strings.Contains(root, "unbindable") {
				t.Errorf("root mount: %q, want unbindable", root)
			}
			if got := strings.Contains(sub, "unbindable"); got != tc.submountsToo {
				t.Errorf("submount /proc: %q, unbindable = %v, want %v", sub, got, tc.submountsToo)
			}
			if hostRoot, _ := mountPropagation(t, os.Getpid()); strings.Contains(hostRoot, "unbindable") {
				t.Errorf("the runtime's own root became unbindable: %q", hostRoot)
			}
		})
	}
}

func readLink(t *testing.T, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mountPropagation returns the optional fields of the mounts at / and /proc in the mount
// namespace of pid.
func mountPropagation(t *testing.T, pid int) (root, proc string) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		pre, _, ok := strings.Cut(line, " - ")
		f := strings.Fields(pre)
		if !ok || len(f) < 6 {
			continue
		}
		switch f[4] {
		case "/":
			root = strings.Join(f[6:], " ") + " "
		case "/proc":
			proc = strings.Join(f[6:], " ") + " "
		}
	}
	return root, proc
}

// With --no-pivot the container's init is chrooted into its rootfs (a bind mount of its
// own) and its mount namespace's root is still the host's copy: the flag must reach the
// chrooted root.
func TestApplyRootPropagationReachesAChrootedRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a mount namespace")
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox for the chroot")
	}
	dir := t.TempDir()
	if out, err := exec.Command("cp", busybox, dir+"/busybox").CombinedOutput(); err != nil {
		t.Fatalf("copy busybox: %v: %s", err, out)
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		"mount --bind "+dir+" "+dir+" && cd "+dir+" && exec chroot . /busybox sleep 60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for {
		if r, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/root"); r == dir {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the process did not chroot")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := applyRootPropagation(pid, unix.MS_UNBINDABLE); err != nil {
		t.Fatal(err)
	}
	// the process's mountinfo shows its chrooted root as /
	if root, _ := mountPropagation(t, pid); !strings.Contains(root, "unbindable") {
		t.Errorf("chrooted root mount: %q, want unbindable", root)
	}
}
