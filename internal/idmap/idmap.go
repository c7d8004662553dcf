package idmap

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrNotSupported is wrapped by errors about filesystems that cannot be
// ID-mapped.
var ErrNotSupported = errors.New("filesystem does not support ID-mapped mounts")

// Filesystem magic numbers (statfs f_type) not all defined by x/sys/unix.
const (
	magicExt4     = 0xef53 // ext2, ext3 and ext4
	magicXFS      = 0x58465342
	magicBtrfs    = 0x9123683e
	magicTmpfs    = 0x01021994
	magicF2FS     = 0xf2f52010
	magicMsdos    = 0x4d44 // vfat, msdos
	magicErofs    = 0xe0f5e1e2
	magicCeph     = 0x00c36400
	magicOverlay  = 0x794c7630
	magicFuse     = 0x65735546
	magicProc     = 0x9fa0
	magicSysfs    = 0x62656572
	magicNFS      = 0x6969
	magicSquashfs = 0x73717368
	magicZFS      = 0x2fc12fc1
	magicCgroup2  = 0x63677270
	magicDevpts   = 0x1cd1
)

// supportedMagic reports whether filesystems of type magic accept
// MOUNT_ATTR_IDMAP on the running kernel: ext4, xfs, btrfs, f2fs and vfat
// from 5.19 on (the oldest kernel the project targets), tmpfs from 6.3,
// ceph from 6.7, erofs from 6.10 (Debian 12's 6.1 cannot ID-map tmpfs).
func supportedMagic(magic uint32) bool {
	return supportedOn(magic, runningKernel())
}

// supportedOn is supportedMagic for kernel release k.
func supportedOn(magic uint32, k kernelVersion) bool {
	switch magic {
	case magicExt4, magicXFS, magicBtrfs, magicF2FS, magicMsdos:
		return true
	case magicTmpfs:
		return k.atLeast(6, 3)
	case magicCeph:
		return k.atLeast(6, 7)
	case magicErofs:
		return k.atLeast(6, 10)
	}
	return false
}

// kernelVersion is a kernel release's major and minor numbers.
type kernelVersion struct{ major, minor int }

func (k kernelVersion) atLeast(major, minor int) bool {
	return k.major > major || k.major == major && k.minor >= minor
}

// parseKernelRelease reads "6.1.0-50-amd64" or "6.18.44-fc" as {6 1} / {6 18}.
func parseKernelRelease(release string) (kernelVersion, error) {
	var k kernelVersion
	if _, err := fmt.Sscanf(release, "%d.%d", &k.major, &k.minor); err != nil {
		return kernelVersion{}, fmt.Errorf("kernel release %q: %w", release, err)
	}
	return k, nil
}

// runningKernel is the running kernel's version, read once (uname). An
// unreadable release counts as the oldest target, 5.19.
var runningKernel = sync.OnceValue(func() kernelVersion {
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		if k, err := parseKernelRelease(unix.ByteSliceToString(u.Release[:])); err == nil {
			return k
		}
	}
	return kernelVersion{5, 19}
})

// fsName names a filesystem magic for messages.
func fsName(magic uint32) string {
	switch magic {
	case magicExt4:
		return "ext4"
	case magicXFS:
		return "xfs"
	case magicBtrfs:
		return "btrfs"
	case magicTmpfs:
		return "tmpfs"
	case magicF2FS:
		return "f2fs"
	case magicMsdos:
		return "vfat"
	case magicErofs:
		return "erofs"
	case magicCeph:
		return "ceph"
	case magicOverlay:
		return "overlay"
	case magicFuse:
		return "fuse"
	case magicProc:
		return "proc"
	case magicSysfs:
		return "sysfs"
	case magicNFS:
		return "nfs"
	case magicSquashfs:
		return "squashfs"
	case magicZFS:
		return "zfs"
	case magicCgroup2:
		return "cgroup2"
	case magicDevpts:
		return "devpts"
	}
	return fmt.Sprintf("0x%x", magic)
}

// FSType returns a short name of the type of the filesystem at path
// ("ext4", "overlay", "fuse", or the magic number in hex).
func FSType(path string) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "", fmt.Errorf("statfs %s: %w", path, err)
	}
	return fsName(uint32(st.Type)), nil
}

// Supported reports whether the filesystem at path can be ID-mapped, judged
// by its type alone (one statfs). It is false for overlay, fuse, proc and
// for paths that cannot be stat'ed.
func Supported(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return supportedMagic(uint32(st.Type))
}

// CheckSupported returns nil if the filesystem at path can be ID-mapped and
// otherwise an error wrapping ErrNotSupported that names path and its
// filesystem type.
func CheckSupported(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", path, err)
	}
	if !supportedMagic(uint32(st.Type)) {
		return fmt.Errorf("%s is on %s: %w", path, fsName(uint32(st.Type)), ErrNotSupported)
	}
	return nil
}

// IDMapTree returns a detached ID-mapped clone of the mount tree at path:
// open_tree(OPEN_TREE_CLONE [|AT_RECURSIVE]) followed by mount_setattr
// (MOUNT_ATTR_IDMAP) with u. A file owned by id k on disk shows as owned by
// k mapped through u (k+HostUID for k < Size, the overflow id otherwise).
//
// The clone is attached nowhere: use it through /proc/self/fd/<fd> paths or
// attach it with move_mount. Closing the file discards it unless attached.
// With recursive, every mount below path is cloned and ID-mapped as well;
// one that cannot be ID-mapped makes the call fail.
func IDMapTree(path string, u *Userns, recursive bool) (*os.File, error) {
	if u == nil || u.Fd() < 0 {
		return nil, fmt.Errorf("id-map %s: no user namespace", path)
	}
	openFlags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	setFlags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		openFlags |= unix.AT_RECURSIVE
		setFlags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, openFlags)
	if err != nil {
		return nil, fmt.Errorf("open_tree %s: %w", path, err)
	}
	attr := unix.MountAttr{
		Attr_set:  unix.MOUNT_ATTR_IDMAP,
		Userns_fd: uint64(u.Fd()),
	}
	if err := unix.MountSetattr(fd, "", setFlags, &attr); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EINVAL) {
			if cerr := CheckSupported(path); cerr != nil {
				return nil, fmt.Errorf("id-map %s: %w (%w)", path, cerr, err)
			}
		}
		return nil, fmt.Errorf("id-map %s: mount_setattr: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// ProcPath returns the /proc/self/fd path that reaches the root of tree.
func ProcPath(tree *os.File) string {
	return fmt.Sprintf("/proc/self/fd/%d", tree.Fd())
}
