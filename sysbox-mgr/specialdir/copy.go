package specialdir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Copier seeds special dirs from an image. The image is untrusted: its
// tree is walked by file descriptor, never following a symlink, so no
// host file outside the rootfs is ever read.
type Copier struct {
	// Log receives what could not be copied (device nodes, sockets,
	// xattrs the host refuses). Nil: discarded.
	Log logrus.FieldLogger
}

func (c *Copier) log() logrus.FieldLogger {
	if c == nil || c.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		return l
	}
	return c.Log
}

// CopyIn copies the content of the directory at container path src in
// rootfs into dst, an existing empty host directory. Owners are shifted
// into owner's block; modes (setuid included), timestamps, symlinks (as
// links, verbatim), hard links (within the tree), fifos, overlay whiteouts
// (0/0 char devices) and xattrs are kept. File capabilities and ACLs get
// their ids shifted too. It reports whether the image had a directory at
// src; nothing at src (or a non-directory) is not an error.
func (c *Copier) CopyIn(rootfs, src, dst string, owner Owner) (bool, error) {
	if _, err := os.Stat(rootfs); err != nil {
		return false, fmt.Errorf("rootfs: %w", err)
	}
	dir, err := openInRoot(rootfs, src, unix.O_RDONLY|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer dir.Close()
	w := &walker{log: c.log(), ids: owner.shiftIn(), links: map[fileKey]string{}}
	if err := w.copyDir(dir, dst); err != nil {
		return true, err
	}
	if err := applyManifest(w.log, dst, owner); err != nil {
		return true, err
	}
	return true, nil
}

// idMap turns the owners found in a source tree into the owners the copy
// gets.
type idMap struct {
	uid, gid func(uint32) uint32
}

// shiftIn maps in-image ids to host ids in o's block.
func (o Owner) shiftIn() idMap { return idMap{uid: o.ShiftUID, gid: o.ShiftGID} }

// shiftOut maps host ids in o's block back to in-container ids (others
// become overflowID).
func (o Owner) shiftOut() idMap {
	back := func(base uint32) func(uint32) uint32 {
		return func(id uint32) uint32 {
			if id < base || uint64(id) >= uint64(base)+uint64(o.Size) {
				return overflowID
			}
			return id - base
		}
	}
	return idMap{uid: back(o.UID), gid: back(o.GID)}
}

type fileKey struct{ dev, ino uint64 }

type walker struct {
	log logrus.FieldLogger
	ids idMap
	// links maps a multiply-linked source inode to its first copy.
	links map[fileKey]string
	// out, when set, is a copy-out: overlay whiteouts and the xattrs a
	// Docker layer tar does not carry go into this manifest instead of
	// onto the copy (root is the copy's top dir, for relative paths).
	out  *manifest
	root string
	// deadline, when not zero, ends the walk with ErrTooLong.
	deadline time.Time
}

func (w *walker) copyDir(src *os.File, dst string) error {
	names, err := src.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("list %s: %w", src.Name(), err)
	}
	dfd := int(src.Fd())
	for _, name := range names {
		if err := w.copyEntry(dfd, name, filepath.Join(src.Name(), name), filepath.Join(dst, name)); err != nil {
			return err
		}
	}
	return nil
}

// copyEntry copies name (in the source dir dfd, srcName for messages) to
// dst.
func (w *walker) copyEntry(dfd int, name, srcName, dst string) error {
	if !w.deadline.IsZero() && time.Now().After(w.deadline) {
		return fmt.Errorf("%w (at %s)", ErrTooLong, srcName)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat %s: %w", srcName, err)
	}
	// The entry by path relative to its already-open parent: the last
	// component is never followed by the l*xattr calls.
	ref := fmt.Sprintf("/proc/self/fd/%d/%s", dfd, name)
	typ := st.Mode & unix.S_IFMT
	key := fileKey{dev: st.Dev, ino: st.Ino}
	if typ != unix.S_IFDIR && st.Nlink > 1 {
		if first, ok := w.links[key]; ok {
			if err := os.Link(first, dst); err != nil {
				return fmt.Errorf("hard link %s: %w", dst, err)
			}
			return nil
		}
	}
	switch typ {
	case unix.S_IFDIR:
		fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", srcName, err)
		}
		sub := os.NewFile(uintptr(fd), srcName)
		defer sub.Close()
		if err := os.Mkdir(dst, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", dst, err)
		}
		if err := w.copyDir(sub, dst); err != nil {
			return err
		}
	case unix.S_IFREG:
		if err := copyFile(dfd, name, srcName, dst, &st); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := readlinkat(dfd, name)
		if err != nil {
			return fmt.Errorf("read link %s: %w", srcName, err)
		}
		if err := os.Symlink(target, dst); err != nil {
			return fmt.Errorf("create symlink %s: %w", dst, err)
		}
	case unix.S_IFCHR:
		if w.out != nil && st.Rdev == 0 {
			// A whiteout of an inner overlay layer: one in the outer
			// upper dir would be the outer overlay's own whiteout.
			w.out.Whiteouts = append(w.out.Whiteouts, manifestWhiteout{
				Path: w.rel(dst), UID: w.ids.uid(st.Uid), GID: w.ids.gid(st.Gid), Mode: st.Mode & 0o7777,
			})
			return nil
		}
		if st.Rdev != 0 {
			w.log.WithField("path", srcName).Warn("special dir seeding: device node not copied")
			return nil
		}
		// An overlayfs whiteout (e.g. in a preloaded /var/lib/docker).
		if err := unix.Mknod(dst, unix.S_IFCHR|0o600, 0); err != nil {
			return fmt.Errorf("create whiteout %s: %w", dst, err)
		}
	case unix.S_IFIFO:
		if err := unix.Mkfifo(dst, 0o600); err != nil {
			return fmt.Errorf("create fifo %s: %w", dst, err)
		}
	default: // block devices, sockets
		w.log.WithField("path", srcName).Warn("special dir seeding: block device or socket not copied")
		return nil
	}
	if err := w.setAttrs(ref, dst, &st); err != nil {
		return err
	}
	if typ != unix.S_IFDIR && st.Nlink > 1 {
		w.links[key] = dst
	}
	return nil
}

func copyFile(dfd int, name, srcName, dst string, st *unix.Stat_t) error {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", srcName, err)
	}
	in := os.NewFile(uintptr(fd), srcName)
	defer in.Close()
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		return fmt.Errorf("stat %s: %w", srcName, err)
	}
	if now.Ino != st.Ino || now.Dev != st.Dev || now.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%s changed while being copied", srcName)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", srcName, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close %s: %w", dst, err)
	}
	return nil
}

func readlinkat(dfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// setAttrs gives dst the shifted owner, the xattrs, mode and times of the
// source. Order matters: chown clears setuid bits and file capabilities,
// so mode and xattrs come after it; times come last.
func (w *walker) setAttrs(srcRef, dst string, st *unix.Stat_t) error {
	if err := os.Lchown(dst, int(w.ids.uid(st.Uid)), int(w.ids.gid(st.Gid))); err != nil {
		return fmt.Errorf("chown %s: %w", dst, err)
	}
	isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	if err := w.copyXattrs(srcRef, dst); err != nil {
		return err
	}
	if !isLink {
		if err := unix.Fchmodat(unix.AT_FDCWD, dst, st.Mode&0o7777, 0); err != nil {
			return fmt.Errorf("chmod %s: %w", dst, err)
		}
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", dst, err)
	}
	return nil
}

func (w *walker) copyXattrs(src, dst string) error {
	names, err := listXattrs(src)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return fmt.Errorf("list xattrs of %s: %w", dst, err)
	}
	for _, name := range names {
		val, err := getXattr(src, name)
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read xattr %s for %s: %w", name, dst, err)
		}
		val = shiftXattr(name, val, w.ids)
		if w.out != nil && name != "security.capability" && val != nil {
			w.out.Xattrs = append(w.out.Xattrs, manifestXattr{Path: w.rel(dst), Name: name, Value: val})
			continue
		}
		if val == nil {
			w.log.WithFields(logrus.Fields{"path": dst, "xattr": name}).Warn("special dir seeding: malformed xattr not copied")
			continue
		}
		if err := unix.Lsetxattr(dst, name, val, 0); err != nil {
			// Namespaces the host filesystem or a symlink does not take
			// (user.* on symlinks, security.* of an absent LSM...).
			if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) {
				w.log.WithFields(logrus.Fields{"path": dst, "xattr": name}).Debugf("special dir seeding: xattr not copied: %v", err)
				continue
			}
			return fmt.Errorf("set xattr %s on %s: %w", name, dst, err)
		}
	}
	return nil
}

func listXattrs(path string) ([]string, error) {
	for {
		n, err := unix.Llistxattr(path, nil)
		if err != nil || n == 0 {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = unix.Llistxattr(path, buf)
		if errors.Is(err, unix.ERANGE) {
			continue // grew in between
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, b := range bytes.Split(buf[:n], []byte{0}) {
			if len(b) > 0 {
				names = append(names, string(b))
			}
		}
		return names, nil
	}
}

func getXattr(path, name string) ([]byte, error) {
	for {
		n, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = unix.Lgetxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// VFS file capability layout (linux/capability.h): a little-endian
// magic_etc word, two {permitted, inheritable} words per 32 capabilities,
// and in revision 3 the host uid that is "root" for those capabilities.
const (
	vfsCapRevisionMask = 0xFF000000
	vfsCapRevision2    = 0x02000000
	vfsCapRevision3    = 0x03000000
	vfsCapFlagsMask    = 0x000000FF
	vfsCapSize2        = 20
	vfsCapSize3        = 24
)

// shiftXattr returns val with the ids it holds mapped (file capabilities
// and ACLs), nil when it cannot parse them.
func shiftXattr(name string, val []byte, m idMap) []byte {
	switch name {
	case "security.capability":
		return shiftFileCaps(val, m.uid)
	case "system.posix_acl_access", "system.posix_acl_default":
		return shiftACL(val, m)
	}
	return val
}

// shiftFileCaps rewrites a security.capability value so that the
// container's root (not host root) owns the capabilities: the kernel only
// honours file capabilities in a user namespace whose root is their
// rootid. Revision 2 (implicitly host root) becomes revision 3. It returns
// nil for a value it cannot parse.
func shiftFileCaps(val []byte, uid func(uint32) uint32) []byte {
	if len(val) < 4 {
		return nil
	}
	magic := binary.LittleEndian.Uint32(val)
	var rootid uint32
	switch {
	case magic&vfsCapRevisionMask == vfsCapRevision2 && len(val) == vfsCapSize2:
	case magic&vfsCapRevisionMask == vfsCapRevision3 && len(val) == vfsCapSize3:
		rootid = binary.LittleEndian.Uint32(val[20:])
	default:
		return nil
	}
	out := make([]byte, vfsCapSize3)
	binary.LittleEndian.PutUint32(out, vfsCapRevision3|magic&vfsCapFlagsMask)
	copy(out[4:20], val[4:20])
	binary.LittleEndian.PutUint32(out[20:], uid(rootid))
	return out
}

// POSIX ACL xattr layout (linux/posix_acl_xattr.h): a little-endian
// version word, then 8-byte entries {tag u16, perm u16, id u32}.
const (
	aclVersion = 2
	aclUser    = 0x02
	aclGroup   = 0x08
)

// shiftACL moves the named-user and named-group entries of an ACL into the
// container's block. It returns nil for a value it cannot parse.
func shiftACL(val []byte, m idMap) []byte {
	if len(val) < 4 || (len(val)-4)%8 != 0 || binary.LittleEndian.Uint32(val) != aclVersion {
		return nil
	}
	out := bytes.Clone(val)
	for off := 4; off < len(out); off += 8 {
		id := binary.LittleEndian.Uint32(out[off+4:])
		switch binary.LittleEndian.Uint16(out[off:]) {
		case aclUser:
			binary.LittleEndian.PutUint32(out[off+4:], m.uid(id))
		case aclGroup:
			binary.LittleEndian.PutUint32(out[off+4:], m.gid(id))
		}
	}
	return out
}
