package mountstage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func detachedTmpfs(t *testing.T) int {
	t.Helper()
	fs, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigCreate(fs); err != nil {
		t.Fatal(err)
	}
	mnt, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(mnt) })
	if err := unix.Mkdirat(mnt, "inside", 0o755); err != nil {
		t.Fatal(err)
	}
	return mnt
}

func TestStageAttachesPrivatelyAndRemovesEverything(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts")
	}
	root := filepath.Join(t.TempDir(), "stages")
	s, err := New(root, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(s.Dir), "test") {
		t.Errorf("stage dir %s does not start with the prefix", s.Dir)
	}
	p, err := s.Attach(detachedTmpfs(t), "0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(p, "inside")); err != nil {
		t.Errorf("attached tree not visible at %s: %v", p, err)
	}
	if _, err := s.Attach(detachedTmpfs(t), "0"); err == nil {
		t.Error("a second tree at the same name was accepted")
	}
	// The stage is a private mount: nothing attached below it propagates.
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mi), "\n") {
		f := strings.Fields(line)
		if len(f) > 6 && f[4] == s.Dir && strings.Contains(strings.Join(f[6:], " "), "shared:") {
			t.Errorf("stage mount is shared: %s", line)
		}
	}
	s.Remove()
	if entries, err := os.ReadDir(root); err != nil || len(entries) != 0 {
		t.Errorf("after Remove, %s holds %d entries (%v)", root, len(entries), err)
	}
	if strings.Contains(string(mustRead(t, "/proc/self/mountinfo")), s.Dir) {
		t.Errorf("a mount at %s is left", s.Dir)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewRefusesNoDirectory(t *testing.T) {
	if _, err := New("", "x"); err == nil {
		t.Fatal("New with no directory succeeded")
	}
}

// A clone of a shared mount is a peer of it. Attached on a stage, it must not
// receive what is mounted at its source afterwards, or removing the stage
// would unmount that at the source as well (seen with Docker's data dir: the
// overlay at merged vanished when the layer stage was removed).
func TestRemovingAStageLeavesMountsAtTheSourceOfAnAttachedClone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts")
	}
	base := t.TempDir()
	src := filepath.Join(base, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", src, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(src, unix.MNT_DETACH) })
	if err := unix.Mount("", src, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(src, "merged"), 0o755); err != nil {
		t.Fatal(err)
	}
	clone, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(clone)
	s, err := New(filepath.Join(base, "stages"), "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Attach(clone, "upper"); err != nil {
		t.Fatal(err)
	}
	merged := filepath.Join(src, "merged")
	if err := unix.Mount("tmpfs", merged, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(merged, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Remove()
	if _, err := os.Stat(filepath.Join(merged, "marker")); err != nil {
		t.Fatalf("the mount at the clone's source went with the stage: %v", err)
	}
}
