package rootfs

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/internal/idmap"
)

var testMapping = idmap.Mapping{HostUID: 165536, HostGID: 165536, Size: 65536}

const busyboxPath = "/usr/bin/busybox"

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// testDir returns a fresh directory on the filesystem of t.TempDir whose
// ancestors a user-namespaced root (an unmapped host uid) may traverse.
func testDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for p := dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	if !idmap.Supported(dir) {
		name, _ := idmap.FSType(dir)
		t.Skipf("test dir is on %s, which cannot be ID-mapped", name)
	}
	return dir
}

// testDirs returns Dirs with staging and a fresh layers dir whose emptiness
// is checked when the test ends: every layer stage must be gone by then.
func testDirs(t testing.TB, staging string) Dirs {
	t.Helper()
	layers := filepath.Join(t.TempDir(), "layers")
	t.Cleanup(func() {
		entries, err := os.ReadDir(layers)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("read layers dir: %v", err)
		}
		for _, e := range entries {
			t.Errorf("layer stage left behind: %s", filepath.Join(layers, e.Name()))
			unmountAllAt(filepath.Join(layers, e.Name()))
		}
	})
	return Dirs{Staging: staging, Layers: layers}
}

func newUserns(t *testing.T) *idmap.Userns {
	t.Helper()
	u, err := idmap.NewUserns(testMapping)
	if err != nil {
		t.Fatalf("NewUserns: %v", err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// unmountAllAt removes every mount stacked at path (test cleanup).
func unmountAllAt(path string) {
	for i := 0; i < 10; i++ {
		if unix.Unmount(path, unix.MNT_DETACH) != nil {
			return
		}
	}
}

type fileSpec struct {
	path     string
	mode     os.FileMode // with os.ModeDir for dirs
	uid, gid int
	content  string
}

func writeTree(t *testing.T, root string, files []fileSpec) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if f.mode.IsDir() {
			if err := os.Mkdir(p, f.mode.Perm()); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(p, []byte(f.content), f.mode.Perm()); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, f.uid, f.gid); err != nil {
			t.Fatal(err)
		}
		// chmod after chown: chown clears setuid bits.
		if err := os.Chmod(p, f.mode.Perm()|f.mode&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
			t.Fatal(err)
		}
	}
}

func installBusybox(t *testing.T, root string) {
	t.Helper()
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		t.Skipf("static busybox needed: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
}

// runInContainer runs a busybox shell script as root of a new user
// namespace with testMapping, chrooted into root: what a container sees.
func runInContainer(t *testing.T, root, script string) string {
	t.Helper()
	return runShellInContainer(t, root, "/bin/busybox", script)
}

// runShellInContainer is runInContainer with the shell at shell (a path
// inside root).
func runShellInContainer(t *testing.T, root, shell, script string) string {
	t.Helper()
	cmd := &exec.Cmd{
		Path: shell,
		Args: []string{"sh", "-c", "set -e\n" + script},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Dir:  "/",
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(testMapping.HostUID), Size: int(testMapping.Size)}},
			GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(testMapping.HostGID), Size: int(testMapping.Size)}},
			GidMappingsEnableSetgroups: true,
			Chroot:                     root,
			Credential:                 &syscall.Credential{Uid: 0, Gid: 0},
		},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in container: %v\nscript:\n%s\noutput:\n%s", err, script, out)
	}
	return string(out)
}

type owner struct{ uid, gid uint32 }

func lstat(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("stat: %v", err)
	}
	return st
}

func ownerOf(t *testing.T, p string) owner {
	st := lstat(t, p)
	return owner{st.Uid, st.Gid}
}

func mountsWithUpper(t *testing.T, upperSuffix string) []*mountinfo.Info {
	t.Helper()
	ms, err := mountinfo.GetMounts(func(i *mountinfo.Info) (bool, bool) {
		return i.FSType != "overlay" || !strings.Contains(i.VFSOptions, "upperdir=") ||
			!strings.Contains(i.VFSOptions, upperSuffix+",") && !strings.HasSuffix(i.VFSOptions, upperSuffix), false
	})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// dockerLayout is a Docker overlay2-like tree: layer dirs with diff/,
// l/<short> symlinks, and a container layer with diff/ work/ merged/.
type dockerLayout struct {
	root                  string // the overlay2 dir
	base, mid             string // lower layer diff dirs
	upper, work, merged   string
	shortBase, shortMid   string // l/ link names
	absOpts, relOpts      string // Docker's mount options, both forms
	lowerPlusOpts         string // lowerdir+ form
	containerLayerDirName string
}

func newDockerLayout(t *testing.T) *dockerLayout {
	t.Helper()
	root := filepath.Join(testDir(t), "overlay2")
	d := &dockerLayout{root: root, shortBase: "BASE7QX2", shortMid: "MID4K9PL", containerLayerDirName: "c0ffee"}
	// Docker's data dir sits on a shared mount on most hosts (systemd makes /
	// shared): clones of its dirs are peers of it, which Prepare must survive.
	if err := os.MkdirAll(root, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(root, root, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	if err := unix.Mount("", root, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	for _, layer := range []string{"base1234", "mid5678"} {
		if err := os.MkdirAll(filepath.Join(root, layer, "diff"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d.base, d.mid = filepath.Join(root, "base1234", "diff"), filepath.Join(root, "mid5678", "diff")
	if err := os.MkdirAll(filepath.Join(root, "l"), 0o700); err != nil {
		t.Fatal(err)
	}
	for short, target := range map[string]string{d.shortBase: "../base1234/diff", d.shortMid: "../mid5678/diff"} {
		if err := os.Symlink(target, filepath.Join(root, "l", short)); err != nil {
			t.Fatal(err)
		}
	}
	installBusybox(t, d.base)
	writeTree(t, d.base, []fileSpec{
		{path: "etc/shadowish", mode: 0o640, uid: 0, gid: 42, content: "secret\n"},
		{path: "etc/motd", mode: 0o644, content: "hello\n"},
		{path: "home/user", mode: os.ModeDir | 0o755, uid: 1000, gid: 1000},
		{path: "home/user/notes", mode: 0o600, uid: 1000, gid: 1000, content: "mine\n"},
		{path: "deleteme", mode: 0o644, content: "bye\n"},
		{path: "opaque/old", mode: 0o644, content: "old\n"},
		{path: "bin/suid", mode: os.ModeSetuid | 0o755, content: "#!/bin/sh\n"},
		{path: "tmp", mode: os.ModeDir | os.ModeSticky | 0o777},
	})
	writeTree(t, d.mid, []fileSpec{
		{path: "var/www/index.html", mode: 0o644, uid: 33, gid: 33, content: "<html>\n"},
	})
	c := filepath.Join(root, d.containerLayerDirName)
	d.upper, d.work, d.merged = filepath.Join(c, "diff"), filepath.Join(c, "work"), filepath.Join(c, "merged")
	for _, p := range []string{d.upper, d.work, d.merged} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(d.work, 0o700); err != nil {
		t.Fatal(err)
	}
	l := filepath.Join(root, "l")
	d.absOpts = "lowerdir=" + filepath.Join(l, d.shortMid) + ":" + filepath.Join(l, d.shortBase) +
		",upperdir=" + d.upper + ",workdir=" + d.work + ",index=off"
	d.relOpts = "lowerdir=l/" + d.shortMid + ":l/" + d.shortBase +
		",upperdir=" + d.containerLayerDirName + "/diff,workdir=" + d.containerLayerDirName + "/work,index=off"
	d.lowerPlusOpts = "lowerdir+=" + filepath.Join(l, d.shortMid) + ",lowerdir+=" + filepath.Join(l, d.shortBase) +
		",upperdir=" + d.upper + ",workdir=" + d.work + ",index=off"
	return d
}

// mountLikeDocker mounts the container overlay as dockerd does: host root,
// from the overlay2 dir as working directory.
func (d *dockerLayout) mountLikeDocker(t *testing.T, opts string) {
	t.Helper()
	err := onThrowawayThread(func() error {
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return err
		}
		if err := unix.Chdir(d.root); err != nil {
			return err
		}
		return unix.Mount("overlay", d.merged, "overlay", 0, opts)
	})
	if err != nil {
		t.Fatalf("docker-like overlay mount (%s): %v", opts, err)
	}
	t.Cleanup(func() { unmountAllAt(d.merged) })
}

func TestPrepareOverlayReplacesDockerMountWithIDMappedLayers(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		variant string
		staging bool
	}{
		{"absolute", false},
		{"relative", true},
		{"lowerdir+", true},
	} {
		name := tc.variant + " options"
		if tc.staging {
			name += ", exposed at a staging dir"
		}
		t.Run(name, func(t *testing.T) {
			d := newDockerLayout(t)
			opts := map[string]string{"absolute": d.absOpts, "relative": d.relOpts, "lowerdir+": d.lowerPlusOpts}[tc.variant]
			d.mountLikeDocker(t, opts)
			u := newUserns(t)
			fdsBefore := openFds(t)
			staging, wantPath := "", d.merged
			if tc.staging {
				staging = filepath.Join(filepath.Dir(d.root), "run", "ctr", "rootfs")
				wantPath = staging
				t.Cleanup(func() { unmountAllAt(staging) })
			}

			start := time.Now()
			s, err := Prepare(d.merged, testDirs(t, staging), u, testMapping)
			prepared := time.Since(start)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if s.Kind != KindOverlay || s.Path != wantPath || s.Original != d.merged || s.Staging != staging {
				t.Fatalf("state = %+v", s)
			}
			if n := openFds(t); n != fdsBefore {
				t.Errorf("open fds %d -> %d: ID-mapped trees not closed", fdsBefore, n)
			}

			// Our overlay is at merged and Docker's is gone.
			info, err := mountAt(d.merged)
			if err != nil || info == nil || info.FSType != "overlay" || !strings.Contains(info.VFSOptions, "upperdir="+stagedUpperName+"/") {
				t.Fatalf("mount at merged: %+v, %v", info, err)
			}
			if !strings.Contains(info.VFSOptions, "index=off") && strings.Contains(info.VFSOptions, "index=on") {
				t.Errorf("index not off: %s", info.VFSOptions)
			}
			if ms := mountsWithUpper(t, d.containerLayerDirName+"/diff"); len(ms) != 0 {
				t.Errorf("Docker's overlay is still mounted: %+v", ms[0])
			}

			// Host view: on-disk ids shifted into the container's range.
			for p, want := range map[string]owner{
				"etc/shadowish":      {165536, 165536 + 42},
				"home/user/notes":    {166536, 166536},
				"var/www/index.html": {165536 + 33, 165536 + 33},
				".":                  {165536, 165536},
			} {
				if got := ownerOf(t, filepath.Join(d.merged, p)); got != want {
					t.Errorf("host view of %s: %v, want %v", p, got, want)
				}
			}

			// Container view: a process that is root in a user namespace
			// with the same mapping, chrooted into merged.
			if tc.staging {
				if st, sm := lstat(t, staging), lstat(t, d.merged); st.Dev != sm.Dev || st.Ino != sm.Ino {
					t.Errorf("staging dir does not show the overlay at merged")
				}
			}
			out := runInContainer(t, s.Path, `
id -u; id -g
stat -c '%u:%g %a' /etc/shadowish /home/user/notes /var/www/index.html /bin/suid
echo new > /newfile
echo more >> /etc/shadowish
echo page >> /var/www/index.html
rm /deleteme
rm -rf /opaque; mkdir /opaque; echo fresh > /opaque/fresh
echo owned > /home/user/created; chown 1000:1000 /home/user/created
chmod 4755 /newfile
ln /etc/motd /etc/motd.link
mkdir -p /var/lib/app && touch /var/lib/app/db
echo ok`)
			want := "0\n0\n0:42 640\n1000:1000 600\n33:33 644\n0:0 4755\nok\n"
			if out != want {
				t.Errorf("container output:\n%s\nwant:\n%s", out, want)
			}

			// On disk, the upper layer holds original ids and modes.
			for _, tc := range []struct {
				path     string
				uid, gid uint32
				mode     uint32
				content  string
			}{
				{"newfile", 0, 0, unix.S_IFREG | unix.S_ISUID | 0o755, "new\n"},
				{"etc/shadowish", 0, 42, unix.S_IFREG | 0o640, "secret\nmore\n"},
				{"var/www/index.html", 33, 33, unix.S_IFREG | 0o644, "<html>\npage\n"},
				{"home/user/created", 1000, 1000, unix.S_IFREG | 0o644, "owned\n"},
				{"home/user", 1000, 1000, unix.S_IFDIR | 0o755, ""},
				{"opaque/fresh", 0, 0, unix.S_IFREG | 0o644, "fresh\n"},
				{"var/lib/app/db", 0, 0, unix.S_IFREG | 0o644, ""},
			} {
				p := filepath.Join(d.upper, tc.path)
				st := lstat(t, p)
				if st.Uid != tc.uid || st.Gid != tc.gid || st.Mode != tc.mode {
					t.Errorf("upper %s: %d:%d %o, want %d:%d %o", tc.path, st.Uid, st.Gid, st.Mode, tc.uid, tc.gid, tc.mode)
				}
				if tc.content != "" {
					if b, _ := os.ReadFile(p); string(b) != tc.content {
						t.Errorf("upper %s content %q, want %q", tc.path, b, tc.content)
					}
				}
			}
			// Hard link copied up as one inode.
			if a, b := lstat(t, filepath.Join(d.upper, "etc/motd")), lstat(t, filepath.Join(d.upper, "etc/motd.link")); a.Ino != b.Ino || a.Nlink != 2 {
				t.Errorf("hard link: inodes %d/%d nlink %d", a.Ino, b.Ino, a.Nlink)
			}
			// Whiteout: a 0/0 character device owned by 0.
			if st := lstat(t, filepath.Join(d.upper, "deleteme")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 || st.Uid != 0 {
				t.Errorf("whiteout for deleteme: mode %o rdev %d uid %d", st.Mode, st.Rdev, st.Uid)
			}
			// Opaque dir marked with Docker's trusted.overlay xattr.
			buf := make([]byte, 16)
			if n, err := unix.Lgetxattr(filepath.Join(d.upper, "opaque"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
				t.Errorf("trusted.overlay.opaque on opaque/: %q, %v", buf[:max(n, 0)], err)
			}
			assertNoUserOverlayXattrs(t, d.upper)

			// Lower layers untouched.
			for p, want := range map[string]owner{"etc/shadowish": {0, 42}, "deleteme": {0, 0}, "home/user/notes": {1000, 1000}} {
				if got := ownerOf(t, filepath.Join(d.base, p)); got != want {
					t.Errorf("lower %s now %v, want %v", p, got, want)
				}
			}
			if b, _ := os.ReadFile(filepath.Join(d.base, "etc/shadowish")); string(b) != "secret\n" {
				t.Errorf("lower file changed: %q", b)
			}

			// A new process (sysbox-runc delete) releases from the JSON state.
			js, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var back State
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			start = time.Now()
			if err := Release(&back); err != nil {
				t.Fatalf("Release: %v", err)
			}
			t.Logf("Prepare %v, Release %v", prepared, time.Since(start))
			// The engine's overlay is back at merged (the engine unmounts it
			// when its own count of the rootfs drops to zero).
			assertEngineOverlayAt(t, d)
			if err := Release(&back); err != nil {
				t.Errorf("second Release: %v", err)
			}
			assertEngineOverlayAt(t, d)
			if _, err := os.Stat(d.merged); err != nil {
				t.Errorf("Release removed Docker's merged dir: %v", err)
			}
			if _, err := os.Lstat(staging); tc.staging && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("staging dir left behind: %v", err)
			}
		})
	}
}

// assertEngineOverlayAt checks that the mount at merged is the engine's
// own overlay of d's layers (not one of ID-mapped layers), mounted once.
func assertEngineOverlayAt(t *testing.T, d *dockerLayout) {
	t.Helper()
	info, err := mountAt(d.merged)
	if err != nil || info == nil || info.FSType != "overlay" {
		t.Fatalf("after Release, merged holds %+v (%v), want the engine's overlay", info, err)
	}
	if strings.Contains(info.VFSOptions, "upperdir="+stagedUpperName+"/") {
		t.Errorf("after Release, the overlay at merged is not the engine's: %s", info.VFSOptions)
	}
	if ms := mountsWithUpper(t, d.containerLayerDirName+"/diff"); len(ms) != 1 {
		t.Errorf("%d overlays use the container's upper dir after Release, want 1", len(ms))
	}
	if f, err := os.Create(filepath.Join(d.merged, "engine-writes")); err != nil {
		t.Errorf("the engine cannot write to its restored overlay: %v", err)
	} else {
		f.Close()
		os.Remove(f.Name())
	}
}

func assertNoUserOverlayXattrs(t *testing.T, dir string) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		buf := make([]byte, 4096)
		n, err := unix.Llistxattr(p, buf)
		if err != nil {
			return err
		}
		for _, name := range strings.Split(string(buf[:n]), "\x00") {
			if strings.HasPrefix(name, "user.overlay.") {
				t.Errorf("%s has %s", p, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReleaseOverlayLeavesAForeignMountAlone(t *testing.T) {
	requireRoot(t)
	d := newDockerLayout(t)
	d.mountLikeDocker(t, d.absOpts)
	u := newUserns(t)
	s, err := Prepare(d.merged, testDirs(t, ""), u, testMapping)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	// The engine stops the container, unmounts ours and mounts a fresh one
	// before our Release runs.
	if err := unix.Unmount(d.merged, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	d.mountLikeDocker(t, d.absOpts)
	if err := Release(s); err != nil {
		t.Fatalf("Release: %v", err)
	}
	info, err := mountAt(d.merged)
	if err != nil || info == nil || !strings.Contains(info.VFSOptions, "upperdir="+d.upper) {
		t.Fatalf("Release removed the engine's new mount: %+v %v", info, err)
	}
}

func TestPrepareOverlayRestoresDockerMountWhenOursComesUpReadOnly(t *testing.T) {
	requireRoot(t)
	for _, variant := range []string{"absolute", "relative"} {
		t.Run(variant, func(t *testing.T) {
			d := newDockerLayout(t)
			opts := map[string]string{"absolute": d.absOpts, "relative": d.relOpts}[variant]
			d.mountLikeDocker(t, opts)
			before, err := mountAt(d.merged)
			if err != nil || before == nil {
				t.Fatal(before, err)
			}
			u := newUserns(t)
			fdsBefore := openFds(t)
			// Mounted as plain host root (fsuid 0), the ID-mapped upper
			// cannot be used: the overlay comes up read-only.
			asHostRoot := func(source, target string, flags uintptr, data, dir string, _ idmap.Mapping) error {
				return onThrowawayThread(func() error {
					if err := chdirThread(dir); err != nil {
						return err
					}
					return unix.Mount(source, target, "overlay", flags, data)
				})
			}
			_, err = prepare(d.merged, testDirs(t, ""), u, testMapping, asHostRoot)
			if err == nil || !strings.Contains(err.Error(), "read-only") {
				t.Fatalf("prepare with a read-only result: %v", err)
			}
			after, err := mountAt(d.merged)
			if err != nil || after == nil || after.VFSOptions != before.VFSOptions || after.Source != before.Source {
				t.Fatalf("Docker's mount not restored:\nbefore %+v\nafter  %+v (%v)", before, after, err)
			}
			if ms := mountsWithUpper(t, d.containerLayerDirName+"/diff"); len(ms) != 1 {
				t.Errorf("%d overlays on the upper after rollback, want 1", len(ms))
			}
			if n := openFds(t); n != fdsBefore {
				t.Errorf("open fds %d -> %d after failed Prepare", fdsBefore, n)
			}
			if b, err := os.ReadFile(filepath.Join(d.merged, "etc/motd")); err != nil || string(b) != "hello\n" {
				t.Errorf("restored mount unusable: %q %v", b, err)
			}
		})
	}
}

func TestPrepareBindAttachesIDMappedTreeAtStaging(t *testing.T) {
	requireRoot(t)
	dir := testDir(t)
	rootfs := filepath.Join(dir, "rootfs")
	installBusybox(t, rootfs)
	writeTree(t, rootfs, []fileSpec{
		{path: "etc/shadowish", mode: 0o640, uid: 0, gid: 42, content: "secret\n"},
		{path: "home/user", mode: os.ModeDir | 0o755, uid: 1000, gid: 1000},
		{path: "tmp", mode: os.ModeDir | os.ModeSticky | 0o777},
	})
	// A submount in the rootfs is ID-mapped too (recursive).
	sub := filepath.Join(rootfs, "mnt")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "mode=755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountAllAt(sub) })
	staging := filepath.Join(dir, "state", "ctr1", "rootfs")
	t.Cleanup(func() { unmountAllAt(staging) })
	u := newUserns(t)

	s, err := Prepare(rootfs, testDirs(t, staging), u, testMapping)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if s.Kind != KindBind || s.Path != staging || s.Staging != staging || s.Original != rootfs {
		t.Fatalf("state = %+v", s)
	}
	for p, want := range map[string]owner{".": {165536, 165536}, "etc/shadowish": {165536, 165536 + 42}, "home/user": {166536, 166536}, "mnt": {165536, 165536}} {
		if got := ownerOf(t, filepath.Join(staging, p)); got != want {
			t.Errorf("host view of %s: %v, want %v", p, got, want)
		}
	}

	// A host process running as the container root's host uid writes
	// through the staging mount; the file lands on disk as uid 0.
	cmd := exec.Command("/bin/sh", "-c", "echo hi > "+filepath.Join(staging, "tmp", "byhost"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: testMapping.HostUID, Gid: testMapping.HostGID}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("write as host uid %d: %v: %s", testMapping.HostUID, err, out)
	}
	if got := ownerOf(t, filepath.Join(rootfs, "tmp", "byhost")); got != (owner{0, 0}) {
		t.Errorf("file written by host uid 165536 is %v on disk, want 0:0", got)
	}

	out := runInContainer(t, staging, `
id -u
stat -c '%u:%g' /etc/shadowish /home/user /mnt
echo x > /mnt/inside; echo y > /home/user/f; chown 1000:1000 /home/user/f
echo ok`)
	if want := "0\n0:42\n1000:1000\n0:0\nok\n"; out != want {
		t.Errorf("container output:\n%s\nwant:\n%s", out, want)
	}
	if got := ownerOf(t, filepath.Join(sub, "inside")); got != (owner{0, 0}) {
		t.Errorf("file in submount on disk: %v", got)
	}
	if got := ownerOf(t, filepath.Join(rootfs, "home/user/f")); got != (owner{1000, 1000}) {
		t.Errorf("chowned file on disk: %v", got)
	}

	js, _ := json.Marshal(s)
	var back State
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if err := Release(&back); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if _, err := os.Lstat(staging); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staging dir still there: %v", err)
	}
	if err := Release(&back); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if got := ownerOf(t, filepath.Join(rootfs, "etc/shadowish")); got != (owner{0, 42}) {
		t.Errorf("rootfs file owner changed: %v", got)
	}
}

func TestPrepareRefusesRootfsThatCannotBeIDMapped(t *testing.T) {
	requireRoot(t)
	d := newDockerLayout(t)
	d.mountLikeDocker(t, d.absOpts)
	u := newUserns(t)
	// A plain directory inside an overlay: not the overlay mountpoint.
	inside := filepath.Join(d.merged, "etc")
	staging := filepath.Join(filepath.Dir(d.root), "stage", "rootfs")
	_, err := Prepare(inside, testDirs(t, staging), u, testMapping)
	if !errors.Is(err, idmap.ErrNotSupported) || !strings.Contains(err.Error(), inside) || !strings.Contains(err.Error(), "overlay") {
		t.Fatalf("Prepare(%s) = %v, want ErrNotSupported naming the path and overlay", inside, err)
	}
	if _, err := os.Lstat(filepath.Dir(staging)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staging dir created on failure: %v", err)
	}
	if info, _ := mountAt(d.merged); info == nil || !strings.Contains(info.VFSOptions, "upperdir="+d.upper) {
		t.Errorf("Docker's mount changed: %+v", info)
	}
}

func TestPrepareRefusesAMappingOtherThanTheUsernsOne(t *testing.T) {
	requireRoot(t)
	d := newDockerLayout(t)
	d.mountLikeDocker(t, d.absOpts)
	u := newUserns(t)
	other := testMapping
	other.HostUID += 65536
	if _, err := Prepare(d.merged, testDirs(t, ""), u, other); err == nil {
		t.Fatal("Prepare with a mapping that differs from the namespace's succeeded")
	}
	if info, _ := mountAt(d.merged); info == nil || !strings.Contains(info.VFSOptions, "upperdir="+d.upper) {
		t.Errorf("Docker's mount changed: %+v", info)
	}
}

func TestReleaseToleratesMissingThings(t *testing.T) {
	dir := t.TempDir()
	for _, s := range []*State{
		nil,
		{Kind: KindBind, Path: filepath.Join(dir, "gone"), Staging: filepath.Join(dir, "gone"), StagingMountID: 12345},
		{Kind: KindOverlay, Path: filepath.Join(dir, "gone"), Original: filepath.Join(dir, "gone"), OverlayMountID: 12345},
		{Kind: KindOverlay, Path: dir, Original: dir, OverlayMountID: 1}, // not our mount: left alone
	} {
		if err := Release(s); err != nil {
			t.Errorf("Release(%+v): %v", s, err)
		}
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("Release removed a dir it does not own: %v", err)
	}
	if err := Release(&State{Kind: "zfs"}); err == nil {
		t.Error("Release of an unknown kind succeeded")
	}
}

// BenchmarkPrepareReleaseOverlay times Prepare+Release of a Docker-like
// overlay (remounted Docker's way between rounds, outside the timer). The
// unmounts in both calls sync the upper filesystem, so the figure grows
// with the host's dirty data; the benchmark syncs once before starting.
func BenchmarkPrepareReleaseOverlay(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	dir := b.TempDir()
	if !idmap.Supported(dir) {
		b.Skip("temp dir cannot be ID-mapped")
	}
	root := filepath.Join(dir, "overlay2")
	lower, upper, work, merged := filepath.Join(root, "l1", "diff"), filepath.Join(root, "c", "diff"), filepath.Join(root, "c", "work"), filepath.Join(root, "c", "merged")
	for _, p := range []string{lower, upper, work, merged} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work + ",index=off"
	u, err := idmap.NewUserns(testMapping)
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	defer unmountAllAt(merged)
	unix.Sync()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		s, err := Prepare(merged, testDirs(b, ""), u, testMapping)
		if err != nil {
			b.Fatal(err)
		}
		if err := Release(s); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPrepareOverlayKeepsDockersOtherOverlayOptions(t *testing.T) {
	requireRoot(t)
	d := newDockerLayout(t)
	d.mountLikeDocker(t, d.absOpts+",redirect_dir=on,metacopy=on")
	u := newUserns(t)
	s, err := Prepare(d.merged, testDirs(t, ""), u, testMapping)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	defer Release(s)
	info, err := mountAt(d.merged)
	if err != nil || info == nil {
		t.Fatal(info, err)
	}
	for _, opt := range []string{"redirect_dir=on", "metacopy=on", "upperdir=" + stagedUpperName + "/"} {
		if !strings.Contains(info.VFSOptions, opt) {
			t.Errorf("replacement overlay lacks %s: %s", opt, info.VFSOptions)
		}
	}
	// A renamed lower dir is recorded with Docker's trusted.overlay.redirect;
	// a chmod is a metadata-only copy-up (trusted.overlay.metacopy).
	runInContainer(t, s.Path, "mv /opaque /renamed; chmod 600 /etc/motd")
	buf := make([]byte, 256)
	if n, err := unix.Lgetxattr(filepath.Join(d.upper, "renamed"), "trusted.overlay.redirect", buf); err != nil || (string(buf[:n]) != "opaque" && string(buf[:n]) != "/opaque") {
		t.Errorf("trusted.overlay.redirect on renamed/: %q, %v", buf[:max(n, 0)], err)
	}
	if _, err := unix.Lgetxattr(filepath.Join(d.upper, "etc/motd"), "trusted.overlay.metacopy", buf); err != nil {
		t.Errorf("trusted.overlay.metacopy on etc/motd: %v", err)
	}
	if st := lstat(t, filepath.Join(d.upper, "etc/motd")); st.Uid != 0 || st.Mode&0o777 != 0o600 {
		t.Errorf("metacopy etc/motd on disk: uid %d mode %o", st.Uid, st.Mode)
	}
	if b, _ := os.ReadFile(filepath.Join(d.upper, "etc/motd")); string(b) == "hello\n" {
		t.Errorf("etc/motd data was copied up despite metacopy=on")
	}
	assertNoUserOverlayXattrs(t, d.upper)
}

func TestPrepareOverlayRestoresDockerMountWhenStagingFails(t *testing.T) {
	requireRoot(t)
	d := newDockerLayout(t)
	d.mountLikeDocker(t, d.relOpts)
	before, err := mountAt(d.merged)
	if err != nil || before == nil {
		t.Fatal(before, err)
	}
	blocker := filepath.Join(filepath.Dir(d.root), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	u := newUserns(t)
	if _, err := Prepare(d.merged, testDirs(t, filepath.Join(blocker, "rootfs")), u, testMapping); err == nil {
		t.Fatal("Prepare with an impossible staging dir succeeded")
	}
	after, err := mountAt(d.merged)
	if err != nil || after == nil || after.VFSOptions != before.VFSOptions {
		t.Fatalf("Docker's mount not restored:\nbefore %+v\nafter  %+v (%v)", before, after, err)
	}
	if ms := mountsWithUpper(t, d.containerLayerDirName+"/diff"); len(ms) != 1 {
		t.Errorf("%d overlays on the upper after rollback, want 1", len(ms))
	}
}
