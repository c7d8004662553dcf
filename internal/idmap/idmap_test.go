package idmap

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var testMapping = Mapping{HostUID: 165536, HostGID: 165536, Size: 65536}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// noChildren fails the test if this process has any child, alive or zombie.
func noChildren(t *testing.T) {
	t.Helper()
	var ws unix.WaitStatus
	pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
	if !errors.Is(err, unix.ECHILD) {
		t.Fatalf("expected no child process, wait4 = %d, %v", pid, err)
	}
}

func newUserns(t *testing.T, m Mapping) *Userns {
	t.Helper()
	u, err := NewUserns(m)
	if err != nil {
		t.Fatalf("NewUserns: %v", err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func TestMappingValidateRejectsEmptyAndOverflowingRanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Mapping
		ok   bool
	}{
		{"typical", testMapping, true},
		{"zero size", Mapping{HostUID: 1000, HostGID: 1000}, false},
		{"uid overflow", Mapping{HostUID: 0xffffff00, HostGID: 0, Size: 65536}, false},
		{"gid overflow", Mapping{HostUID: 0, HostGID: 0xffffff00, Size: 65536}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.m.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate(%+v) = %v, want ok=%v", tc.m, err, tc.ok)
			}
			if !tc.ok {
				if _, err := NewUserns(tc.m); err == nil {
					t.Fatalf("NewUserns(%+v) succeeded", tc.m)
				}
			}
		})
	}
}

func TestNewUsernsWritesTheMappingAndLeavesNoProcess(t *testing.T) {
	requireRoot(t)
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		t.Skip("nsenter not installed")
	}
	m := Mapping{HostUID: 231072, HostGID: 300000, Size: 65536}
	u := newUserns(t, m)
	noChildren(t)

	nsFile := os.NewFile(uintptr(u.Fd()), "userns")
	for file, want := range map[string][]string{
		"uid_map":   {"0", "231072", "65536"},
		"gid_map":   {"0", "300000", "65536"},
		"setgroups": {"allow"},
	} {
		cmd := exec.Command(nsenter, "--user=/proc/self/fd/3", "cat", "/proc/self/"+file)
		cmd.ExtraFiles = []*os.File{nsFile}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("read %s inside the namespace: %v: %s", file, err, out)
		}
		if got := strings.Fields(string(out)); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if err := u.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := u.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if u.Fd() != -1 {
		t.Fatalf("Fd after Close = %d", u.Fd())
	}
	noChildren(t)
}

// ownedTree builds files owned by uids 0, 1000, 65535 and 70000 in a fresh
// directory on the filesystem of t.TempDir.
func ownedTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, id := range map[string]int{"root": 0, "user": 1000, "top": 65535, "outside": 70000} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, id, id); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func statOwner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("stat %s: %v", p, err)
	}
	return st.Uid, st.Gid
}

func TestIDMapTreeShowsDiskOwnersShiftedIntoTheHostRange(t *testing.T) {
	requireRoot(t)
	dir := ownedTree(t)
	if !Supported(dir) {
		name, _ := FSType(dir)
		t.Skipf("test dir is on %s", name)
	}
	u := newUserns(t, Mapping{HostUID: 165536, HostGID: 200000, Size: 65536})
	tree, err := IDMapTree(dir, u, false)
	if err != nil {
		t.Fatalf("IDMapTree: %v", err)
	}
	defer tree.Close()
	// The mount holds the mapping: the namespace may go away.
	u.Close()

	for _, tc := range []struct {
		name     string
		uid, gid uint32
	}{
		{"root", 165536, 200000},
		{"user", 166536, 201000},
		{"top", 165536 + 65535, 200000 + 65535},
		{"outside", 65534, 65534},
	} {
		uid, gid := statOwner(t, filepath.Join(ProcPath(tree), tc.name))
		if uid != tc.uid || gid != tc.gid {
			t.Errorf("%s through the mapped tree: %d:%d, want %d:%d", tc.name, uid, gid, tc.uid, tc.gid)
		}
		if uid, _ := statOwner(t, filepath.Join(dir, tc.name)); tc.name == "root" && uid != 0 {
			t.Errorf("%s on disk changed owner to %d", tc.name, uid)
		}
	}

	// Creating through the mapped tree as host uid 165536 stores uid 0. The
	// child reaches the tree through its own fd 3.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "echo new > /proc/self/fd/3/created")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 165536, Gid: 200000}}
	cmd.ExtraFiles = []*os.File{tree}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("create through mapped tree: %v: %s", err, out)
	}
	if uid, gid := statOwner(t, filepath.Join(dir, "created")); uid != 0 || gid != 0 {
		t.Errorf("file created by host 165536 through the tree is %d:%d on disk, want 0:0", uid, gid)
	}
}

func TestIDMapTreeRecursiveIncludesSubmounts(t *testing.T) {
	requireRoot(t)
	dir := ownedTree(t)
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// A bind of another directory of the same file system: a submount every
	// kernel we target can ID-map (tmpfs only from 6.3).
	other := filepath.Join(filepath.Dir(dir), "other-"+filepath.Base(dir))
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(other)
	if err := unix.Mount(other, sub, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s: %v", other, err)
	}
	defer unix.Unmount(sub, unix.MNT_DETACH)
	if err := os.WriteFile(filepath.Join(sub, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	u := newUserns(t, testMapping)

	rec, err := IDMapTree(dir, u, true)
	if err != nil {
		t.Fatalf("IDMapTree recursive: %v", err)
	}
	defer rec.Close()
	if uid, _ := statOwner(t, filepath.Join(ProcPath(rec), "sub", "f")); uid != 165536 {
		t.Errorf("submount file through recursive tree: uid %d, want 165536", uid)
	}

	flat, err := IDMapTree(dir, u, false)
	if err != nil {
		t.Fatalf("IDMapTree: %v", err)
	}
	defer flat.Close()
	if _, err := os.Lstat(filepath.Join(ProcPath(flat), "sub", "f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("non-recursive tree shows the submount's file (err=%v)", err)
	}
}

func TestSupportedByFilesystemType(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	mk := func(name string) string {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tmpfs := mk("tmpfs")
	if err := unix.Mount("tmpfs", tmpfs, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(tmpfs, unix.MNT_DETACH)
	lower, upper, work, merged := mk("ovl/l"), mk("ovl/u"), mk("ovl/w"), mk("ovl/m")
	if err := unix.Mount("overlay", merged, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)
	diskType, _ := FSType(base)

	for _, tc := range []struct {
		name, path, fsType string
		want               bool
	}{
		{"tmpfs (6.3+)", tmpfs, "tmpfs", runningKernel().atLeast(6, 3)},
		{"overlay", merged, "overlay", false},
		{"proc", "/proc/self", "proc", false},
		{"missing path", filepath.Join(base, "nope"), "", false},
		{"test dir (" + diskType + ")", base, diskType, diskType == "ext4" || diskType == "xfs" || diskType == "btrfs" || diskType == "tmpfs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Supported(tc.path); got != tc.want {
				t.Errorf("Supported(%s) = %v, want %v", tc.path, got, tc.want)
			}
			if tc.fsType != "" {
				if got, err := FSType(tc.path); err != nil || got != tc.fsType {
					t.Errorf("FSType(%s) = %q, %v; want %q", tc.path, got, err, tc.fsType)
				}
			}
		})
	}

	// What Supported predicts is what the kernel does.
	u := newUserns(t, testMapping)
	if tree, err := IDMapTree(tmpfs, u, false); (err == nil) != Supported(tmpfs) {
		t.Errorf("IDMapTree on tmpfs: %v, but Supported says %v", err, Supported(tmpfs))
	} else if err == nil {
		tree.Close()
	}
	_, err := IDMapTree(merged, u, false)
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "overlay") || !strings.Contains(err.Error(), merged) {
		t.Errorf("IDMapTree on overlay: %v, want ErrNotSupported naming path and overlay", err)
	}
}

func TestNewUsernsCloseCost(t *testing.T) {
	requireRoot(t)
	const n = 20
	start := time.Now()
	for i := 0; i < n; i++ {
		u, err := NewUserns(testMapping)
		if err != nil {
			t.Fatal(err)
		}
		u.Close()
	}
	t.Logf("NewUserns+Close: %.2f ms each (%d runs)", float64(time.Since(start).Microseconds())/1000/n, n)
	noChildren(t)
}

func TestSupportFollowsTheKernelRelease(t *testing.T) {
	for _, tc := range []struct {
		release string
		magic   uint32
		want    bool
	}{
		{"6.1.0-50-amd64", magicExt4, true},
		{"6.1.0-50-amd64", magicTmpfs, false}, // Debian 12
		{"6.3.0", magicTmpfs, true},
		{"6.18.44-fc-v1252", magicTmpfs, true},
		{"6.6.1", magicCeph, false},
		{"6.7.0", magicCeph, true},
		{"6.9.9", magicErofs, false},
		{"6.10.0", magicErofs, true},
		{"7.0.0", magicErofs, true},
		{"6.18.0", magicOverlay, false},
	} {
		k, err := parseKernelRelease(tc.release)
		if err != nil {
			t.Fatal(err)
		}
		if got := supportedOn(tc.magic, k); got != tc.want {
			t.Errorf("%s on %s: supported %v, want %v", fsName(tc.magic), tc.release, got, tc.want)
		}
	}
	if _, err := parseKernelRelease("linux"); err == nil {
		t.Error("a release without numbers was parsed")
	}
}
