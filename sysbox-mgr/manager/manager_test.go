package manager

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/sysboxd/sysboxd/sysbox-mgr/idpool"
	"github.com/sysboxd/sysboxd/sysbox-mgr/state"
)

const blk = idpool.BlockSize

func testConfig(t *testing.T, dir string, blocks uint32) Config {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o711); err != nil {
		t.Fatal(err)
	}
	return Config{
		StatePath: filepath.Join(dir, "state", state.FileName),
		DataRoot:  data,
		UIDs:      idpool.Range{Start: 165536, Size: blocks * blk},
		GIDs:      idpool.Range{Start: 300000, Size: blocks * blk},
		Log:       log,
	}
}

func newManager(t *testing.T, cfg Config) *Manager {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestConcurrentAllocsForDifferentIDsNeverOverlap(t *testing.T) {
	m := newManager(t, testConfig(t, t.TempDir(), 64))
	const n = 50
	blocks := make([]idpool.Block, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			b, fresh, err := m.SubidAlloc(fmt.Sprintf("c%d", i), blk)
			if err == nil && !fresh {
				err = fmt.Errorf("c%d: not fresh", i)
			}
			if err != nil {
				errs <- err
			}
			blocks[i] = b
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			a, b := blocks[i], blocks[j]
			if a.UID < b.UID+b.Size && b.UID < a.UID+a.Size || a.GID < b.GID+b.Size && b.GID < a.GID+a.Size {
				t.Fatalf("c%d %+v overlaps c%d %+v", i, a, j, b)
			}
		}
	}
	// All 50 are on disk.
	f, _, err := state.LoadAll(m.cfg.StatePath)
	if err != nil || len(f.Leases) != n {
		t.Fatalf("state file holds %d leases, %v", len(f.Leases), err)
	}
}

// skipUnlessRootForSpecialDirs skips a test that creates a container's special dirs (ReqMounts,
// or Register followed by a reconcile): they are chowned to the container's root ID.
func skipUnlessRootForSpecialDirs(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the special dirs are chowned to the container's root ID")
	}
}

func TestLeasesSurviveReload(t *testing.T) {
	skipUnlessRootForSpecialDirs(t)
	dir := t.TempDir()
	cfg := testConfig(t, dir, 8)
	m := newManager(t, cfg)
	rootfs := t.TempDir()
	must(t, m.Register("a", rootfs, "/bundle/a"))
	a, _, err := m.SubidAlloc("a", blk)
	must(t, err)
	b, _, err := m.SubidAlloc("b", blk)
	must(t, err)
	_, err = m.ReqMounts("a", "", nil)
	must(t, err)
	must(t, m.Unregister("a", false))

	m2 := newManager(t, cfg)
	got, fresh, err := m2.SubidAlloc("a", blk)
	if err != nil || fresh || got != a {
		t.Fatalf("after reload a got %+v fresh=%v %v, want %+v", got, fresh, err, a)
	}
	if got, _, _ := m2.SubidAlloc("b", blk); got != b {
		t.Fatalf("after reload b got %+v, want %+v", got, b)
	}
	c, _, err := m2.SubidAlloc("c", blk)
	must(t, err)
	if c.UID == a.UID || c.UID == b.UID {
		t.Fatalf("new lease %+v reuses a reloaded block", c)
	}
	var la state.Lease
	for _, l := range m2.Leases() {
		if l.ID == "a" {
			la = l
		}
	}
	if la.Rootfs != rootfs || la.Bundle != "/bundle/a" || la.Running || len(la.Mounts) != 7 {
		t.Fatalf("reloaded record of a: %+v", la)
	}
}

func TestNewRefusesBadStateFiles(t *testing.T) {
	tests := []struct {
		name, content, wantErr string
	}{
		{"corrupt", `{"version":1,"leases":[`, "corrupt"},
		{"unknown version", `{"version":99,"leases":[]}`, "version 99"},
		{"overlapping leases", `{"version":1,"leases":[
			{"id":"a","uid":165536,"gid":300000,"size":65536},
			{"id":"b","uid":165537,"gid":400000,"size":65536}]}`, "overlaps"},
		{"lease outside the pool", `{"version":1,"leases":[{"id":"a","uid":1000,"gid":300000,"size":65536}]}`, "outside the pool"},
		{"bad id", `{"version":1,"leases":[{"id":"../etc","uid":165536,"gid":300000,"size":65536}]}`, "not a valid container id"},
		{"relative rootfs", `{"version":1,"leases":[{"id":"a","rootfs":"rel/path"}]}`, "not absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir(), 4)
			must(t, os.MkdirAll(filepath.Dir(cfg.StatePath), 0o700))
			must(t, os.WriteFile(cfg.StatePath, []byte(tt.content), 0o600))
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), cfg.StatePath) {
				t.Fatalf("got %v; want an error naming %s with %q", err, cfg.StatePath, tt.wantErr)
			}
			// Refusing must not rewrite the file.
			if got, _ := os.ReadFile(cfg.StatePath); string(got) != tt.content {
				t.Fatal("state file was rewritten")
			}
		})
	}
}

func TestPoolShrunkBelowLeasesIsRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, 4)
	m := newManager(t, cfg)
	for _, id := range []string{"a", "b", "c"} {
		_, _, err := m.SubidAlloc(id, blk)
		must(t, err)
	}
	cfg.UIDs.Size = 2 * blk // the subuid entry was edited
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "outside the pool") {
		t.Fatalf("got %v", err)
	}
}

func TestRegisterUnregisterAndRelease(t *testing.T) {
	skipUnlessRootForSpecialDirs(t)
	cfg := testConfig(t, t.TempDir(), 4)
	m := newManager(t, cfg)
	rootfs := t.TempDir()
	must(t, m.Register("box", rootfs, "/b"))
	b, fresh, err := m.SubidAlloc("box", blk)
	if err != nil || !fresh {
		t.Fatal(fresh, err)
	}
	mounts, err := m.ReqMounts("box", rootfs, nil)
	must(t, err)
	if len(mounts) != 7 || !exists(mounts[0].Source) {
		t.Fatalf("mounts %+v", mounts)
	}

	must(t, m.Unregister("box", false))
	l := m.Leases()[0]
	if l.Running || l.UID != b.UID || !exists(mounts[0].Source) {
		t.Fatalf("after Unregister(release=false): %+v, dir exists=%v", l, exists(mounts[0].Source))
	}
	// docker start again: same block.
	must(t, m.Register("box", rootfs, "/b"))
	if again, fresh, _ := m.SubidAlloc("box", blk); fresh || again != b || !m.Leases()[0].Running {
		t.Fatalf("restart got %+v fresh=%v", again, fresh)
	}

	must(t, m.Unregister("box", true))
	if len(m.Leases()) != 0 {
		t.Fatalf("leases after release: %+v", m.Leases())
	}
	for _, mt := range mounts {
		if exists(mt.Source) {
			t.Errorf("%s survived the release", mt.Source)
		}
	}
	if err := m.Unregister("box", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Unregister of a released id: %v, want ErrNotFound", err)
	}
	if err := m.Unregister("box", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("release of a released id: %v, want ErrNotFound", err)
	}
}

func TestBadRequests(t *testing.T) {
	m := newManager(t, testConfig(t, t.TempDir(), 2))
	must(t, m.Register("nolease", "", ""))
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"empty id Register", func() error { return m.Register("", "/r", "") }, ErrInvalidArgument},
		{"path id Register", func() error { return m.Register("../x", "/r", "") }, ErrInvalidArgument},
		{"relative rootfs", func() error { return m.Register("x", "r", "") }, ErrInvalidArgument},
		{"missing rootfs", func() error { return m.Register("x", "/nonexistent/rootfs", "") }, ErrInvalidArgument},
		{"empty id SubidAlloc", func() error { _, _, err := m.SubidAlloc("", blk); return err }, ErrInvalidArgument},
		{"zero size", func() error { _, _, err := m.SubidAlloc("x", 0); return err }, idpool.ErrInvalidSize},
		{"absurd size", func() error { _, _, err := m.SubidAlloc("x", 1<<31); return err }, idpool.ErrInvalidSize},
		{"unknown id ReqMounts", func() error { _, err := m.ReqMounts("nobody", "", nil); return err }, ErrNotFound},
		{"ReqMounts before SubidAlloc", func() error { _, err := m.ReqMounts("nolease", "", nil); return err }, ErrNoLease},
		{"unknown id Unregister", func() error { return m.Unregister("nobody", false) }, ErrNotFound},
		{"empty id Unregister", func() error { return m.Unregister("", true) }, ErrInvalidArgument},
		// The property FuzzManagerRequestChecks checks: no NUL in a path, no id too long for a dir name.
		{"NUL in rootfs ReqMounts", func() error { _, err := m.ReqMounts("nolease", "/r\x00x", nil); return err }, ErrInvalidArgument},
		{"id longer than a dir name Register", func() error { return m.Register(strings.Repeat("a", 251), "", "") }, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if n := len(m.Leases()); n != 1 {
		t.Fatalf("bad requests left %d records, want only nolease", n)
	}
}

func TestExhaustion(t *testing.T) {
	m := newManager(t, testConfig(t, t.TempDir(), 2))
	for _, id := range []string{"a", "b"} {
		_, _, err := m.SubidAlloc(id, blk)
		must(t, err)
	}
	_, _, err := m.SubidAlloc("c", blk)
	if !errors.Is(err, idpool.ErrExhausted) || !strings.Contains(err.Error(), "no free uid range (2 in use") {
		t.Fatalf("got %v", err)
	}
	if len(m.Leases()) != 2 {
		t.Fatal("a failed alloc left a record")
	}
}

func TestFailedStateWriteLeavesNoLease(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), 4)
	m := newManager(t, cfg)
	_, _, err := m.SubidAlloc("a", blk)
	must(t, err)
	// Make the state dir unusable: a file where the dir should be.
	stateDir := filepath.Dir(cfg.StatePath)
	must(t, os.RemoveAll(stateDir))
	must(t, os.WriteFile(stateDir, nil, 0o600))
	if _, _, err := m.SubidAlloc("b", blk); err == nil {
		t.Fatal("alloc succeeded without persisting")
	}
	if err := m.Unregister("a", true); err == nil {
		t.Fatal("release succeeded without persisting")
	}
	if ls := m.Leases(); len(ls) != 1 || ls[0].ID != "a" {
		t.Fatalf("memory diverged from disk: %+v", ls)
	}
	must(t, os.Remove(stateDir))
	b, fresh, err := m.SubidAlloc("b", blk)
	if err != nil || !fresh || b.UID != 165536+blk {
		t.Fatalf("block of the failed alloc not free again: %+v %v", b, err)
	}
}

func TestReaperReleasesContainersWhoseRootfsIsGone(t *testing.T) {
	skipUnlessRootForSpecialDirs(t)
	cfg := testConfig(t, t.TempDir(), 8)
	m := newManager(t, cfg)
	base := t.TempDir()
	mk := func(id string, running bool) string {
		rootfs := filepath.Join(base, id, "merged")
		must(t, os.MkdirAll(rootfs, 0o755))
		must(t, m.Register(id, rootfs, ""))
		_, _, err := m.SubidAlloc(id, blk)
		must(t, err)
		_, err = m.ReqMounts(id, "", nil)
		must(t, err)
		if !running {
			must(t, m.Unregister(id, false))
		}
		return rootfs
	}
	mk("removed-running", true)
	mk("removed-stopped", false)
	mk("stopped", false)
	mk("running", true)
	_, _, err := m.SubidAlloc("no-rootfs", blk) // never registered: no rootfs known
	must(t, err)

	if n := m.Reap(); n != 0 {
		t.Fatalf("reaped %d with every rootfs present", n)
	}
	// docker stop: Docker's overlay2 driver unmounts and removes the
	// layer's merged dir; the layer dir stays until docker rm.
	must(t, os.Remove(filepath.Join(base, "stopped", "merged")))
	if n := m.Reap(); n != 0 {
		t.Fatalf("reaped %d after a stop removed a merged dir", n)
	}
	must(t, os.RemoveAll(filepath.Join(base, "removed-running")))
	must(t, os.RemoveAll(filepath.Join(base, "removed-stopped")))
	if n := m.Reap(); n != 2 {
		t.Fatalf("reaped %d, want 2", n)
	}
	var ids []string
	for _, l := range m.Leases() {
		ids = append(ids, l.ID)
	}
	if strings.Join(ids, ",") != "stopped,running,no-rootfs" {
		t.Fatalf("left %v", ids)
	}
	for _, id := range []string{"removed-running", "removed-stopped"} {
		if exists(filepath.Join(cfg.DataRoot, "docker", id)) {
			t.Errorf("special dir of %s survived", id)
		}
	}
	if !exists(filepath.Join(cfg.DataRoot, "docker", "stopped")) {
		t.Error("special dir of a stopped container deleted")
	}
	// The release is on disk.
	m2 := newManager(t, cfg)
	if len(m2.Leases()) != 3 {
		t.Fatalf("reloaded %d records", len(m2.Leases()))
	}
}

func TestReconcileAtStartReapsAndSweepsOrphanDirs(t *testing.T) {
	skipUnlessRootForSpecialDirs(t)
	cfg := testConfig(t, t.TempDir(), 8)
	m := newManager(t, cfg)
	base := t.TempDir()
	for _, id := range []string{"kept", "vanished"} {
		rootfs := filepath.Join(base, id)
		must(t, os.MkdirAll(rootfs, 0o755))
		must(t, m.Register(id, rootfs, ""))
		_, _, err := m.SubidAlloc(id, blk)
		must(t, err)
		_, err = m.ReqMounts(id, "", nil)
		must(t, err)
	}
	// While the daemon was down: one container removed, and a dir left
	// by a lease that was forgotten before its dirs were deleted.
	must(t, os.RemoveAll(filepath.Join(base, "vanished")))
	orphan := filepath.Join(cfg.DataRoot, "kubelet", "orphan")
	must(t, os.MkdirAll(orphan, 0o700))

	m2 := newManager(t, cfg)
	must(t, m2.Reconcile())
	if ls := m2.Leases(); len(ls) != 1 || ls[0].ID != "kept" {
		t.Fatalf("after reconcile: %+v", ls)
	}
	if exists(orphan) || exists(filepath.Join(cfg.DataRoot, "docker", "vanished")) {
		t.Fatal("orphan or vanished container's dirs survived")
	}
	if !exists(filepath.Join(cfg.DataRoot, "docker", "kept")) {
		t.Fatal("leased dir swept")
	}
}

func TestReaperKeepsLeasesWhenTheRootfsFilesystemIsNotMounted(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), 4)
	m := newManager(t, cfg)
	base := t.TempDir()
	// Docker's layout: <docker root>/overlay2/<layer>/merged.
	rootfs := filepath.Join(base, "docker", "overlay2", "layer1", "merged")
	must(t, os.MkdirAll(rootfs, 0o755))
	must(t, m.Register("c", rootfs, ""))
	_, _, err := m.SubidAlloc("c", blk)
	must(t, err)
	recorded := m.Leases()[0].RootfsDev
	if recorded == 0 {
		t.Fatal("Register recorded no device for the rootfs")
	}

	// The docker root's filesystem is not mounted: its whole tree is
	// missing and the nearest existing dir is on another device.
	must(t, os.RemoveAll(filepath.Join(base, "docker")))
	m.mu.Lock()
	m.recs["c"].RootfsDev = recorded + 1 // the docker root was another device
	m.mu.Unlock()
	if n := m.Reap(); n != 0 || len(m.Leases()) != 1 {
		t.Fatalf("released %d leases while the rootfs filesystem is missing", n)
	}

	// Same filesystem, rootfs gone: the engine removed the container.
	m.mu.Lock()
	m.recs["c"].RootfsDev = recorded
	m.mu.Unlock()
	if n := m.Reap(); n != 1 || len(m.Leases()) != 0 {
		t.Fatalf("released %d, leases left %d", n, len(m.Leases()))
	}
}

func TestChangesAreJournaledAndFoldedIntoSnapshots(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), minCompact+64)
	m := newManager(t, cfg)
	for i := range 10 {
		_, _, err := m.SubidAlloc(fmt.Sprintf("c%d", i), blk)
		must(t, err)
	}
	must(t, m.Unregister("c3", true))
	// No Flush: a crash now. The journal holds the 11 changes.
	snap, err := state.Load(cfg.StatePath)
	must(t, err)
	if len(snap.Leases) != 0 {
		t.Fatalf("snapshot rewritten on every change: %d leases in it", len(snap.Leases))
	}
	m2 := newManager(t, cfg)
	if n := len(m2.Leases()); n != 9 {
		t.Fatalf("after reload %d leases, want 9", n)
	}
	// Reload folded the journal into a snapshot.
	if snap, err = state.Load(cfg.StatePath); err != nil || len(snap.Leases) != 9 {
		t.Fatalf("snapshot after reload: %d leases, %v", len(snap.Leases), err)
	}
	// Enough changes trigger a snapshot by themselves.
	for i := 10; i < minCompact+20; i++ {
		_, _, err := m2.SubidAlloc(fmt.Sprintf("c%d", i), blk)
		must(t, err)
	}
	fi, err := os.Stat(state.JournalPath(cfg.StatePath))
	must(t, err)
	if fi.Size() > 10*1024 {
		t.Fatalf("journal not compacted: %d bytes after %d changes", fi.Size(), minCompact+10)
	}
	m3 := newManager(t, cfg)
	if n := len(m3.Leases()); n != minCompact+19 {
		t.Fatalf("after compaction and reload %d leases, want %d", n, minCompact+19)
	}
}

func TestUnregisterCopiesSpecialDirsIntoTheDockerLayerUnlessTurnedOff(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown, trusted.* xattrs)")
	}
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoCopyOut=%v", off), func(t *testing.T) {
			cfg := testConfig(t, t.TempDir(), 4)
			cfg.NoCopyOut = off
			m := newManager(t, cfg)
			layer := filepath.Join(t.TempDir(), "overlay2", "abc")
			rootfs := filepath.Join(layer, "merged")
			for _, d := range []string{"merged", "diff", "work"} {
				must(t, os.MkdirAll(filepath.Join(layer, d), 0o755))
			}
			must(t, os.WriteFile(filepath.Join(layer, "link"), []byte("L"), 0o644))
			must(t, m.Register("c", rootfs, ""))
			b, _, err := m.SubidAlloc("c", blk)
			must(t, err)
			mounts, err := m.ReqMounts("c", "", nil)
			must(t, err)
			f := filepath.Join(mounts[0].Source, "inner")
			must(t, os.WriteFile(f, []byte("x"), 0o644))
			must(t, os.Lchown(f, int(b.UID)+5, int(b.GID)+5))
			must(t, m.Unregister("c", false))
			copied := filepath.Join(layer, "diff", mounts[0].Destination, "inner")
			fi, err := os.Lstat(copied)
			if off {
				if err == nil {
					t.Fatal("copied out with NoCopyOut")
				}
				return
			}
			must(t, err)
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 5 || st.Gid != 5 {
				t.Fatalf("copy owned by %d:%d, want in-container 5:5", st.Uid, st.Gid)
			}
		})
	}
}

func TestOnReleaseRunsForEveryReleaseAndNothingElse(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), 4)
	var mu sync.Mutex
	var released []string
	cfg.OnRelease = func(id string) {
		mu.Lock()
		defer mu.Unlock()
		released = append(released, id)
	}
	got := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(released, ",")
	}
	m := newManager(t, cfg)
	base := t.TempDir()
	for _, id := range []string{"by-runtime", "by-reaper"} {
		must(t, os.MkdirAll(filepath.Join(base, id), 0o755))
		must(t, m.Register(id, filepath.Join(base, id), ""))
		_, _, err := m.SubidAlloc(id, blk)
		must(t, err)
	}
	must(t, m.Unregister("by-runtime", false))
	if m.Reap(); got() != "" {
		t.Fatalf("OnRelease(%s) after a stop and a reap with every rootfs present", got())
	}
	must(t, m.Unregister("by-runtime", true))
	if got() != "by-runtime" {
		t.Fatalf("after release by the runtime: OnRelease(%s)", got())
	}
	must(t, os.Remove(filepath.Join(base, "by-reaper")))
	if n := m.Reap(); n != 1 || got() != "by-runtime,by-reaper" {
		t.Fatalf("reaped %d: OnRelease(%s), want by-runtime,by-reaper", n, got())
	}
	if err := m.Unregister("by-runtime", true); !errors.Is(err, ErrNotFound) || got() != "by-runtime,by-reaper" {
		t.Fatalf("release of an unknown id: %v, OnRelease(%s)", err, got())
	}
}
