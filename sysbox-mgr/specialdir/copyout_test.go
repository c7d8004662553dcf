package specialdir

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// innerDockerTree fills dir like an inner Docker's data root as the
// container (ids in o's block) left it: files of several owners, a hard
// link, a symlink, an inner overlay layer with a whiteout and an opaque
// dir, a file capability owned by the container's root.
func innerDockerTree(t *testing.T, dir string, o Owner) {
	t.Helper()
	u := func(n uint32) int { return int(o.UID + n) }
	g := func(n uint32) int { return int(o.GID + n) }
	mustDo(t, os.Chown(dir, u(0), g(0)))
	mustDo(t, os.Chmod(dir, 0o711))
	mustDo(t, unix.Lsetxattr(dir, "user.top", []byte("1"), 0))
	write(t, filepath.Join(dir, "image/overlay2/repositories.json"), `{"a":1}`, u(0), g(0), 0o600)
	write(t, filepath.Join(dir, "overlay2/l1/diff/home/user/f"), "user file", u(1000), g(1000), 0o640)
	mustDo(t, os.Link(filepath.Join(dir, "overlay2/l1/diff/home/user/f"), filepath.Join(dir, "overlay2/l1/diff/home/user/f2")))
	mustDo(t, os.Symlink("../../../../etc/passwd", filepath.Join(dir, "overlay2/l1/diff/link")))
	mustDo(t, os.Lchown(filepath.Join(dir, "overlay2/l1/diff/link"), u(0), g(0)))
	wo := filepath.Join(dir, "overlay2/l1/diff/deleted")
	mustDo(t, unix.Mknod(wo, unix.S_IFCHR|0o600, 0))
	mustDo(t, os.Lchown(wo, u(0), g(0)))
	opq := filepath.Join(dir, "overlay2/l1/diff/home")
	mustDo(t, unix.Lsetxattr(opq, "user.overlay.opaque", []byte("y"), 0))
	write(t, filepath.Join(dir, "overlay2/l1/diff/bin/ping"), "elf", u(0), g(0), 0o755)
	capv3 := make([]byte, vfsCapSize3)
	copy(capv3, capV2(1<<13))
	capv3[3] = 3 // revision 3
	capv3[20], capv3[21], capv3[22], capv3[23] = byte(o.UID), byte(o.UID>>8), byte(o.UID>>16), byte(o.UID>>24)
	mustDo(t, unix.Lsetxattr(filepath.Join(dir, "overlay2/l1/diff/bin/ping"), "security.capability", capv3, 0))
	for _, d := range []string{"overlay2/l1/diff/home/user", "overlay2/l1/diff/home", "overlay2/l1/diff/bin", "overlay2/l1/diff", "overlay2/l1", "overlay2", "image/overlay2", "image"} {
		mustDo(t, os.Lchown(filepath.Join(dir, d), u(0), g(0)))
	}
}

func TestCopyOutWritesUpperLayerInContainerIDsAndCopyInRestoresIt(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	src := filepath.Join(base, "special")
	upper := filepath.Join(base, "upper")
	mustDo(t, os.Mkdir(src, 0o700))
	mustDo(t, os.Mkdir(upper, 0o755))
	innerDockerTree(t, src, testOwner)
	c := &Copier{}

	copied, err := c.CopyOut(src, upper, "/var/lib/docker", testOwner, nil, time.Time{})
	mustDo(t, err)
	if !copied {
		t.Fatal("first copy-out did not copy")
	}
	top := filepath.Join(upper, "var/lib/docker")
	// In the upper dir, owners are in-container ids, as Docker stores them.
	wantOwnerMode(t, top, 0, 0, 0o711)
	wantOwnerMode(t, filepath.Join(upper, "var"), 0, 0, 0o755)
	wantOwnerMode(t, filepath.Join(top, "overlay2/l1/diff/home/user/f"), 1000, 1000, 0o640)
	if a, b := lstat(t, filepath.Join(top, "overlay2/l1/diff/home/user/f")), lstat(t, filepath.Join(top, "overlay2/l1/diff/home/user/f2")); a.Ino != b.Ino {
		t.Error("hard link became two files")
	}
	if tgt, err := os.Readlink(filepath.Join(top, "overlay2/l1/diff/link")); err != nil || tgt != "../../../../etc/passwd" {
		t.Errorf("symlink = %q, %v", tgt, err)
	}
	// The inner whiteout must not become a whiteout of the outer overlay.
	if _, err := os.Lstat(filepath.Join(top, "overlay2/l1/diff/deleted")); !os.IsNotExist(err) {
		t.Errorf("inner whiteout written into the upper dir: %v", err)
	}
	if v, err := getXattr(top, opaqueXattr); err != nil || string(v) != "y" {
		t.Errorf("copy is not opaque in the upper dir: %q %v", v, err)
	}
	if _, err := getXattr(filepath.Join(top, "overlay2/l1/diff/home"), "user.overlay.opaque"); err == nil {
		t.Error("inner overlay xattr set in the upper dir (a layer tar would drop it anyway)")
	}
	if v, err := getXattr(filepath.Join(top, "overlay2/l1/diff/bin/ping"), "security.capability"); err != nil || len(v) < 4 {
		t.Errorf("file capability lost: %v", err)
	}
	var m manifest
	mustDo(t, json.Unmarshal([]byte(readFileT(t, filepath.Join(top, ManifestName))), &m))
	if len(m.Whiteouts) != 1 || m.Whiteouts[0] != (manifestWhiteout{Path: "overlay2/l1/diff/deleted", Mode: 0o600}) {
		t.Errorf("manifest whiteouts = %+v", m.Whiteouts)
	}
	if len(m.Xattrs) != 2 || m.Xattrs[0].Path != "overlay2/l1/diff/home" || m.Xattrs[0].Name != "user.overlay.opaque" ||
		m.Xattrs[1].Path != "." || m.Xattrs[1].Name != "user.top" {
		t.Errorf("manifest xattrs = %+v", m.Xattrs)
	}

	// Unchanged: not copied again.
	copied, err = c.CopyOut(src, upper, "/var/lib/docker", testOwner, nil, time.Time{})
	mustDo(t, err)
	if copied {
		t.Error("unchanged special dir copied again")
	}
	// A change (a file removed) is mirrored, not added to the old copy.
	mustDo(t, os.Remove(filepath.Join(src, "image/overlay2/repositories.json")))
	copied, err = c.CopyOut(src, upper, "/var/lib/docker", testOwner, nil, time.Time{})
	mustDo(t, err)
	if !copied {
		t.Fatal("changed special dir not copied")
	}
	if _, err := os.Lstat(filepath.Join(top, "image/overlay2/repositories.json")); !os.IsNotExist(err) {
		t.Errorf("file deleted in the special dir still in the copy: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(upper, "var/lib", copyoutPrefix+"*")); len(left) != 0 {
		t.Errorf("swap leftovers: %v", left)
	}

	// A committed image carries the upper dir: seeding a new container
	// (another block) from it gives back the special dir as it was.
	other := Owner{UID: 500000, GID: 600000, Size: 65536}
	dst := filepath.Join(base, "seeded")
	mustDo(t, os.Mkdir(dst, 0o700))
	had, err := c.CopyIn(upper, "/var/lib/docker", dst, other)
	mustDo(t, err)
	if !had {
		t.Fatal("copy-in found nothing")
	}
	if _, err := os.Lstat(filepath.Join(dst, ManifestName)); !os.IsNotExist(err) {
		t.Errorf("manifest left in the seeded dir: %v", err)
	}
	wo := lstat(t, filepath.Join(dst, "overlay2/l1/diff/deleted"))
	if wo.Mode&unix.S_IFMT != unix.S_IFCHR || wo.Rdev != 0 || wo.Uid != other.UID || wo.Gid != other.GID {
		t.Errorf("whiteout not restored: mode %#o rdev %d owner %d:%d", wo.Mode, wo.Rdev, wo.Uid, wo.Gid)
	}
	if v, err := getXattr(filepath.Join(dst, "overlay2/l1/diff/home"), "user.overlay.opaque"); err != nil || string(v) != "y" {
		t.Errorf("inner opaque xattr not restored: %q %v", v, err)
	}
	if v, err := getXattr(dst, "user.top"); err != nil || string(v) != "1" {
		t.Errorf("xattr of the top dir not restored: %q %v", v, err)
	}
	wantOwnerMode(t, filepath.Join(dst, "overlay2/l1/diff/home/user/f"), other.UID+1000, other.GID+1000, 0o640)
	v, err := getXattr(filepath.Join(dst, "overlay2/l1/diff/bin/ping"), "security.capability")
	if err != nil || len(v) != vfsCapSize3 || uint32(v[20])|uint32(v[21])<<8|uint32(v[22])<<16|uint32(v[23])<<24 != other.UID {
		t.Errorf("file capability not owned by the new container's root: %x %v", v, err)
	}
	srcM, dstM := lstat(t, filepath.Join(src, "overlay2/l1/diff")).Mtim, lstat(t, filepath.Join(dst, "overlay2/l1/diff")).Mtim
	if srcM != dstM {
		t.Errorf("dir mtime changed through copy-out + copy-in: %v -> %v", srcM, dstM)
	}
}

func TestCopyOutSkipsAnUntouchedEmptyDirButReplacesImageContent(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	src := filepath.Join(base, "special")
	upper := filepath.Join(base, "upper")
	lower := filepath.Join(base, "lower")
	for _, d := range []string{src, upper, lower} {
		mustDo(t, os.Mkdir(d, 0o755))
	}
	c := &Copier{}
	copied, err := c.CopyOut(src, upper, "/var/lib/k0s", testOwner, []string{lower}, time.Time{})
	mustDo(t, err)
	if entries, _ := os.ReadDir(upper); copied || len(entries) != 0 {
		t.Fatalf("empty, untouched special dir copied out (copied %v, upper has %v)", copied, entries)
	}
	// The image had content there that the container deleted: the copy
	// (empty, opaque) must hide it in the committed image.
	write(t, filepath.Join(lower, "var/lib/k0s/old"), "x", 0, 0, 0o644)
	mustDo(t, os.Chmod(filepath.Join(lower, "var"), 0o750))
	copied, err = c.CopyOut(src, upper, "/var/lib/k0s", testOwner, []string{lower}, time.Time{})
	mustDo(t, err)
	if !copied {
		t.Fatal("emptied image dir not copied out")
	}
	if v, err := getXattr(filepath.Join(upper, "var/lib/k0s"), opaqueXattr); err != nil || string(v) != "y" {
		t.Errorf("not opaque: %q %v", v, err)
	}
	// Parents made in the upper dir keep the image's owner and mode.
	wantOwnerMode(t, filepath.Join(upper, "var"), 0, 0, 0o750)
}

func TestCopyOutRefusesSymlinksInTheUpperDir(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	src := filepath.Join(base, "special")
	upper := filepath.Join(base, "upper")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{src, upper, outside, filepath.Join(upper, "var")} {
		mustDo(t, os.Mkdir(d, 0o755))
	}
	write(t, filepath.Join(src, "f"), "x", int(testOwner.UID), int(testOwner.GID), 0o644)
	// The container made /var/lib a symlink to a host path.
	mustDo(t, os.Symlink(outside, filepath.Join(upper, "var/lib")))
	if _, err := (&Copier{}).CopyOut(src, upper, "/var/lib/docker", testOwner, nil, time.Time{}); err == nil {
		t.Fatal("copy-out through a symlink in the upper dir succeeded")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("copy-out wrote outside the upper dir: %v", entries)
	}
}

func TestCopyInIgnoresHostileManifestPaths(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	rootfs := filepath.Join(base, "rootfs")
	outside := filepath.Join(base, "outside")
	mustDo(t, os.MkdirAll(filepath.Join(rootfs, "var/lib/docker/d"), 0o755))
	mustDo(t, os.Mkdir(outside, 0o755))
	mustDo(t, os.Symlink(outside, filepath.Join(rootfs, "var/lib/docker/esc")))
	m := manifest{Version: manifestVersion,
		Whiteouts: []manifestWhiteout{{Path: "../../x"}, {Path: "esc/wo"}, {Path: "/abs"}, {Path: "d/ok"}},
		Xattrs:    []manifestXattr{{Path: "esc", Name: "user.x", Value: []byte("1")}, {Path: "../", Name: "user.x", Value: []byte("1")}},
	}
	data, _ := json.Marshal(m)
	mustDo(t, os.WriteFile(filepath.Join(rootfs, "var/lib/docker", ManifestName), data, 0o644))
	dst := filepath.Join(base, "dst")
	mustDo(t, os.Mkdir(dst, 0o700))
	_, err := (&Copier{}).CopyIn(rootfs, "/var/lib/docker", dst, testOwner)
	mustDo(t, err)
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("manifest wrote outside the special dir: %v", entries)
	}
	if _, err := os.Lstat(filepath.Join(base, "x")); !os.IsNotExist(err) {
		t.Fatal("manifest path escaped with ..")
	}
	if st := lstat(t, filepath.Join(dst, "d/ok")); st.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Fatal("valid whiteout entry not applied")
	}
}

func TestOverlay2LayerRecognizesDockerLayoutOnly(t *testing.T) {
	root := t.TempDir()
	layer := filepath.Join(root, "overlay2", "abc")
	for _, d := range []string{"diff", "merged", "work"} {
		mustDo(t, os.MkdirAll(filepath.Join(layer, d), 0o755))
	}
	mustDo(t, os.WriteFile(filepath.Join(layer, "link"), []byte("XYZ"), 0o644))
	mustDo(t, os.WriteFile(filepath.Join(layer, "lower"), []byte("l/AAA:l/BBB"), 0o644))
	l, ok, err := Overlay2Layer(filepath.Join(layer, "merged"))
	mustDo(t, err)
	want := Layer{Upper: filepath.Join(layer, "diff"), Lowers: []string{filepath.Join(root, "overlay2/l/AAA"), filepath.Join(root, "overlay2/l/BBB")}}
	if !ok || l.Upper != want.Upper || len(l.Lowers) != 2 || l.Lowers[0] != want.Lowers[0] || l.Lowers[1] != want.Lowers[1] {
		t.Fatalf("Overlay2Layer = %+v %v, want %+v", l, ok, want)
	}
	// Docker removes merged/ when it unmounts the layer at stop.
	mustDo(t, os.Remove(filepath.Join(layer, "merged")))
	if l2, ok, err := Overlay2Layer(filepath.Join(layer, "merged")); !ok || err != nil || l2.Upper != want.Upper {
		t.Fatalf("layer without merged/: %+v %v %v", l2, ok, err)
	}
	for _, bad := range []string{filepath.Join(layer, "diff"), t.TempDir()} {
		if _, ok, err := Overlay2Layer(bad); ok || err != nil {
			t.Errorf("%s taken for an overlay2 layer (%v)", bad, err)
		}
	}
	mustDo(t, os.WriteFile(filepath.Join(layer, "lower"), []byte("l/AAA:../../etc"), 0o644))
	if _, _, err := Overlay2Layer(filepath.Join(layer, "merged")); err == nil {
		t.Error("lower entry escaping the overlay2 dir accepted")
	}
}

func readFileT(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	mustDo(t, err)
	return string(b)
}

func TestCopyOutPastItsDeadlineLeavesNoCopyAtAll(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	src := filepath.Join(base, "special")
	upper := filepath.Join(base, "upper")
	mustDo(t, os.Mkdir(src, 0o700))
	mustDo(t, os.Mkdir(upper, 0o755))
	innerDockerTree(t, src, testOwner)
	c := &Copier{}
	_, err := c.CopyOut(src, upper, "/var/lib/docker", testOwner, nil, time.Time{})
	mustDo(t, err)
	write(t, filepath.Join(src, "new"), "x", int(testOwner.UID), int(testOwner.GID), 0o644)
	_, err = c.CopyOut(src, upper, "/var/lib/docker", testOwner, nil, time.Now().Add(-time.Second))
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("got %v, want ErrTooLong", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(upper, "var/lib")); len(entries) != 0 {
		t.Fatalf("outdated or partial copy left in the upper dir: %v", entries)
	}
}
