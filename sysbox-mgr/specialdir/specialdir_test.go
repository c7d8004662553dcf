package specialdir

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown, mknod, trusted.* xattrs)")
	}
}

var testOwner = Owner{UID: 200000, GID: 300000, Size: 65536}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, content string, uid, gid int, mode uint32) {
	t.Helper()
	mustDo(t, os.MkdirAll(filepath.Dir(path), 0o755))
	mustDo(t, os.WriteFile(path, []byte(content), 0o600))
	mustDo(t, os.Lchown(path, uid, gid))
	mustDo(t, unix.Chmod(path, mode))
}

func lstat(t *testing.T, path string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	mustDo(t, unix.Lstat(path, &st))
	return &st
}

func wantOwnerMode(t *testing.T, path string, uid, gid, mode uint32) {
	t.Helper()
	st := lstat(t, path)
	if st.Uid != uid || st.Gid != gid || st.Mode&0o7777 != mode {
		t.Errorf("%s: owner %d:%d mode %#o, want %d:%d %#o", path, st.Uid, st.Gid, st.Mode&0o7777, uid, gid, mode)
	}
}

func capV2(permitted uint32) []byte {
	b := make([]byte, vfsCapSize2)
	binary.LittleEndian.PutUint32(b, vfsCapRevision2|1)
	binary.LittleEndian.PutUint32(b[4:], permitted)
	return b
}

func aclWithUser(uid uint32) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, aclVersion)
	entry := func(tag, perm uint16, id uint32) {
		e := make([]byte, 8)
		binary.LittleEndian.PutUint16(e, tag)
		binary.LittleEndian.PutUint16(e[2:], perm)
		binary.LittleEndian.PutUint32(e[4:], id)
		b = append(b, e...)
	}
	entry(0x01, 6, 0xFFFFFFFF) // user obj
	entry(aclUser, 4, uid)
	entry(0x04, 4, 0xFFFFFFFF) // group obj
	entry(0x10, 4, 0xFFFFFFFF) // mask
	entry(0x20, 0, 0xFFFFFFFF) // other
	return b
}

// imageTree builds a rootfs whose /var/lib/docker holds one of everything.
func imageTree(t *testing.T) string {
	rootfs := t.TempDir()
	src := filepath.Join(rootfs, "var/lib/docker")
	write(t, filepath.Join(src, "plain"), "hello", 0, 0, 0o644)
	write(t, filepath.Join(src, "setuid"), "#!/bin/sh\n", 0, 0, 0o4755)
	write(t, filepath.Join(src, "user1000"), "u", 1000, 1001, 0o600)
	write(t, filepath.Join(src, "toobig"), "x", 70000, 70001, 0o640)
	write(t, filepath.Join(src, "sub/inner"), "in", 5, 6, 0o400)
	mustDo(t, os.Lchown(filepath.Join(src, "sub"), 5, 6))
	mustDo(t, os.Chmod(filepath.Join(src, "sub"), 0o750))
	mustDo(t, os.Link(filepath.Join(src, "plain"), filepath.Join(src, "sub/hardlink")))
	mustDo(t, os.Symlink("/etc/passwd", filepath.Join(src, "abs-link")))
	mustDo(t, os.Lchown(filepath.Join(src, "abs-link"), 7, 8))
	mustDo(t, os.Symlink("plain", filepath.Join(src, "rel-link")))
	mustDo(t, unix.Mknod(filepath.Join(src, "whiteout"), unix.S_IFCHR, 0))
	mustDo(t, unix.Mkfifo(filepath.Join(src, "fifo"), 0o600))
	mustDo(t, unix.Chmod(filepath.Join(src, "fifo"), 0o620))
	mustDo(t, unix.Mknod(filepath.Join(src, "null-dev"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	mustDo(t, unix.Lsetxattr(filepath.Join(src, "plain"), "user.note", []byte("kept"), 0))
	mustDo(t, unix.Lsetxattr(filepath.Join(src, "sub"), "trusted.overlay.opaque", []byte("y"), 0))
	mustDo(t, unix.Lsetxattr(filepath.Join(src, "setuid"), "security.capability", capV2(1<<10), 0))
	mustDo(t, unix.Lsetxattr(filepath.Join(src, "user1000"), "system.posix_acl_access", aclWithUser(1000), 0))
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	mustDo(t, os.Chtimes(filepath.Join(src, "user1000"), mtime, mtime))
	return rootfs
}

func TestPrepareSeedsFromImageWithShiftedIDs(t *testing.T) {
	needRoot(t)
	rootfs := imageTree(t)
	dataRoot := t.TempDir()
	dir, created, err := Prepare(dataRoot, Kind{Name: "docker", Dest: "/var/lib/docker"}, "c1", testOwner, rootfs, &Copier{})
	if err != nil || !created || dir != filepath.Join(dataRoot, "docker", "c1") {
		t.Fatalf("Prepare: %q created=%v err=%v", dir, created, err)
	}
	u, g := testOwner.UID, testOwner.GID
	wantOwnerMode(t, dir, u, g, DirMode)
	wantOwnerMode(t, filepath.Join(dataRoot, "docker"), 0, 0, DataRootMode)
	wantOwnerMode(t, filepath.Join(dir, "plain"), u, g, 0o644)
	wantOwnerMode(t, filepath.Join(dir, "setuid"), u, g, 0o4755)
	// Setting the ACL made the group bits the ACL mask (r).
	wantOwnerMode(t, filepath.Join(dir, "user1000"), u+1000, g+1001, 0o640)
	wantOwnerMode(t, filepath.Join(dir, "toobig"), overflowID, overflowID, 0o640)
	wantOwnerMode(t, filepath.Join(dir, "sub"), u+5, g+6, 0o750)
	wantOwnerMode(t, filepath.Join(dir, "sub/inner"), u+5, g+6, 0o400)

	if got, _ := os.ReadFile(filepath.Join(dir, "plain")); string(got) != "hello" {
		t.Errorf("content: %q", got)
	}
	if lstat(t, filepath.Join(dir, "plain")).Ino != lstat(t, filepath.Join(dir, "sub/hardlink")).Ino {
		t.Error("hard link became two files")
	}
	if target, err := os.Readlink(filepath.Join(dir, "abs-link")); err != nil || target != "/etc/passwd" {
		t.Errorf("absolute symlink: %q %v", target, err)
	}
	if st := lstat(t, filepath.Join(dir, "abs-link")); st.Uid != u+7 || st.Gid != g+8 {
		t.Errorf("symlink owner %d:%d", st.Uid, st.Gid)
	}
	if target, _ := os.Readlink(filepath.Join(dir, "rel-link")); target != "plain" {
		t.Errorf("relative symlink: %q", target)
	}
	if st := lstat(t, filepath.Join(dir, "whiteout")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout: mode %#o rdev %d", st.Mode, st.Rdev)
	}
	if st := lstat(t, filepath.Join(dir, "fifo")); st.Mode&unix.S_IFMT != unix.S_IFIFO || st.Mode&0o7777 != 0o620 {
		t.Errorf("fifo: mode %#o", st.Mode)
	}
	if _, err := os.Lstat(filepath.Join(dir, "null-dev")); !os.IsNotExist(err) {
		t.Errorf("a real device node was copied: %v", err)
	}
	if v, err := getXattr(filepath.Join(dir, "plain"), "user.note"); err != nil || string(v) != "kept" {
		t.Errorf("user xattr: %q %v", v, err)
	}
	if v, err := getXattr(filepath.Join(dir, "sub"), "trusted.overlay.opaque"); err != nil || string(v) != "y" {
		t.Errorf("overlay opaque xattr: %q %v", v, err)
	}
	caps, err := getXattr(filepath.Join(dir, "setuid"), "security.capability")
	if err != nil || len(caps) != vfsCapSize3 || binary.LittleEndian.Uint32(caps[20:]) != u ||
		binary.LittleEndian.Uint32(caps[4:]) != 1<<10 {
		t.Errorf("file caps not moved to the container's root: % x %v", caps, err)
	}
	acl, err := getXattr(filepath.Join(dir, "user1000"), "system.posix_acl_access")
	if err != nil || !bytes.Equal(acl, aclWithUser(u+1000)) {
		t.Errorf("ACL user entry not shifted: % x %v", acl, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "user1000")); !fi.ModTime().Equal(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("mtime not kept: %v", fi.ModTime())
	}
	if entries, _ := os.ReadDir(filepath.Join(dataRoot, "docker")); len(entries) != 1 {
		t.Errorf("temp dir left behind: %v", entries)
	}

	// A second request finds the dir and copies nothing again.
	mustDo(t, os.Remove(filepath.Join(dir, "plain")))
	_, created, err = Prepare(dataRoot, Kind{Name: "docker", Dest: "/var/lib/docker"}, "c1", testOwner, rootfs, &Copier{})
	if err != nil || created {
		t.Fatalf("second Prepare: created=%v err=%v", created, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "plain")); !os.IsNotExist(err) {
		t.Error("second Prepare copied the image content again")
	}
}

func TestPrepareWithoutImageContentMakesEmptyOwnedDir(t *testing.T) {
	needRoot(t)
	rootfs := t.TempDir() // no /var/lib/kubelet in this image
	dir, created, err := Prepare(t.TempDir(), Kind{Name: "kubelet", Dest: "/var/lib/kubelet"}, "c2", testOwner, rootfs, nil)
	if err != nil || !created {
		t.Fatal(created, err)
	}
	wantOwnerMode(t, dir, testOwner.UID, testOwner.GID, DirMode)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("not empty: %v", entries)
	}
}

func TestCopyInNeverFollowsImageSymlinksOutOfTheRootfs(t *testing.T) {
	needRoot(t)
	host := t.TempDir()
	write(t, filepath.Join(host, "secret"), "host only", 0, 0, 0o600)
	rootfs := t.TempDir()
	mustDo(t, os.MkdirAll(filepath.Join(rootfs, "var/lib"), 0o755))
	// The image's /var/lib/docker points at a host path and its
	// daemon.json at a host file: both must resolve inside the rootfs.
	mustDo(t, os.Symlink(host, filepath.Join(rootfs, "var/lib/docker")))
	mustDo(t, os.MkdirAll(filepath.Join(rootfs, "etc/docker"), 0o755))
	write(t, filepath.Join(host, "daemon.json"), `{"data-root":"/leak"}`, 0, 0, 0o600)
	mustDo(t, os.Symlink(filepath.Join(host, "daemon.json"), filepath.Join(rootfs, "etc/docker/daemon.json")))

	kinds, err := Destinations(rootfs, nil)
	if err != nil || kinds[0].Dest != "/var/lib/docker" {
		t.Fatalf("daemon.json symlink followed to the host: %+v %v", kinds, err)
	}
	dst := t.TempDir()
	copied, err := (&Copier{}).CopyIn(rootfs, "/var/lib/docker", dst, testOwner)
	if err != nil || copied {
		t.Fatalf("copied=%v err=%v", copied, err)
	}
	if entries, _ := os.ReadDir(dst); len(entries) != 0 {
		t.Fatalf("host content leaked into the special dir: %v", entries)
	}

	// A link inside the rootfs is resolved as the container would.
	mustDo(t, os.MkdirAll(filepath.Join(rootfs, host), 0o755))
	write(t, filepath.Join(rootfs, host, "in-image"), "img", 0, 0, 0o644)
	copied, err = (&Copier{}).CopyIn(rootfs, "/var/lib/docker", dst, testOwner)
	if err != nil || !copied {
		t.Fatalf("copied=%v err=%v", copied, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "in-image")); string(got) != "img" {
		t.Fatalf("in-rootfs symlink target not copied: %q", got)
	}
}

func TestDestinations(t *testing.T) {
	all := []string{"/var/lib/docker", "/var/lib/containerd", "/var/lib/kubelet", "/var/lib/buildkit",
		"/var/lib/rancher/k3s", "/var/lib/rancher/rke2", "/var/lib/k0s"}
	tests := []struct {
		name       string
		daemonJSON string
		userDests  []string
		want       []string
	}{
		{name: "all by default", want: all},
		{name: "user mount wins", userDests: []string{"/var/lib/kubelet/", "/data"}, want: slices.Delete(slices.Clone(all), 2, 3)},
		{name: "docker data-root moves the docker dir", daemonJSON: `{"data-root": "/srv/docker/"}`,
			want: append([]string{"/srv/docker"}, all[1:]...)},
		{name: "relative data-root ignored", daemonJSON: `{"data-root": "srv"}`, want: all},
		{name: "unparsable daemon.json ignored", daemonJSON: `{"data-root": `, want: all},
		{name: "user mount at the moved docker dir", daemonJSON: `{"data-root": "/srv/docker"}`,
			userDests: []string{"/srv/docker"}, want: all[1:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rootfs := t.TempDir()
			if tt.daemonJSON != "" {
				mustDo(t, os.MkdirAll(filepath.Join(rootfs, "etc/docker"), 0o755))
				mustDo(t, os.WriteFile(filepath.Join(rootfs, "etc/docker/daemon.json"), []byte(tt.daemonJSON), 0o644))
			}
			kinds, err := Destinations(rootfs, tt.userDests)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range kinds {
				got = append(got, k.Dest)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestDestinationsWithMissingRootfsIsAnError(t *testing.T) {
	if _, err := Destinations(filepath.Join(t.TempDir(), "gone"), nil); err == nil {
		t.Fatal("no error for a rootfs that does not exist")
	}
}

func TestPrepareDataRootRefusesOverlayAndTmpfs(t *testing.T) {
	tests := []struct {
		name    string
		fsType  int64
		exists  bool
		wantErr string
	}{
		{name: "ext4", fsType: unix.EXT4_SUPER_MAGIC},
		{name: "xfs, existing dir", fsType: unix.XFS_SUPER_MAGIC, exists: true},
		{name: "overlayfs", fsType: unix.OVERLAYFS_SUPER_MAGIC, wantErr: "overlayfs"},
		{name: "tmpfs", fsType: unix.TMPFS_MAGIC, wantErr: "tmpfs"},
		{name: "tmpfs, existing dir", fsType: unix.TMPFS_MAGIC, exists: true, wantErr: "tmpfs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "data", "root")
			probed := parent // nearest existing ancestor
			if tt.exists {
				mustDo(t, os.MkdirAll(dir, 0o755))
				if os.Geteuid() == 0 {
					mustDo(t, os.Chown(dir, 1000, 1000))
				}
				probed = dir
			}
			fake := func(path string, st *unix.Statfs_t) error {
				if path != probed {
					t.Errorf("statfs of %s, want %s", path, probed)
				}
				st.Type = tt.fsType
				return nil
			}
			err := PrepareDataRoot(dir, fake)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				st := lstat(t, dir)
				if st.Mode&0o7777 != DataRootMode || (os.Geteuid() == 0 && st.Uid != 0) {
					t.Fatalf("data root mode %#o owner %d, want %#o root", st.Mode&0o7777, st.Uid, DataRootMode)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("got %v, want an error naming %s and %s", err, dir, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(parent, "data")); !tt.exists && !os.IsNotExist(err) {
				t.Fatal("refused data root was created anyway")
			}
		})
	}
}

func TestRemoveAndSweep(t *testing.T) {
	dataRoot := t.TempDir()
	for _, k := range []string{"docker", "kubelet"} {
		for _, id := range []string{"keep", "gone", ".tmp-keep"} {
			mustDo(t, os.MkdirAll(filepath.Join(dataRoot, k, id, "x"), 0o700))
		}
	}
	mustDo(t, os.MkdirAll(filepath.Join(dataRoot, "containerd", "other"), 0o700))

	removed, err := Sweep(dataRoot, func(id string) bool { return id == "keep" })
	mustDo(t, err)
	slices.Sort(removed)
	if !reflect.DeepEqual(removed, []string{"gone", "keep", "other"}) {
		t.Fatalf("swept %v", removed)
	}
	for _, p := range []string{"docker/gone", "docker/.tmp-keep", "kubelet/gone", "containerd/other"} {
		if _, err := os.Lstat(filepath.Join(dataRoot, p)); !os.IsNotExist(err) {
			t.Errorf("%s survived the sweep", p)
		}
	}
	if _, err := os.Lstat(filepath.Join(dataRoot, "docker/keep/x")); err != nil {
		t.Fatalf("leased dir swept: %v", err)
	}

	mustDo(t, Remove(dataRoot, "keep"))
	for _, k := range []string{"docker", "kubelet"} {
		if _, err := os.Lstat(filepath.Join(dataRoot, k, "keep")); !os.IsNotExist(err) {
			t.Errorf("%s/keep survived Remove", k)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"0123456789abcdef": true, "my_box-1.2+x": true,
		"": false, ".": false, "..": false, ".hidden": false, "a/b": false, "../x": false, "a b": false,
		strings.Repeat("a", 1025): false,
		// Ids up to 1024 bytes were accepted (FuzzManagerRequestChecks checks this), but
		// ".tmp-<id>" must fit NAME_MAX for the dir to be seeded.
		strings.Repeat("a", 250): true, strings.Repeat("a", 251): false,
	} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) = %v", id, !want)
		}
	}
}
