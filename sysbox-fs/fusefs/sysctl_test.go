package fusefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	"github.com/sysboxd/sysboxd/sysbox-fs/sysctl"
)

var testOwner = Owner{UID: 165536, GID: 165536}

// sysctlMount mounts a tree whose proc/sys serves a fake procfs (files,
// below /proc/sys) as both the host's and the container's view, in this
// process's namespaces (pid), plus extras. It returns the mountpoint and
// the fake /proc/sys.
func sysctlMount(t *testing.T, files map[string]string, pid func() int, extras ...Extra) (string, string) {
	t.Helper()
	needRoot(t)
	procDir := filepath.Join(t.TempDir(), "proc")
	for name, content := range files {
		p := filepath.Join(procDir, "sys", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	proc, err := sysctl.OpenProcDir(procDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Close() })
	host := sysctl.Host{Dir: filepath.Join(procDir, "sys")}
	c := sysctl.NewContainer(sysctl.NewValues(sysctl.NewTable(host, sysctl.Knobs()), host), proc, "/proc", pid)
	t.Cleanup(c.Close)
	static := handler.Func(func(handler.Container) ([]byte, error) { return []byte("1\n"), nil })
	m, _ := mountTestExtras(t, handler.Table{"proc/uptime": static}, append([]Extra{SysctlDir("proc/sys", c, testOwner)}, extras...)...)
	return m.Dir(), host.Dir
}

func mountTestExtras(t *testing.T, table handler.Table, extras ...Extra) (*Mount, string) {
	t.Helper()
	root := t.TempDir()
	view := func() handler.Container { return handler.Container{ID: "c1"} }
	m, err := New(filepath.Join(root, "c1"), table, view, testLog(t), extras...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	})
	return m, root
}

var sysctlFiles = map[string]string{
	"kernel/panic":         "0\n",
	"kernel/kptr_restrict": "1\n",
	"kernel/core_pattern":  "core\n",
	"kernel/ngroups_max":   "65536\n",
	"net/ipv4/ip_forward":  "0\n",
	"fs/file-max":          "1000\n",
}

// asUser runs a shell command as uid/gid 1000 and returns its error.
func asUser(t *testing.T, script string) error { return asUID(t, 1000, script) }

// asUID runs a shell command as uid and gid id and returns its error.
func asUID(t *testing.T, id uint32, script string) error {
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: id, Gid: id}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("as uid %d: %s: %s", id, script, out)
	}
	return err
}

func TestSysctlTreeListsModesAndOwnersLikeProcfs(t *testing.T) {
	dir, _ := sysctlMount(t, sysctlFiles, os.Getpid)
	ents, err := os.ReadDir(filepath.Join(dir, "proc/sys/kernel"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, ","); got != "core_pattern,kptr_restrict,ngroups_max,panic" {
		t.Errorf("kernel lists %s", got)
	}
	for p, mode := range map[string]uint32{
		"proc/sys":              syscall.S_IFDIR | 0o555,
		"proc/sys/kernel/panic": syscall.S_IFREG | 0o644,
		"proc/sys/fs/file-max":  syscall.S_IFREG | 0o644,
	} {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, p), &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode != mode || st.Uid != testOwner.UID || st.Gid != testOwner.GID {
			t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", p, st.Mode, st.Uid, st.Gid, mode, testOwner.UID, testOwner.GID)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "proc/sys/kernel/nothing"), &st); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("missing sysctl: %v", err)
	}
}

func TestSysctlEmulatedWriteStaysInTheContainer(t *testing.T) {
	dir, host := sysctlMount(t, sysctlFiles, os.Getpid)
	panic := filepath.Join(dir, "proc/sys/kernel/panic")
	// the shell's O_TRUNC reaches Setattr(size 0), then one write
	if out, err := exec.Command("sh", "-c", "echo 5 > "+panic).CombinedOutput(); err != nil {
		t.Fatalf("echo 5 > panic: %v %s", err, out)
	}
	if b, err := os.ReadFile(panic); err != nil || string(b) != "5\n" {
		t.Errorf("panic reads %q %v, want 5", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "kernel/panic")); string(b) != "0\n" {
		t.Errorf("host panic became %q", b)
	}
	f, err := os.OpenFile(filepath.Join(dir, "proc/sys/kernel/kptr_restrict"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("3\n")); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("kptr_restrict=3: %v, want EINVAL", err)
	}
	f.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "proc/sys/kernel/kptr_restrict")); string(b) != "1\n" {
		t.Errorf("kptr_restrict %q after a refused write", b)
	}
	// a raise-only limit: higher reaches the host
	if out, err := exec.Command("sh", "-c", "echo 4000 > "+filepath.Join(dir, "proc/sys/fs/file-max")).CombinedOutput(); err != nil {
		t.Fatalf("file-max: %v %s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "fs/file-max")); string(b) != "4000\n" {
		t.Errorf("host file-max %q, want raised to 4000", b)
	}
}

func TestSysctlPassThroughWritesOnlyTheContainersNamespaces(t *testing.T) {
	dir, host := sysctlMount(t, sysctlFiles, os.Getpid)
	if out, err := exec.Command("sh", "-c", "echo 1 > "+filepath.Join(dir, "proc/sys/net/ipv4/ip_forward")).CombinedOutput(); err != nil {
		t.Fatalf("ip_forward: %v %s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "net/ipv4/ip_forward")); string(b) != "1\n" {
		t.Errorf("ip_forward %q", b)
	}
	// a global knob that is not emulated: refused even to (container) root
	for _, p := range []string{"kernel/core_pattern", "kernel/ngroups_max"} {
		if _, err := os.OpenFile(filepath.Join(dir, "proc/sys", p), os.O_WRONLY, 0); !errors.Is(err, syscall.EACCES) {
			t.Errorf("write open of %s: %v, want EACCES", p, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(host, "kernel/core_pattern")); string(b) != "core\n" {
		t.Errorf("core_pattern %q", b)
	}
}

// openPath lets other users reach dir (t.TempDir makes its dirs 0700).
func openPath(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{filepath.Dir(dir), filepath.Dir(filepath.Dir(dir))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSysctlNonRootCallerReadsButCannotWrite(t *testing.T) {
	dir, host := sysctlMount(t, sysctlFiles, os.Getpid)
	openPath(t, dir)
	panic := filepath.Join(dir, "proc/sys/kernel/panic")
	if err := asUser(t, "cat "+panic+" >/dev/null"); err != nil {
		t.Errorf("uid 1000 cannot read panic: %v", err)
	}
	if err := asUser(t, "echo 7 > "+panic); err == nil {
		t.Error("uid 1000 wrote kernel.panic")
	}
	if err := asUser(t, "echo 1 > "+filepath.Join(dir, "proc/sys/net/ipv4/ip_forward")); err == nil {
		t.Error("uid 1000 wrote net.ipv4.ip_forward")
	}
	if b, _ := os.ReadFile(filepath.Join(host, "net/ipv4/ip_forward")); string(b) != "0\n" {
		t.Errorf("ip_forward %q", b)
	}
	if b, _ := os.ReadFile(panic); string(b) != "0\n" {
		t.Errorf("panic %q", b)
	}
}

func TestSysctlBeforeRegisterAnswersEAGAIN(t *testing.T) {
	dir, _ := sysctlMount(t, sysctlFiles, func() int { return 0 })
	if _, err := os.ReadDir(filepath.Join(dir, "proc/sys")); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("readdir before register: %v", err)
	}
}

func TestSysctlWalkReadingEveryFileCompletes(t *testing.T) {
	dir, _ := sysctlMount(t, sysctlFiles, os.Getpid)
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, "proc/sys"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			if _, err := os.ReadFile(p); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil || n != len(sysctlFiles) {
		t.Errorf("walk read %d files (want %d): %v", n, len(sysctlFiles), err)
	}
}

func TestValueFileAndEmptyDirModes(t *testing.T) {
	uuid := []byte(sysctl.ProductUUID("c1") + "\n")
	dir, _ := sysctlMount(t, sysctlFiles, os.Getpid,
		ValueFile("sys/devices/virtual/dmi/id/product_uuid", 0o400, testOwner, func() ([]byte, error) { return uuid, nil }, nil),
		EmptyDir("sys/kernel/debug", testOwner))
	openPath(t, dir)
	p := filepath.Join(dir, "sys/devices/virtual/dmi/id/product_uuid")
	for i := 0; i < 2; i++ {
		if b, err := os.ReadFile(p); err != nil || string(b) != string(uuid) {
			t.Fatalf("product_uuid %q %v", b, err)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil || st.Mode != syscall.S_IFREG|0o400 || st.Uid != testOwner.UID {
		t.Errorf("product_uuid mode %o uid %d %v", st.Mode, st.Uid, err)
	}
	if err := asUser(t, "cat "+p); err == nil {
		t.Error("uid 1000 read the 0400 product_uuid")
	}
	if _, err := os.OpenFile(p, os.O_WRONLY, 0); !errors.Is(err, syscall.EACCES) {
		t.Errorf("write open of product_uuid: %v", err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, "sys/kernel/debug"))
	if err != nil || len(ents) != 0 {
		t.Errorf("sys/kernel/debug: %v %v", ents, err)
	}
}

func TestSysctlContainerRootGetsOnlyOthersBitsOnHostWideKnobs(t *testing.T) {
	files := map[string]string{"kernel/cad_pid": "1\n", "net/ipv4/secret": "s\n"}
	for k, v := range sysctlFiles {
		files[k] = v
	}
	dir, host := sysctlMount(t, files, os.Getpid)
	openPath(t, dir)
	for _, p := range []string{"kernel/cad_pid", "net/ipv4/secret"} {
		if err := os.Chmod(filepath.Join(host, p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := asUID(t, testOwner.UID, "cat "+filepath.Join(dir, "proc/sys/kernel/cad_pid")); err == nil {
		t.Error("container root read the host-wide 0600 kernel.cad_pid")
	}
	if err := asUID(t, testOwner.UID, "cat "+filepath.Join(dir, "proc/sys/net/ipv4/secret")); err != nil {
		t.Errorf("container root cannot read a 0600 file of its own netns: %v", err)
	}
	if err := asUID(t, testOwner.UID, "cat "+filepath.Join(dir, "proc/sys/kernel/panic")); err != nil {
		t.Errorf("container root cannot read kernel.panic: %v", err)
	}
	if _, err := os.ReadFile(filepath.Join(dir, "proc/sys/kernel/cad_pid")); err != nil {
		t.Errorf("host root cannot read kernel.cad_pid: %v", err)
	}
}

func TestSysctlParallelReadersSeeTheirContainersValues(t *testing.T) {
	dir, _ := sysctlMount(t, sysctlFiles, os.Getpid)
	if err := os.WriteFile(filepath.Join(dir, "proc/sys/kernel/panic"), []byte("9\n"), 0); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"proc/sys/kernel/panic": "9\n", "proc/sys/net/ipv4/ip_forward": "0\n"}
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				for p, w := range want {
					b, err := os.ReadFile(filepath.Join(dir, p))
					if err != nil || string(b) != w {
						errs <- fmt.Errorf("%s: %q %v", p, b, err)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
