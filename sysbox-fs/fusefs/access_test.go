package fusefs

import (
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	"github.com/sysboxd/sysboxd/sysbox-fs/sysctl"
)

func TestIDRangeAdmitsOnlyCallersWithUIDAndGIDInside(t *testing.T) {
	r := IDRange{UID: 165536, GID: 231072, Size: 65536}
	for _, tc := range []struct {
		name     string
		uid, gid uint32
		want     bool
	}{
		{"container root", 165536, 231072, true},
		{"container's last ids", 165536 + 65535, 231072 + 65535, true},
		{"host root", 0, 0, false},
		{"host user", 1000, 1000, false},
		{"uid just below", 165535, 231072, false},
		{"uid just past", 165536 + 65536, 231072, false},
		{"uid in range, gid host root", 165536, 0, false},
		{"uid in range, gid of another container", 165536, 296608, false},
		{"gid in range, uid host root", 0, 231072, false},
		{"largest ids", math.MaxUint32, math.MaxUint32, false},
	} {
		if got := r.admits(tc.uid, tc.gid); got != tc.want {
			t.Errorf("%s (%d:%d): admits %v, want %v", tc.name, tc.uid, tc.gid, got, tc.want)
		}
	}
	if (IDRange{}).admits(0, 0) {
		t.Error("the empty range admits host root")
	}
}

func TestNewRefusesACallerRangeAdmittingHostRootOrPastTheLargestID(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    IDRange
		ok   bool
	}{
		{"a lease", IDRange{UID: 165536, GID: 165536, Size: 65536}, true},
		{"empty: admits no one", IDRange{}, true},
		{"starts at uid 0", IDRange{UID: 0, GID: 165536, Size: 65536}, false},
		{"starts at gid 0", IDRange{UID: 165536, GID: 0, Size: 65536}, false},
		{"uid range past the largest id", IDRange{UID: math.MaxUint32 - 10, GID: 165536, Size: 65536}, false},
		{"gid range past the largest id", IDRange{UID: 165536, GID: math.MaxUint32 - 10, Size: 65536}, false},
	} {
		err := tc.r.validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: validate() = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	// New checks before mounting anything.
	dir := filepath.Join(t.TempDir(), "c1")
	static := handler.Func(func(handler.Container) ([]byte, error) { return []byte("1\n"), nil })
	view := func() handler.Container { return handler.Container{ID: "c1"} }
	if _, err := New(dir, handler.Table{"proc/uptime": static}, view, testLog(t), Options{Callers: IDRange{Size: 65536}}); err == nil {
		t.Fatal("New accepted a caller range admitting host root")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused New left %s: %v", dir, err)
	}
}

// accessMount mounts the test container's tree with one file of each kind:
// a handler file, an emulated knob, a pass-through sysctl, a read-only and
// a writable value file (0444 and 0644, so that every container uid may
// read them: only the caller range decides).
func accessMount(t *testing.T) string {
	t.Helper()
	files := map[string]string{"kernel/panic": "0\n", "net/ipv4/ip_forward": "0\n"}
	var value atomic.Pointer[string]
	value.Store(new("42\n"))
	dir, _ := sysctlMount(t, files, os.Getpid,
		ValueFile("sys/devices/virtual/dmi/id/product_uuid", 0o444, testOwner, func() ([]byte, error) { return []byte("uuid\n"), nil }, nil),
		ValueFile("sys/module/nf_conntrack/parameters/hashsize", 0o644, testOwner,
			func() ([]byte, error) { return []byte(*value.Load()), nil },
			func(b []byte) error { value.Store(new(strings.TrimSpace(string(b)) + "\n")); return nil }))
	return dir
}

// contentFiles are accessMount's files and whether a container root may
// write them.
var contentFiles = []struct {
	path     string
	writable bool
}{
	{"proc/uptime", false},
	{"proc/sys/kernel/panic", true},
	{"proc/sys/net/ipv4/ip_forward", true},
	{"sys/devices/virtual/dmi/id/product_uuid", false},
	{"sys/module/nf_conntrack/parameters/hashsize", true},
}

func TestContentIsRefusedToEveryCallerOutsideTheContainer(t *testing.T) {
	dir := accessMount(t)
	for _, caller := range []struct {
		name     string
		uid, gid uint32
		admitted bool
	}{
		{"host root", 0, 0, false},
		{"host user", 1000, 1000, false},
		{"another container's root", 231072, 231072, false},
		{"container uid with host root's gid", testOwner.UID, 0, false},
		{"container uid with another container's gid", testOwner.UID + 5, 231072, false},
		{"container root", testOwner.UID, testOwner.GID, true},
		{"container user 1000", testOwner.UID + 1000, testOwner.GID + 1000, true},
	} {
		for _, f := range contentFiles {
			p := filepath.Join(dir, f.path)
			b, err := readAs(caller.uid, caller.gid, p)
			switch {
			case caller.admitted && err != nil:
				t.Errorf("%s reading %s: %v", caller.name, f.path, err)
			case !caller.admitted && !errors.Is(err, syscall.EACCES):
				t.Errorf("%s reading %s: %q, %v; want EACCES", caller.name, f.path, b, err)
			}
			if !f.writable || caller.admitted {
				continue
			}
			err = asCaller(caller.uid, caller.gid, func() error {
				return os.WriteFile(p, []byte("7\n"), 0)
			})
			if !errors.Is(err, syscall.EACCES) {
				t.Errorf("%s writing %s: %v, want EACCES", caller.name, f.path, err)
			}
		}
	}
	// Nothing the refused writers sent took effect.
	for p, want := range map[string]string{
		"proc/sys/kernel/panic":                       "0\n",
		"proc/sys/net/ipv4/ip_forward":                "0\n",
		"sys/module/nf_conntrack/parameters/hashsize": "42\n",
	} {
		if b, err := readC(filepath.Join(dir, p)); err != nil || string(b) != want {
			t.Errorf("%s after refused writes: %q %v, want %q", p, b, err, want)
		}
	}
}

// An open file handed out of the container (SCM_RIGHTS, or inherited by
// a process that left it) gives a host process no content: every READ
// and WRITE is checked, not only OPEN.
func TestReadAndWriteOfAFileOpenedInTheContainerAreCheckedAgain(t *testing.T) {
	dir := accessMount(t)
	for _, f := range contentFiles {
		flag := os.O_RDONLY
		if f.writable {
			flag = os.O_RDWR
		}
		fh, err := openC(filepath.Join(dir, f.path), flag)
		if err != nil {
			t.Fatalf("%s: container root open: %v", f.path, err)
		}
		buf := make([]byte, 64)
		if n, err := fh.ReadAt(buf, 0); !errors.Is(err, syscall.EACCES) {
			t.Errorf("%s: host root read of the container's open file: %q, %v; want EACCES", f.path, buf[:n], err)
		}
		if f.writable {
			if _, err := fh.WriteAt([]byte("3\n"), 0); !errors.Is(err, syscall.EACCES) {
				t.Errorf("%s: host root write through the container's open file: %v, want EACCES", f.path, err)
			}
		}
		err = asCaller(testOwner.UID, testOwner.GID, func() error {
			_, err := fh.ReadAt(buf, 0)
			if err == io.EOF {
				err = nil
			}
			return err
		})
		if err != nil {
			t.Errorf("%s: container root read of its own open file: %v", f.path, err)
		}
		fh.Close()
	}
}

func TestNamesModesAndListingsStayVisibleOutsideTheContainer(t *testing.T) {
	dir := accessMount(t)
	for _, caller := range []struct {
		name     string
		uid, gid uint32
	}{{"host root", 0, 0}, {"another container's root", 231072, 231072}} {
		err := asCaller(caller.uid, caller.gid, func() error {
			for _, f := range contentFiles {
				st, err := os.Stat(filepath.Join(dir, f.path))
				if err != nil {
					return err
				}
				if !st.Mode().IsRegular() {
					return errors.New(f.path + ": not a regular file")
				}
			}
			for _, d := range []string{"proc", "proc/sys/kernel", "sys/devices/virtual/dmi/id"} {
				if ents, err := os.ReadDir(filepath.Join(dir, d)); err != nil || len(ents) == 0 {
					return errors.New(d + ": listing failed or empty")
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", caller.name, err)
		}
	}
}

func TestEmptyCallerRangeAdmitsNoOne(t *testing.T) {
	needRoot(t)
	dir := filepath.Join(t.TempDir(), "c1")
	static := handler.Func(func(handler.Container) ([]byte, error) { return []byte("1\n"), nil })
	view := func() handler.Container { return handler.Container{ID: "c1"} }
	uuid := ValueFile("sys/devices/virtual/dmi/id/product_uuid", 0o444, testOwner,
		func() ([]byte, error) { return []byte(sysctl.ProductUUID("c1")), nil }, nil)
	m, err := New(dir, handler.Table{"proc/uptime": static}, view, testLog(t), Options{}, uuid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	})
	reachable(t, dir)
	for _, ids := range [][2]uint32{{0, 0}, {testOwner.UID, testOwner.GID}} {
		for _, p := range []string{"proc/uptime", "sys/devices/virtual/dmi/id/product_uuid"} {
			if _, err := readAs(ids[0], ids[1], filepath.Join(dir, p)); !errors.Is(err, syscall.EACCES) {
				t.Errorf("%d:%d reading %s of a tree without callers: %v, want EACCES", ids[0], ids[1], p, err)
			}
		}
	}
}
