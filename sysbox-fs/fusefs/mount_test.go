package fusefs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
)

// mountsUnder lists the mountpoints below root in this mount namespace.
func mountsUnder(t *testing.T, root string) []string {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(root))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		if m.Mountpoint != root {
			out = append(out, m.Mountpoint)
		}
	}
	return out
}

func needRoot(t testing.TB) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount fuse")
	}
}

// counting returns a handler whose content changes at every generation:
// 100 copies of the generation number's last digit, then a newline.
func counting(n *atomic.Int64) handler.Handler {
	return handler.Func(func(c handler.Container) ([]byte, error) {
		g := n.Add(1)
		return []byte(strings.Repeat(fmt.Sprint(g%10), 100) + "\n"), nil
	})
}

func mountTest(t *testing.T, table handler.Table) (*Mount, string) {
	t.Helper()
	needRoot(t)
	root := t.TempDir()
	dir := filepath.Join(root, "c1")
	view := func() handler.Container { return handler.Container{ID: "c1"} }
	m, err := New(dir, table, view, testLog(t), Options{Callers: testCallers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	})
	reachable(t, dir)
	return m, root
}

func TestTreeModesOwnersAndMountOptions(t *testing.T) {
	static := handler.Func(func(handler.Container) ([]byte, error) { return []byte("1\n"), nil })
	m, _ := mountTest(t, handler.Table{"proc/uptime": static, "proc/sys/kernel/panic": static})

	want := map[string]uint32{
		"":                      syscall.S_IFDIR | 0o555,
		"proc":                  syscall.S_IFDIR | 0o555,
		"proc/sys":              syscall.S_IFDIR | 0o555,
		"proc/sys/kernel":       syscall.S_IFDIR | 0o555,
		"proc/uptime":           syscall.S_IFREG | 0o444,
		"proc/sys/kernel/panic": syscall.S_IFREG | 0o444,
	}
	for p, mode := range want {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(m.Dir(), p), &st); err != nil {
			t.Fatal(err)
		}
		// Owned by the container's root (the start of its id range), as
		// procfs' files by root: host root showed as 65534 inside.
		if st.Mode != mode || st.Uid != testCallers.UID || st.Gid != testCallers.GID {
			t.Errorf("%q: mode %o owner %d:%d, want %o %d:%d", p, st.Mode, st.Uid, st.Gid, mode, testCallers.UID, testCallers.GID)
		}
	}
	ents, err := os.ReadDir(filepath.Join(m.Dir(), "proc"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"sys", "uptime"}) {
		t.Errorf("proc lists %q", names)
	}

	infos, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(m.Dir()))
	if err != nil || len(infos) != 1 {
		t.Fatalf("mountinfo for %s: %v %v", m.Dir(), infos, err)
	}
	mi := infos[0]
	if mi.FSType != "fuse.sysboxfs" || mi.Source != "sysboxfs" {
		t.Errorf("type %q source %q, want fuse.sysboxfs sysboxfs", mi.FSType, mi.Source)
	}
	if !strings.Contains(mi.VFSOptions, "allow_other") {
		t.Errorf("super options %q lack allow_other", mi.VFSOptions)
	}
	// default_permissions would cost a GETATTR on every open (file
	// attributes are never cached); the files are read-only by Open.
	if strings.Contains(mi.VFSOptions, "default_permissions") {
		t.Errorf("super options %q have default_permissions", mi.VFSOptions)
	}
	for _, o := range []string{"nosuid", "nodev"} {
		if !strings.Contains(mi.Options, o) {
			t.Errorf("mount options %q lack %s", mi.Options, o)
		}
	}
}

func TestReadKeepsContentPerHandleAndRegeneratesAtOffsetZero(t *testing.T) {
	var gen atomic.Int64
	m, _ := mountTest(t, handler.Table{"proc/uptime": counting(&gen)})
	inContainer(t, func() error {
		f, err := os.Open(filepath.Join(m.Dir(), "proc/uptime"))
		if err != nil {
			return err
		}
		defer f.Close()

		// Small reads: one generation at offset 0, the rest served from it.
		var got []byte
		buf := make([]byte, 7)
		for {
			n, err := f.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		if want := strings.Repeat("1", 100) + "\n"; string(got) != want {
			return fmt.Errorf("first read %q, want %q", got, want)
		}
		if g := gen.Load(); g != 1 {
			return fmt.Errorf("%d generations for one read through EOF, want 1", g)
		}
		// A re-read after seeking to 0 (procps, top) gets fresh content.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		got, err = io.ReadAll(f)
		if err != nil {
			return err
		}
		if want := strings.Repeat("2", 100) + "\n"; string(got) != want {
			return fmt.Errorf("re-read %q, want %q", got, want)
		}
		// pread at an offset of a fresh handle generates once, too.
		g, err := os.Open(filepath.Join(m.Dir(), "proc/uptime"))
		if err != nil {
			return err
		}
		defer g.Close()
		b := make([]byte, 4)
		if n, err := g.ReadAt(b, 99); err != nil && err != io.EOF || string(b[:n]) != "3\n" {
			return fmt.Errorf("pread at 99: %q, %v", b[:n], err)
		}
		return nil
	})
}

func TestHandlerErrorIsEIOAndWritesAreRefused(t *testing.T) {
	broken := handler.Func(func(handler.Container) ([]byte, error) { return nil, errors.New("boom") })
	m, _ := mountTest(t, handler.Table{"proc/broken": broken})
	p := filepath.Join(m.Dir(), "proc/broken")
	if _, err := readC(p); !errors.Is(err, syscall.EIO) {
		t.Errorf("read of a failing handler: %v, want EIO", err)
	}
	// Not even the container's root, the file's owner, opens for writing.
	err := asCaller(testOwner.UID, testOwner.GID, func() error {
		_, err := os.OpenFile(p, os.O_WRONLY, 0)
		return err
	})
	if !errors.Is(err, syscall.EACCES) {
		t.Errorf("open for writing: %v, want EACCES", err)
	}
}

func TestUnmountRemovesMountAndDirEvenWhenBusy(t *testing.T) {
	var gen atomic.Int64
	needRoot(t)
	root := t.TempDir()
	view := func() handler.Container { return handler.Container{ID: "c1"} }
	for _, busy := range []bool{false, true} {
		dir := filepath.Join(root, fmt.Sprintf("c-%v", busy))
		m, err := New(dir, handler.Table{"proc/uptime": counting(&gen)}, view, testLog(t), Options{Callers: testCallers})
		if err != nil {
			t.Fatal(err)
		}
		reachable(t, dir)
		var f *os.File
		if busy {
			inContainer(t, func() (err error) {
				f, err = os.Open(filepath.Join(dir, "proc/uptime"))
				return err
			})
		}
		if err := m.Unmount(); err != nil {
			t.Fatalf("busy=%v: %v", busy, err)
		}
		if ms := mountsUnder(t, root); len(ms) != 0 {
			t.Fatalf("busy=%v: still mounted %q", busy, ms)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("busy=%v: mountpoint left: %v", busy, err)
		}
		if f != nil {
			// The detached tree still serves the open file.
			if err := asCaller(testOwner.UID, testOwner.GID, func() error { _, err := io.ReadAll(f); return err }); err != nil {
				t.Errorf("read of a file open across the lazy unmount: %v", err)
			}
			f.Close()
		}
	}
}

// busybox cat copies with sendfile(2), which goes through the page cache
// and stops at the inode's size: a procfs-like size of 0 made it print
// nothing.
func TestSendfileCopiesTheWholeContent(t *testing.T) {
	var gen atomic.Int64
	m, _ := mountTest(t, handler.Table{"proc/uptime": counting(&gen)})
	for round := 1; round <= 2; round++ {
		dst, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			t.Fatal(err)
		}
		var n int
		inContainer(t, func() error {
			src, err := os.Open(filepath.Join(m.Dir(), "proc/uptime"))
			if err != nil {
				return err
			}
			defer src.Close()
			if _, err := src.Stat(); err != nil { // busybox stats before sendfile
				return err
			}
			n, err = unix.Sendfile(int(dst.Fd()), int(src.Fd()), nil, 1<<16)
			return err
		})
		got, _ := os.ReadFile(dst.Name())
		dst.Close()
		want := strings.Repeat(strconv.Itoa(int(gen.Load())), 100) + "\n"
		if n != len(want) || string(got) != want {
			t.Fatalf("round %d: sendfile copied %d bytes %q, want %q", round, n, got, want)
		}
	}
}

// A content longer than one request (maxRequest) comes in several READs,
// all from the one generation the open file keeps.
func TestContentLongerThanOneRequestIsReadWholeFromOneGeneration(t *testing.T) {
	var gen atomic.Int64
	long := handler.Func(func(c handler.Container) ([]byte, error) {
		g := gen.Add(1)
		var b strings.Builder
		for i := 0; b.Len() < 5*maxRequest+123; i++ {
			fmt.Fprintf(&b, "generation %d line %d\n", g, i)
		}
		return []byte(b.String()), nil
	})
	m, _ := mountTest(t, handler.Table{"proc/cpuinfo": sized{long, 1 << 20}})
	var got []byte
	inContainer(t, func() error {
		var err error
		got, err = os.ReadFile(filepath.Join(m.Dir(), "proc/cpuinfo"))
		return err
	})
	if len(got) < 5*maxRequest || !strings.HasPrefix(string(got), "generation 1 line 0\n") {
		t.Fatalf("read %d bytes starting %q, want over %d from generation 1", len(got), got[:min(len(got), 40)], 5*maxRequest)
	}
	if strings.Contains(string(got), "generation 2") || gen.Load() != 1 {
		t.Fatalf("the content mixes generations (%d generated)", gen.Load())
	}
}

// sized gives a handler a size bound, as a long file's handler does.
type sized struct {
	handler.Handler
	bound uint64
}

func (s sized) SizeBound() uint64 { return s.bound }
