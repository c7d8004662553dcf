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
// process's namespaces (pid), plus custom nodes. It returns the mountpoint and
// the fake /proc/sys.
func sysctlMount(t *testing.T, files map[string]string, pid func() int, customNodes ...CustomNode) (string, string) {
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
	m, _ := mountTestCustomNodes(t, handler.Table{"proc/uptime": static}, append([]CustomNode{SysctlDir("proc/sys", c, testOwner)}, customNodes...)...)
	return m.Dir(), host.Dir
}

func mountTestCustomNodes(t *testing.T, table handler.Table, customNodes ...CustomNode) (*Mount, string) {
	t.Helper()
	root := t.TempDir()
	view := func() handler.Container { return handler.Container{ID: "c1"} }
	m, err := New(filepath.Join(root, "c1"), table, view, testLog(t), Options{Callers: testCallers}, customNodes...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	})
	reachable(t, m.Dir())
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

// asUser runs a shell command as the test container's uid/gid 1000 and
// returns its error.
func asUser(t *testing.T, script string) error { return asUID(t, testOwner.UID+1000, script) }

// asRoot runs a shell command as the test container's root.
func asRoot(t *testing.T, script string) error { return asUID(t, testOwner.UID, script) }

// openC opens p with flag as the test container's root.
func openC(p string, flag int) (*os.File, error) {
	var f *os.File
	err := asCaller(testOwner.UID, testOwner.GID, func() error {
		var err error
		f, err = os.OpenFile(p, flag, 0)
		return err
	})
	return f, err
}

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
	if err := asRoot(t, "echo 5 > "+panic); err != nil {
		t.Fatalf("echo 5 > panic: %v", err)
	}
	if b, err := readC(panic); err != nil || string(b) != "5\n" {
		t.Errorf("panic reads %q %v, want 5", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "kernel/panic")); string(b) != "0\n" {
		t.Errorf("host panic became %q", b)
	}
	err := asCaller(testOwner.UID, testOwner.GID, func() error {
		f, err := os.OpenFile(filepath.Join(dir, "proc/sys/kernel/kptr_restrict"), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Write([]byte("3\n"))
		return err
	})
	if !errors.Is(err, syscall.EINVAL) {
		t.Errorf("kptr_restrict=3: %v, want EINVAL", err)
	}
	if b, _ := readC(filepath.Join(dir, "proc/sys/kernel/kptr_restrict")); string(b) != "1\n" {
		t.Errorf("kptr_restrict %q after a refused write", b)
	}
	// a raise-only limit: higher reaches the host
	if err := asRoot(t, "echo 4000 > "+filepath.Join(dir, "proc/sys/fs/file-max")); err != nil {
		t.Fatalf("file-max: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "fs/file-max")); string(b) != "4000\n" {
		t.Errorf("host file-max %q, want raised to 4000", b)
	}
}

func TestSysctlPassThroughWritesOnlyTheContainersNamespaces(t *testing.T) {
	dir, host := sysctlMount(t, sysctlFiles, os.Getpid)
	if err := asRoot(t, "echo 1 > "+filepath.Join(dir, "proc/sys/net/ipv4/ip_forward")); err != nil {
		t.Fatalf("ip_forward: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "net/ipv4/ip_forward")); string(b) != "1\n" {
		t.Errorf("ip_forward %q", b)
	}
	// a global knob that is not emulated: refused even to (container) root
	for _, p := range []string{"kernel/core_pattern", "kernel/ngroups_max"} {
		if _, err := openC(filepath.Join(dir, "proc/sys", p), os.O_WRONLY); !errors.Is(err, syscall.EACCES) {
			t.Errorf("write open of %s: %v, want EACCES", p, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(host, "kernel/core_pattern")); string(b) != "core\n" {
		t.Errorf("core_pattern %q", b)
	}
}

func TestSysctlNonRootCallerReadsButCannotWrite(t *testing.T) {
	dir, host := sysctlMount(t, sysctlFiles, os.Getpid)
	panic := filepath.Join(dir, "proc/sys/kernel/panic")
	if err := asUser(t, "cat "+panic+" >/dev/null"); err != nil {
		t.Errorf("container uid 1000 cannot read panic: %v", err)
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
	if b, _ := readC(panic); string(b) != "0\n" {
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
			if _, err := readC(p); err != nil {
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
	p := filepath.Join(dir, "sys/devices/virtual/dmi/id/product_uuid")
	for i := 0; i < 2; i++ {
		if b, err := readC(p); err != nil || string(b) != string(uuid) {
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
	if _, err := openC(p, os.O_WRONLY); !errors.Is(err, syscall.EACCES) {
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
}

func TestSysctlParallelReadersSeeTheirContainersValues(t *testing.T) {
	dir, _ := sysctlMount(t, sysctlFiles, os.Getpid)
	inContainer(t, func() error { return os.WriteFile(filepath.Join(dir, "proc/sys/kernel/panic"), []byte("9\n"), 0) })
	want := map[string]string{"proc/sys/kernel/panic": "9\n", "proc/sys/net/ipv4/ip_forward": "0\n"}
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				for p, w := range want {
					b, err := readC(filepath.Join(dir, p))
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
