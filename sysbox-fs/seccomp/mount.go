package seccomp

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// What the agent does with a trapped mount(2), umount2(2) or fsopen(2),
// decided from the arguments alone (no kernel state): the pure half of the
// mount emulation, unit-tested with tables.

// verdict is what to do with a trapped call.
type verdict int

const (
	// continueCall lets the kernel run the call as is.
	continueCall verdict = iota
	// emulateProc performs a procfs mount with the virtual files on top.
	emulateProc
	// emulateSysfs performs a sysfs mount with the virtual files on top.
	emulateSysfs
	// refuseENOSYS answers ENOSYS (fsopen of proc and sysfs: tools fall
	// back to mount(2), which is trapped).
	refuseENOSYS
)

// msMgcMask and msMgcVal are the old "magic" mount flags value some
// callers still put in the top 16 bits; the kernel drops it.
const (
	msMgcMask = 0xffff0000
	msMgcVal  = 0xc0ed0000
)

// notNewMount are the mount(2) flags that make the call something other than
// a new filesystem instance (fstype is then ignored by the kernel).
const notNewMount = unix.MS_REMOUNT | unix.MS_BIND | unix.MS_MOVE |
	unix.MS_SHARED | unix.MS_PRIVATE | unix.MS_SLAVE | unix.MS_UNBINDABLE

// mountFlags drops the magic value from mount(2)'s flags, as the kernel does.
func mountFlags(flags uint64) uint64 {
	if flags&msMgcMask == msMgcVal {
		flags &^= msMgcMask
	}
	return flags
}

// needsFSType tells whether mount(2) with flags creates a new filesystem
// instance, i.e. whether its fstype argument matters.
func needsFSType(flags uint64) bool {
	return mountFlags(flags)&notNewMount == 0
}

// mountVerdict decides a mount(2) call: only a new procfs or sysfs is
// emulated.
func mountVerdict(flags uint64, fstype string) verdict {
	if !needsFSType(flags) {
		return continueCall
	}
	switch fstype {
	case "proc":
		return emulateProc
	case "sysfs":
		return emulateSysfs
	}
	return continueCall
}

// fsRoot is where a filesystem type's virtual files live in the container.
func fsRoot(fstype string) string {
	if fstype == "sysfs" {
		return "/sys"
	}
	return "/proc"
}

// fsopenVerdict decides an fsopen(2) call: the new mount API would build a
// raw procfs or sysfs without the virtual files, so it is refused for those
// two; mount(2) is the way in.
func fsopenVerdict(fsname string) verdict {
	switch fsname {
	case "proc", "sysfs":
		return refuseENOSYS
	}
	return continueCall
}

// newMount is an emulated procfs or sysfs mount: what to ask
// fsopen/fsconfig/fsmount.
type newMount struct {
	// FSType is "proc" or "sysfs".
	FSType string
	// Attrs are the MOUNT_ATTR_* flags for fsmount.
	Attrs uint64
	// Options are the filesystem options (mount(2)'s data), in order.
	Options []fsOption
	// Source is the mount's source name (FSType when empty in the call).
	Source string
}

// fsOption is one filesystem option: a flag (no value) or key=value.
type fsOption struct {
	Key, Value string
	Flag       bool
}

// mountAttrs are the mount(2) flags a new mount honours; the others
// (MS_SILENT, MS_REC, MS_SYNCHRONOUS, MS_DIRSYNC, MS_LAZYTIME, ...) have no
// meaning for it and are ignored, as the kernel ignores them.
func mountAttrs(flags uint64) uint64 {
	flags = mountFlags(flags)
	var attrs uint64
	for _, m := range []struct{ ms, attr uint64 }{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
		{unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
		{unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	} {
		if flags&m.ms != 0 {
			attrs |= m.attr
		}
	}
	// mount(2) defaults to relatime unless told otherwise.
	switch {
	case flags&unix.MS_NOATIME != 0:
		attrs |= unix.MOUNT_ATTR_NOATIME
	case flags&unix.MS_STRICTATIME != 0:
		attrs |= unix.MOUNT_ATTR_STRICTATIME
	default:
		attrs |= unix.MOUNT_ATTR_RELATIME
	}
	return attrs
}

// parseNewMount turns mount(2)'s fstype, source, flags and data into an
// emulated mount. The data is the comma-separated option string (procfs:
// hidepid=, gid=, subset=); an empty option ("a,,b") is skipped as the
// kernel does.
func parseNewMount(fstype, source string, flags uint64, data string) (newMount, error) {
	pm := newMount{FSType: fstype, Attrs: mountAttrs(flags), Source: source}
	if pm.Source == "" {
		pm.Source = fstype
	}
	for opt := range strings.SplitSeq(data, ",") {
		if opt == "" {
			continue
		}
		k, v, hasValue := strings.Cut(opt, "=")
		if k == "" {
			return newMount{}, fmt.Errorf("mount option %q: %w", opt, unix.EINVAL)
		}
		pm.Options = append(pm.Options, fsOption{Key: k, Value: v, Flag: !hasValue})
	}
	return pm, nil
}

// mountFile is a virtual file (or directory) to put on a new procfs or
// sysfs: Rel is its path relative to the filesystem's root ("meminfo",
// "sys"), Source the host-side FUSE file it is a copy of.
type mountFile struct {
	Rel, Source string
}

// filesUnder picks the virtual files under root ("/proc", "/sys") from a
// container's list (the destinations PreRegister answers). Destinations
// are cleaned; root itself and paths outside it are left out.
func filesUnder(files []VirtualFile, root string) []mountFile {
	var out []mountFile
	for _, f := range files {
		dest := path.Clean("/" + f.Destination)
		rel, ok := strings.CutPrefix(dest, root+"/")
		if !ok || rel == "" || f.Source == "" {
			continue
		}
		out = append(out, mountFile{Rel: rel, Source: f.Source})
	}
	return out
}

// umountTarget is what the agent learnt about an umount2 target in the
// caller's mount namespace.
type umountTarget struct {
	// MountRoot: the path is the root of a mount (else umount fails with
	// EINVAL by itself).
	MountRoot bool
	// MntID is the mount's unique id; Dev its device.
	MntID uint64
	Dev   uint64
}

// protectedMounts identifies the mounts a container may not unmount: any
// mount of its FUSE tree (virtual files and /proc/sys, wherever the runtime
// or the agent attached them: their device is the FUSE mount's), and /proc
// at the container's root (by mount id).
type protectedMounts struct {
	FuseDevs  []uint64
	RootProcs []uint64
}

// umountVerdict tells whether an umount2 of target is refused (EPERM).
func (p protectedMounts) refuses(t umountTarget) bool {
	if !t.MountRoot {
		return false
	}
	for _, d := range p.FuseDevs {
		if t.Dev == d {
			return true
		}
	}
	for _, id := range p.RootProcs {
		if t.MntID == id {
			return true
		}
	}
	return false
}

// umountFlagsKnown are the umount2 flags the kernel accepts; a call with
// others fails with EINVAL by itself.
const umountFlagsKnown = unix.MNT_FORCE | unix.MNT_DETACH | unix.MNT_EXPIRE | unix.UMOUNT_NOFOLLOW

// magicTarget splits a path through the caller's own /proc/self or
// /proc/thread-self links ("/proc/self/fd/7": runc mounts onto such paths)
// into the link under /proc/<tid> ("fd/7", "root", "cwd") and the rest of
// the path below it. The agent is no process of the caller's pid
// namespace, so "self" would not name the caller there: it opens the link
// from the host's /proc/<tid> instead. ok is false for other paths.
func magicTarget(target string) (link, rest string, ok bool) {
	var after string
	for _, p := range []string{"/proc/self/", "/proc/thread-self/"} {
		if a, found := strings.CutPrefix(target, p); found {
			after, ok = a, true
			break
		}
	}
	if !ok {
		return "", "", false
	}
	first, rest, _ := strings.Cut(after, "/")
	switch first {
	case "root", "cwd":
		return first, rest, true
	case "fd":
		n, rest2, _ := strings.Cut(rest, "/")
		if _, err := strconv.ParseUint(n, 10, 31); err != nil {
			return "", "", false
		}
		return "fd/" + n, rest2, true
	}
	return "", "", false
}

// mountCall is a trapped mount-related syscall, whatever its ABI.
type mountCall int

const (
	callOther mountCall = iota
	callMount
	callUmount2
	callFsopen
	callMoveMount
)

// The i386 and x32 numbers of the mount calls: programs of those ABIs run
// on x86-64 and pass the same arguments (pointers zero-extended), so they
// are trapped and answered too; otherwise a 32-bit umount2 would unmount
// a virtual file.
const (
	i386Mount   = 21
	i386Umount2 = 52
	i386Fsopen  = 430
	// i386MoveMount is move_mount: the syscalls from 424 on have the same
	// number on every architecture.
	i386MoveMount = 429
	x32Bit        = 0x40000000
)

// mountCallOf names the call nr of architecture arch for an agent running
// on native; callOther for anything else (continued).
func mountCallOf(native, arch uint32, nr int32) mountCall {
	if native == 0 {
		return callOther
	}
	if arch == native {
		if native == unix.AUDIT_ARCH_X86_64 && nr&x32Bit != 0 {
			nr &^= x32Bit // x32: the x86-64 numbers with the x32 bit
		}
		switch nr {
		case unix.SYS_MOUNT:
			return callMount
		case unix.SYS_UMOUNT2:
			return callUmount2
		case unix.SYS_FSOPEN:
			return callFsopen
		case unix.SYS_MOVE_MOUNT:
			return callMoveMount
		}
		return callOther
	}
	if native == unix.AUDIT_ARCH_X86_64 && arch == unix.AUDIT_ARCH_I386 {
		switch nr {
		case i386Mount:
			return callMount
		case i386Umount2:
			return callUmount2
		case i386Fsopen:
			return callFsopen
		case i386MoveMount:
			return callMoveMount
		}
	}
	return callOther
}

// moveMountSource is the path that names the mount move_mount(2) would
// move, as the agent looks it up in the caller's root: from_path relative
// to from_dfd (through the caller's /proc/self/fd) or its cwd. follow
// tells whether the last component is followed if a symlink.
func moveMountSource(fromDfd int32, fromPath string, flags uint64) (path string, follow bool) {
	follow = flags&unix.MOVE_MOUNT_F_SYMLINKS != 0
	if flags&unix.MOVE_MOUNT_F_EMPTY_PATH != 0 && fromPath == "" {
		// The fd itself (a magic link: followed).
		return "/proc/self/fd/" + strconv.Itoa(int(fromDfd)), true
	}
	if strings.HasPrefix(fromPath, "/") || fromDfd == unix.AT_FDCWD {
		return fromPath, follow
	}
	return "/proc/self/fd/" + strconv.Itoa(int(fromDfd)) + "/" + fromPath, follow
}
