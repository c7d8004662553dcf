package fusefs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

func testLog(t testing.TB) logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(testWriter{t})
	l.SetLevel(logrus.DebugLevel)
	return l
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func TestCleanStaleUnmountsOurMountsAndRemovesEmptyDirs(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	for _, d := range []string{"c1", "c2/proc", "c 3", "other", "leftover", "data", "busy"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "data", "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Mountinfo as a killed predecessor leaves it: our trees (one with an
	// escaped space), a tmpfs that is not ours under root, our type outside
	// root and in a sibling whose name extends root's, and root itself.
	mi := strings.Join([]string{
		"22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw",
		"40 22 0:40 / " + root + " rw - tmpfs tmpfs rw",
		"41 40 0:41 / " + root + "/c1 rw,nosuid,nodev,relatime - fuse.sysboxfs sysboxfs rw,user_id=0,group_id=0,default_permissions,allow_other",
		"42 40 0:42 / " + root + "/c2 rw,nosuid,nodev,relatime - fuse.sysboxfs sysboxfs rw,user_id=0,group_id=0,default_permissions,allow_other",
		"43 40 0:43 / " + root + "/c\\0403 rw,nosuid,nodev,relatime - fuse.sysboxfs sysboxfs rw,user_id=0,group_id=0",
		"44 40 0:44 / " + root + "/other rw - tmpfs tmpfs rw",
		"45 22 0:45 / " + root + "2/c9 rw - fuse.sysboxfs sysboxfs rw,user_id=0,group_id=0",
		"46 22 0:46 / /var/lib/elsewhere/c8 rw - fuse.sysboxfs sysboxfs rw,user_id=0,group_id=0",
		"47 40 0:47 / " + root + "/busy rw - fuse.sysboxfs sysboxfs rw,user_id=0,group_id=0",
		"",
	}, "\n")
	var calls []string
	unmountFn := func(target string, flags int) error {
		if flags != unix.MNT_DETACH {
			t.Errorf("unmount %s with flags %#x, want MNT_DETACH", target, flags)
		}
		calls = append(calls, target)
		if strings.HasSuffix(target, "/busy") {
			return unix.EPERM
		}
		return nil
	}
	cleaned, err := cleanStale(root, strings.NewReader(mi), unmountFn, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{root + "/busy", root + "/c 3", root + "/c1", root + "/c2"}
	slices.Sort(calls)
	if !slices.Equal(calls, wantCalls) {
		t.Fatalf("unmounted %q, want %q", calls, wantCalls)
	}
	slices.Sort(cleaned)
	if want := wantCalls[1:]; !slices.Equal(cleaned, want) {
		t.Fatalf("cleaned %q, want %q", cleaned, want)
	}
	for d, wantExist := range map[string]bool{
		"c1": false, "c2": false, "c 3": false, "leftover": false,
		"other": true, // holds a mount that is not ours
		"data":  true, // holds a file
		"busy":  true, // its unmount failed
	} {
		_, err := os.Stat(filepath.Join(root, d))
		if exists := err == nil; exists != wantExist {
			t.Errorf("%s: exists=%v, want %v (%v)", d, exists, wantExist, err)
		}
	}
}

func TestCleanStaleRemovesRealDeadMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount fuse")
	}
	root := t.TempDir()
	dir := filepath.Join(root, "dead")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A FUSE mount whose server is gone, as after kill -9: mount with a
	// /dev/fuse fd, then close the fd.
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	opts := "fd=" + strconv.Itoa(fd) + ",rootmode=40000,user_id=0,group_id=0,allow_other"
	if err := unix.Mount(fsName, dir, FsType, unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	unix.Close(fd)
	if _, err := os.Stat(dir); !errors.Is(err, unix.ENOTCONN) {
		t.Fatalf("stat of the dead mount: %v, want ENOTCONN", err)
	}

	cleaned, err := CleanStale(root, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cleaned, []string{dir}) {
		t.Fatalf("cleaned %q, want %q", cleaned, dir)
	}
	if m := mountsUnder(t, root); len(m) != 0 {
		t.Fatalf("still mounted: %q", m)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("mountpoint not removed: %v", err)
	}
}
