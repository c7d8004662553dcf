package specialdir

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Copy-out makes `docker commit` capture a special dir. A special dir is a
// bind mount, so the engine's commit, which archives the container's
// overlay upper dir, never sees it. When the container stops, CopyOut
// mirrors the special dir into the upper dir at the same container path
// (ids shifted back to in-container ids, as the upper dir stores them),
// marked opaque so that the copy replaces whatever the image had there.
// While the container runs again the special dir is mounted over that copy,
// and a container made from the committed image is seeded from it by
// CopyIn as from any image.
//
// A Docker layer tar carries content, owners, modes, times, links and
// security.capability, nothing else; and a 0/0 character device in an
// upper dir is the outer overlay's own whiteout, so an inner overlay
// layer's whiteouts cannot be stored as themselves. Those whiteouts and
// every other xattr (user.overlay.opaque of inner layers, ACLs...) go into
// a manifest file at the top of the copy, which CopyIn applies and
// removes.

const (
	// ManifestName is the manifest file at the top of a copied-out dir.
	ManifestName = ".sysbox-copyout.json"
	// manifestVersion is the manifest format this code writes and reads.
	manifestVersion = 1
	// maxManifest bounds how much of an image's manifest is read.
	maxManifest = 64 << 20
	// fingerprintXattr on the copy in the upper dir holds the fingerprint
	// of the special dir it was made from: an unchanged dir is not copied
	// again at the next stop. Not part of a layer tar (trusted.*).
	fingerprintXattr = "trusted.sysbox.copyout"
	// opaqueXattr makes a dir in an overlay upper dir hide the lower dirs'
	// content at the same path (Docker's diff turns it into .wh..wh..opq).
	opaqueXattr = "trusted.overlay.opaque"
	// copyoutPrefix names the new and the old copy during the swap.
	copyoutPrefix = ".sysbox-copyout-"
)

type manifest struct {
	Version   int                `json:"version"`
	Whiteouts []manifestWhiteout `json:"whiteouts,omitempty"`
	Xattrs    []manifestXattr    `json:"xattrs,omitempty"`
}

// manifestWhiteout is a 0/0 character device (ids are in-container ids).
type manifestWhiteout struct {
	Path string `json:"path"`
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
	Mode uint32 `json:"mode"`
}

// manifestXattr is an extended attribute of Path ("." is the top dir);
// ids in ACLs are in-container ids.
type manifestXattr struct {
	Path  string `json:"path"`
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// rel is dst relative to the top of the copy.
func (w *walker) rel(dst string) string {
	r, err := filepath.Rel(w.root, dst)
	if err != nil {
		return dst
	}
	return r
}

// ErrTooLong is wrapped when a copy-out did not finish by its deadline.
var ErrTooLong = errors.New("copy-out did not finish in time")

// CopyOut mirrors the special dir src into the overlay upper dir upper at
// container path dest, unless the copy there was made from src as it is
// now. lowers are the image's layer dirs, topmost first: an empty src
// with nothing at dest in the upper dir or any lower is not copied (the
// container never touched that path). It reports whether it copied.
//
// A non-zero deadline is checked between files: past it, the copy stops
// with ErrTooLong and the earlier copy at dest is deleted too, so that a
// commit captures nothing rather than an outdated special dir.
func (c *Copier) CopyOut(src, upper, dest string, owner Owner, lowers []string, deadline time.Time) (bool, error) {
	log := c.log()
	sfd, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("open special dir: %w", err)
	}
	srcDir := os.NewFile(uintptr(sfd), src)
	defer srcDir.Close()
	fp, entries, err := fingerprint(sfd)
	if err != nil {
		return false, fmt.Errorf("fingerprint %s: %w", src, err)
	}

	rel := strings.TrimLeft(path.Clean("/"+dest), "/")
	if rel == "" {
		return false, fmt.Errorf("container path %q: not below /", dest)
	}
	parentRel, name := path.Split(rel)
	upperFd, err := unix.Open(upper, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("open upper dir: %w", err)
	}
	defer unix.Close(upperFd)

	// What the upper dir has at dest: an earlier copy-out, or nothing
	// (the special dir was mounted over that path all along).
	var have bool
	if pfd, err := openBeneath(upperFd, strings.TrimSuffix(parentRel, "/"), unix.O_PATH|unix.O_DIRECTORY); err == nil {
		old, err := getXattr(fmt.Sprintf("/proc/self/fd/%d/%s", pfd, name), fingerprintXattr)
		var st unix.Stat_t
		have = unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
		unix.Close(pfd)
		if err == nil && string(old) == fp {
			return false, nil
		}
	}
	if !have && entries == 0 && !inAnyLower(lowers, rel) {
		return false, nil
	}

	pfd, err := mkdirBeneath(upperFd, strings.TrimSuffix(parentRel, "/"), lowers)
	if err != nil {
		return false, fmt.Errorf("parent of %s in the upper dir: %w", dest, err)
	}
	defer unix.Close(pfd)
	parent := fmt.Sprintf("/proc/self/fd/%d", pfd)
	tmp := filepath.Join(parent, copyoutPrefix+"new-"+name)
	old := filepath.Join(parent, copyoutPrefix+"old-"+name)
	for _, p := range []string{tmp, old} {
		if err := os.RemoveAll(p); err != nil {
			return false, fmt.Errorf("remove leftover %s: %w", p, err)
		}
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return false, fmt.Errorf("create %s: %w", tmp, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	m := &manifest{Version: manifestVersion}
	w := &walker{log: log, ids: owner.shiftOut(), links: map[fileKey]string{}, out: m, root: tmp, deadline: deadline}
	if err := w.copyDir(srcDir, tmp); err != nil {
		if errors.Is(err, ErrTooLong) && have {
			if rerr := unix.Renameat(pfd, name, pfd, copyoutPrefix+"old-"+name); rerr == nil {
				os.RemoveAll(old)
			}
		}
		return false, err
	}
	// The top dir itself: owner, mode, times and xattrs of the special dir.
	var st unix.Stat_t
	if err := unix.Fstat(sfd, &st); err != nil {
		return false, fmt.Errorf("stat %s: %w", src, err)
	}
	// "/." so that the l*xattr calls resolve the fd link to the dir.
	if err := w.setAttrs(fmt.Sprintf("/proc/self/fd/%d/.", sfd), tmp, &st); err != nil {
		return false, err
	}
	if len(m.Whiteouts) > 0 || len(m.Xattrs) > 0 {
		if err := writeManifest(filepath.Join(tmp, ManifestName), m); err != nil {
			return false, err
		}
		// Writing the manifest moved the top dir's mtime.
		ts := []unix.Timespec{st.Atim, st.Mtim}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, tmp, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return false, fmt.Errorf("set times of %s: %w", tmp, err)
		}
	}
	for _, x := range []struct{ name, val string }{{opaqueXattr, "y"}, {fingerprintXattr, fp}} {
		if err := unix.Lsetxattr(tmp, x.name, []byte(x.val), 0); err != nil {
			return false, fmt.Errorf("set %s on %s: %w", x.name, tmp, err)
		}
	}
	if have {
		if err := unix.Renameat(pfd, name, pfd, copyoutPrefix+"old-"+name); err != nil {
			return false, fmt.Errorf("move old copy of %s aside: %w", dest, err)
		}
	}
	if err := unix.Renameat(pfd, copyoutPrefix+"new-"+name, pfd, name); err != nil {
		return false, fmt.Errorf("move copy of %s into place: %w", dest, err)
	}
	ok = true
	if have {
		if err := os.RemoveAll(old); err != nil {
			log.WithError(err).WithField("dir", old).Warn("special dir copy-out: old copy not deleted")
		}
	}
	return true, nil
}

// fingerprint hashes the metadata of every entry below dfd (names, types,
// modes, owners, sizes, times incl. ctime, inode numbers, link counts), so
// any change to content, metadata or xattrs changes it. It also returns
// how many entries the tree has (the top dir not counted).
func fingerprint(dfd int) (string, int, error) {
	h := sha256.New()
	fmt.Fprintf(h, "sysbox copy-out v%d\n", manifestVersion)
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err != nil {
		return "", 0, err
	}
	hashStat(h, ".", &st)
	n, err := hashDir(h, dfd, ".")
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func hashStat(h hash.Hash, name string, st *unix.Stat_t) {
	io.WriteString(h, name)
	h.Write([]byte{0})
	var b [8 * 11]byte
	for i, v := range []uint64{uint64(st.Mode), uint64(st.Uid), uint64(st.Gid), uint64(st.Size), st.Ino, st.Nlink, st.Rdev,
		uint64(st.Mtim.Sec), uint64(st.Mtim.Nsec), uint64(st.Ctim.Sec), uint64(st.Ctim.Nsec)} {
		binary.LittleEndian.PutUint64(b[i*8:], v)
	}
	h.Write(b[:])
}

// hashDir hashes the tree below dfd (name is its path for messages).
// dfd is not consumed.
func hashDir(h hash.Hash, dfd int, name string) (int, error) {
	// A fresh open file description: reading the dir moves its offset.
	nfd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", name, err)
	}
	d := os.NewFile(uintptr(nfd), name)
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", name, err)
	}
	slices.Sort(names)
	n := 0
	for _, e := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, e, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return 0, fmt.Errorf("stat %s/%s: %w", name, e, err)
		}
		n++
		p := name + "/" + e
		hashStat(h, p, &st)
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		sub, err := unix.Openat(dfd, e, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, fmt.Errorf("open %s: %w", p, err)
		}
		k, err := hashDir(h, sub, p)
		unix.Close(sub)
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, nil
}

// openBeneath opens rel below dirfd without following any symlink and
// without leaving the tree ("" or "." is dirfd itself).
func openBeneath(dirfd int, rel string, flags int) (int, error) {
	if rel == "" {
		rel = "."
	}
	return unix.Openat2(dirfd, rel, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
}

// mkdirBeneath opens dir rel below dirfd, creating missing components
// with the owner and mode the topmost lower layer gives that path (0755
// root when none has it), so the merged view of those dirs stays as it
// was. A symlink or non-directory on the way is an error.
func mkdirBeneath(dirfd int, rel string, lowers []string) (int, error) {
	fd, err := unix.Dup(dirfd)
	if err != nil {
		return -1, err
	}
	done := ""
	for _, comp := range strings.Split(rel, "/") {
		if comp == "" || comp == "." {
			continue
		}
		done = path.Join(done, comp)
		next, err := openBeneath(fd, comp, unix.O_PATH|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) {
			mode, uid, gid := uint32(0o755), uint32(0), uint32(0)
			if st, ok := statInLowers(lowers, done); ok && st.Mode&unix.S_IFMT == unix.S_IFDIR {
				mode, uid, gid = st.Mode&0o7777, st.Uid, st.Gid
			}
			if err := unix.Mkdirat(fd, comp, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(fd)
				return -1, fmt.Errorf("create %s: %w", done, err)
			}
			if err := unix.Fchownat(fd, comp, int(uid), int(gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
				unix.Close(fd)
				return -1, fmt.Errorf("chown %s: %w", done, err)
			}
			if err := unix.Fchmodat(fd, comp, mode, 0); err != nil {
				unix.Close(fd)
				return -1, fmt.Errorf("chmod %s: %w", done, err)
			}
			next, err = openBeneath(fd, comp, unix.O_PATH|unix.O_DIRECTORY)
		}
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("open %s: %w", done, err)
		}
		fd = next
	}
	return fd, nil
}

// statInLowers stats rel (a container path) in the topmost lower that has
// it, resolving it inside that layer.
func statInLowers(lowers []string, rel string) (*unix.Stat_t, bool) {
	for _, l := range lowers {
		f, err := openInRoot(l, rel, unix.O_PATH|unix.O_NOFOLLOW)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		err = unix.Fstat(int(f.Fd()), &st)
		f.Close()
		if err == nil {
			return &st, true
		}
	}
	return nil, false
}

func inAnyLower(lowers []string, rel string) bool {
	_, ok := statInLowers(lowers, rel)
	return ok
}

func writeManifest(p string, m *manifest) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode copy-out manifest: %w", err)
	}
	if err := os.WriteFile(p, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write copy-out manifest: %w", err)
	}
	return nil
}

// applyManifest applies and removes the copy-out manifest CopyIn copied
// to the top of dst (a committed system container's special dir), ids
// shifted into owner's block. Entries that do not fit (bad paths, a name
// that exists already) are skipped with a warning: the image is
// untrusted, and nothing is resolved outside dst or through a symlink.
func applyManifest(log logrus.FieldLogger, dst string, owner Owner) error {
	p := filepath.Join(dst, ManifestName)
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("copy-out manifest: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	if fi.Size() > maxManifest {
		log.WithField("manifest", p).Warn("special dir seeding: copy-out manifest too large: not applied")
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("remove copy-out manifest: %w", err)
		}
		return nil
	}
	log = log.WithField("manifest", p)
	var top unix.Stat_t
	if err := unix.Lstat(dst, &top); err != nil {
		return fmt.Errorf("stat %s: %w", dst, err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read copy-out manifest: %w", err)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove copy-out manifest: %w", err)
	}
	var m manifest
	if len(data) > maxManifest || json.Unmarshal(data, &m) != nil || m.Version != manifestVersion {
		log.Warn("special dir seeding: copy-out manifest unreadable or of another version: not applied")
		return restoreTimes(dst, &top)
	}
	root, err := unix.Open(dst, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dst, err)
	}
	defer unix.Close(root)
	in := owner.shiftIn()
	for _, wo := range m.Whiteouts {
		if err := mkWhiteout(root, wo, in); err != nil {
			log.WithError(err).WithField("path", wo.Path).Warn("special dir seeding: whiteout not recreated")
		}
	}
	for _, x := range m.Xattrs {
		if err := setXattrBeneath(root, x, in); err != nil {
			log.WithError(err).WithFields(logrus.Fields{"path": x.Path, "xattr": x.Name}).Warn("special dir seeding: xattr not restored")
		}
	}
	return restoreTimes(dst, &top)
}

// restoreTimes sets p's times back to st's; p is a dir (or a
// /proc/self/fd link to one, hence followed).
func restoreTimes(p string, st *unix.Stat_t) error {
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, 0); err != nil {
		return fmt.Errorf("set times of %s: %w", p, err)
	}
	return nil
}

func localPath(p string) bool {
	return p != "" && filepath.IsLocal(p) && filepath.Clean(p) == p
}

func mkWhiteout(root int, wo manifestWhiteout, in idMap) error {
	if !localPath(wo.Path) || wo.Path == "." {
		return fmt.Errorf("bad path")
	}
	dir, name := filepath.Split(wo.Path)
	pfd, err := openBeneath(root, strings.TrimSuffix(dir, "/"), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	var pst unix.Stat_t
	if err := unix.Fstat(pfd, &pst); err != nil {
		return err
	}
	if err := unix.Mknodat(pfd, name, unix.S_IFCHR|(wo.Mode&0o777), 0); err != nil {
		return err
	}
	if err := unix.Fchownat(pfd, name, int(in.uid(wo.UID)), int(in.gid(wo.GID)), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	return restoreTimes(fmt.Sprintf("/proc/self/fd/%d", pfd), &pst)
}

func setXattrBeneath(root int, x manifestXattr, in idMap) error {
	if !localPath(x.Path) {
		return fmt.Errorf("bad path")
	}
	if x.Name == fingerprintXattr || x.Name == ManifestName {
		return nil
	}
	fd, err := openBeneath(root, x.Path, unix.O_PATH)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil // not settable through the fd; symlink xattrs are rare
	}
	val := shiftXattr(x.Name, x.Value, in)
	if val == nil {
		return fmt.Errorf("malformed value")
	}
	return unix.Setxattr(fmt.Sprintf("/proc/self/fd/%d", fd), x.Name, val, 0)
}

// Layer is a Docker overlay2 container layer: the upper dir the engine
// archives for `docker commit`, and the image's layer dirs, topmost first.
type Layer struct {
	Upper  string
	Lowers []string
}

// Overlay2Layer finds the layer dirs behind a rootfs that Docker's
// overlay2 driver made (<root>/overlay2/<layer>/merged, with diff/, link
// and lower next to it; merged itself is gone once Docker unmounted it at
// stop). ok is false for any other rootfs.
//
// When the runtime deletes a stopped container, the engine's own overlay
// may be mounted at merged again (the runtime gives it back so the
// engine's mount count stays right) until the engine unmounts it. Copy-out
// writes the upper dir under that mount: the kernel leaves the effect of
// such changes on an overlay that already looked the paths up undefined,
// but that mount was made after the container died, nothing has looked
// into it, and `docker commit` reads the upper dir itself, not the mount.
func Overlay2Layer(rootfs string) (l Layer, ok bool, err error) {
	if filepath.Base(rootfs) != "merged" || !filepath.IsAbs(rootfs) {
		return Layer{}, false, nil
	}
	dir := filepath.Dir(rootfs)
	for name, dirWanted := range map[string]bool{"diff": true, "link": false} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() != dirWanted || (!dirWanted && !fi.Mode().IsRegular()) {
			return Layer{}, false, nil
		}
	}
	l.Upper = filepath.Join(dir, "diff")
	data, err := os.ReadFile(filepath.Join(dir, "lower"))
	if errors.Is(err, os.ErrNotExist) {
		return l, true, nil
	}
	if err != nil {
		return Layer{}, false, fmt.Errorf("read lower layers: %w", err)
	}
	root := filepath.Dir(dir)
	for _, e := range strings.Split(strings.TrimSpace(string(data)), ":") {
		if e == "" {
			continue
		}
		if !localPath(e) || !strings.HasPrefix(e, "l/") {
			return Layer{}, false, fmt.Errorf("unexpected lower layer %q in %s/lower", e, dir)
		}
		l.Lowers = append(l.Lowers, filepath.Join(root, e))
	}
	return l, true, nil
}
