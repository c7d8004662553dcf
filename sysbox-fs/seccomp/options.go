package seccomp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// The answers behind two per-container options. sysbox-runc traps these
// calls only in a container that asked for the option
// (SYSBOX_IGNORE_SYSFS_CHOWN, SYSBOX_ALLOW_TRUSTED_XATTR): a notification
// of one of them is the container's request, so the agent needs no other
// record of its options.
//
//   - chown(2), lchown(2), fchown(2), fchownat(2) of a sysfs file: success,
//     nothing changed. Any other file, or a path the agent cannot look up,
//     continues to the kernel.
//   - setxattr(2), getxattr(2), removexattr(2) (and their l and f forms) of
//     a trusted.* name, by a caller with CAP_SYS_ADMIN in its user
//     namespace: performed by the agent as host root on the file the caller
//     names, looked up in the caller's mount namespace below its root and
//     cwd (the l forms do not follow a last symlink); listxattr(2) the same
//     way, so the list has the trusted.* names. Other names, and callers
//     without the capability, continue to the kernel (EPERM or ENODATA for
//     trusted.* in a user namespace).

// optCall is a trapped call of the options' emulations, whatever its ABI.
type optCall int

const (
	optOther optCall = iota
	optChown
	optLchown
	optFchown
	optFchownat
	optSetxattr
	optLsetxattr
	optFsetxattr
	optGetxattr
	optLgetxattr
	optFgetxattr
	optListxattr
	optLlistxattr
	optFlistxattr
	optRemovexattr
	optLremovexattr
	optFremovexattr
)

// The i386 numbers (the 16-bit and 32-bit uid forms of chown alike: the
// uid is never used).
var i386OptCalls = map[int32]optCall{
	182: optChown, 212: optChown, 16: optLchown, 198: optLchown, 95: optFchown, 207: optFchown, 298: optFchownat,
	226: optSetxattr, 227: optLsetxattr, 228: optFsetxattr, 229: optGetxattr, 230: optLgetxattr, 231: optFgetxattr,
	232: optListxattr, 233: optLlistxattr, 234: optFlistxattr, 235: optRemovexattr, 236: optLremovexattr, 237: optFremovexattr,
}

// optCallOf names the call nr of architecture arch for an agent running on
// native (x32 calls are the x86-64 numbers with the x32 bit; i386 calls
// have their own numbers); optOther for anything else.
func optCallOf(native, arch uint32, nr int32) optCall {
	if native == 0 {
		return optOther
	}
	if arch != native {
		if native == unix.AUDIT_ARCH_X86_64 && arch == unix.AUDIT_ARCH_I386 {
			return i386OptCalls[nr]
		}
		return optOther
	}
	if native == unix.AUDIT_ARCH_X86_64 && nr&x32Bit != 0 {
		nr &^= x32Bit
	}
	switch nr {
	case unix.SYS_FCHOWN:
		return optFchown
	case unix.SYS_FCHOWNAT:
		return optFchownat
	case unix.SYS_SETXATTR:
		return optSetxattr
	case unix.SYS_LSETXATTR:
		return optLsetxattr
	case unix.SYS_FSETXATTR:
		return optFsetxattr
	case unix.SYS_GETXATTR:
		return optGetxattr
	case unix.SYS_LGETXATTR:
		return optLgetxattr
	case unix.SYS_FGETXATTR:
		return optFgetxattr
	case unix.SYS_LISTXATTR:
		return optListxattr
	case unix.SYS_LLISTXATTR:
		return optLlistxattr
	case unix.SYS_FLISTXATTR:
		return optFlistxattr
	case unix.SYS_REMOVEXATTR:
		return optRemovexattr
	case unix.SYS_LREMOVEXATTR:
		return optLremovexattr
	case unix.SYS_FREMOVEXATTR:
		return optFremovexattr
	}
	return legacyChownOf(nr)
}

// chownTarget is the file a chown call names: a path (relative to the
// caller's dirfd, or its cwd when dirfd is AT_FDCWD), or the caller's fd
// itself when fdOnly.
type chownTarget struct {
	dirfd    int32
	path     string
	fdOnly   bool
	nofollow bool
}

// chownTargetOf decodes the target of call from its arguments; path is the
// string the caller passed (read from its memory).
func chownTargetOf(call optCall, args [6]uint64, path string) chownTarget {
	switch call {
	case optFchown:
		return chownTarget{dirfd: int32(args[0]), fdOnly: true}
	case optFchownat:
		flags := args[4]
		t := chownTarget{dirfd: int32(args[0]), path: path, nofollow: flags&unix.AT_SYMLINK_NOFOLLOW != 0}
		if path == "" && flags&unix.AT_EMPTY_PATH != 0 {
			t.fdOnly = true
		}
		return t
	case optLchown:
		return chownTarget{dirfd: unix.AT_FDCWD, path: path, nofollow: true}
	}
	return chownTarget{dirfd: unix.AT_FDCWD, path: path}
}

// xattrOp is what an xattr call does; byFD, nofollow how it names its file.
type xattrOp int

const (
	xattrSet xattrOp = iota
	xattrGet
	xattrList
	xattrRemove
)

func xattrOpOf(call optCall) (op xattrOp, byFD, nofollow, ok bool) {
	switch call {
	case optSetxattr, optLsetxattr, optFsetxattr:
		op = xattrSet
	case optGetxattr, optLgetxattr, optFgetxattr:
		op = xattrGet
	case optListxattr, optLlistxattr, optFlistxattr:
		op = xattrList
	case optRemovexattr, optLremovexattr, optFremovexattr:
		op = xattrRemove
	default:
		return 0, false, false, false
	}
	switch call {
	case optFsetxattr, optFgetxattr, optFlistxattr, optFremovexattr:
		byFD = true
	case optLsetxattr, optLgetxattr, optLlistxattr, optLremovexattr:
		nofollow = true
	}
	return op, byFD, nofollow, true
}

// The kernel's xattr limits (linux/limits.h).
const (
	xattrNameMax = 255
	xattrSizeMax = 65536
	xattrListMax = 65536
)

// isTrusted tells whether an xattr name is in the trusted namespace.
func isTrusted(name string) bool { return strings.HasPrefix(name, "trusted.") }

// answerOption answers a call trapped for one of the per-container options.
func (a *Agent) answerOption(ln *listener, req *notif, call optCall) notifResp {
	if _, ok := a.cfg.Lookup(ln.id); !ok {
		return continued(req) // not a container sysbox-fs runs: no emulation
	}
	ln.mu.Lock()
	ln.registered = true
	ln.mu.Unlock()
	switch call {
	case optChown, optLchown, optFchown, optFchownat:
		return a.answerChown(ln, req, call)
	}
	if op, byFD, nofollow, ok := xattrOpOf(call); ok {
		return a.answerXattr(ln, req, op, byFD, nofollow)
	}
	return continued(req)
}

// answerChown answers a chown of a sysfs file with success, changing
// nothing; every other chown continues.
func (a *Agent) answerChown(ln *listener, req *notif, call optCall) notifResp {
	args := req.Data.Args
	var path string
	if call != optFchown {
		pathArg := args[0]
		if call == optFchownat {
			pathArg = args[1]
		}
		mem, err := a.openCallerMem(ln, req)
		if err != nil {
			return continued(req)
		}
		path, err = mem.readString(pathArg, maxPath)
		ok := err == nil && mem.ok()
		mem.close()
		if !ok {
			return continued(req) // the kernel fails on the same bad pointer
		}
	}
	if call == optFchownat && args[4]&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return continued(req) // the kernel's EINVAL
	}
	sysfs := false
	err := a.atCallerFile(ln, req, chownTargetOf(call, args, path), func(dirfd int, p string, nofollow bool) error {
		flags := unix.O_PATH | unix.O_CLOEXEC
		if nofollow {
			flags |= unix.O_NOFOLLOW
		}
		fd, err := unix.Openat(dirfd, p, flags, 0)
		if err != nil {
			return pathErrorOf(err)
		}
		defer unix.Close(fd)
		var st unix.Statfs_t
		if err := unix.Fstatfs(fd, &st); err != nil {
			return fmt.Errorf("fstatfs: %w", err)
		}
		sysfs = st.Type == unix.SYSFS_MAGIC
		return nil
	})
	if err != nil || !sysfs {
		return continued(req) // the kernel's own lookup says what is wrong
	}
	ln.log.WithFields(logrus.Fields{"tid": req.Pid, "path": path}).Debug("seccomp agent: chown of a sysfs file ignored")
	return notifResp{ID: req.ID, Val: 0}
}

// atCallerFile calls do on the file t names for the caller, with a
// (dirfd, path) pair that names it for the agent: the caller's fd through
// the host's /proc/<tid>/fd (opened, checked valid, then used as
// /proc/self/fd/<n>), or the caller's path looked up from a thread in the
// caller's mount namespace with its root and cwd (inCaller: the lookup
// never leaves the caller's root), relative to the caller's dirfd when it
// gave one. do runs on the namespace thread then, within nsTimeout;
// afterwards its results may be read only when atCallerFile returned nil.
// A failed lookup is a pathError.
func (a *Agent) atCallerFile(ln *listener, req *notif, t chownTarget, do func(dirfd int, path string, nofollow bool) error) error {
	if t.fdOnly {
		fd, err := a.openCallerFD(req.Pid, t.dirfd)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if !notifValid(ln.f, req.ID) {
			return errCallerGone
		}
		return do(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), false)
	}
	if t.path == "" {
		return pathError{unix.ENOENT}
	}
	dirfd := -1
	if !strings.HasPrefix(t.path, "/") && t.dirfd != unix.AT_FDCWD {
		fd, err := a.openCallerFD(req.Pid, t.dirfd)
		if err != nil {
			return err
		}
		dirfd = fd
	}
	closeDir := func() {
		if dirfd >= 0 {
			unix.Close(dirfd)
		}
	}
	cns, err := a.openCallerNS(ln, req, t.path, t.nofollow) // checks the notification valid
	if err != nil {
		closeDir()
		return err
	}
	if cns.target >= 0 { // a /proc/self path, opened by openCallerNS
		defer cns.close()
		closeDir()
		return do(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(cns.target), false)
	}
	at := unix.AT_FDCWD
	if dirfd >= 0 {
		at = dirfd
	}
	return inCaller(cns, func(abandoned *atomic.Bool) error {
		if abandoned.Load() {
			return unix.ETIMEDOUT
		}
		return do(at, t.path, t.nofollow)
	}, closeDir)
}

// openCallerFD opens (O_PATH) what the caller's fd refers to, through the
// host's /proc/<tid>/fd/<fd>. Check the notification valid after it.
func (a *Agent) openCallerFD(tid uint32, fd int32) (int, error) {
	if fd < 0 {
		return -1, pathError{unix.EBADF}
	}
	path := a.cfg.ProcRoot + "/" + strconv.FormatUint(uint64(tid), 10) + "/fd/" + strconv.Itoa(int(fd))
	got, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return -1, pathError{unix.EBADF}
		}
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	return got, nil
}

// answerXattr performs an xattr call on a trusted.* name (any listxattr)
// as host root, for a caller with CAP_SYS_ADMIN in its user namespace;
// every other call continues.
//
// setxattr(path, name, value, size, flags), getxattr(path, name, value,
// size), listxattr(path, list, size), removexattr(path, name); the f forms
// take an fd instead of path.
func (a *Agent) answerXattr(ln *listener, req *notif, op xattrOp, byFD, nofollow bool) notifResp {
	args := req.Data.Args
	mem, err := a.openCallerMem(ln, req)
	if err != nil {
		return continued(req)
	}
	var path, name string
	var value []byte
	err = func() error {
		defer mem.close()
		if !byFD {
			if path, err = mem.readString(args[0], maxPath); err != nil {
				return err
			}
		}
		if op != xattrList {
			if name, err = mem.readString(args[1], xattrNameMax); err != nil {
				return err
			}
			if !isTrusted(name) {
				return errNotOurs
			}
		}
		if op == xattrSet && args[3] <= xattrSizeMax {
			if value, err = mem.readBytes(args[2], int(args[3])); err != nil {
				return err
			}
		}
		if !mem.ok() {
			return errCallerGone
		}
		return nil
	}()
	if err != nil {
		return continued(req) // the kernel reads (and fails on) the same arguments
	}
	if op == xattrSet && args[3] > xattrSizeMax {
		return failed(req, unix.E2BIG)
	}
	capEff, err := a.capEff(req.Pid)
	if err != nil || capEff&(1<<capSysAdmin) == 0 {
		return continued(req) // the kernel refuses trusted.* to it
	}
	size := 0
	switch op {
	case xattrGet:
		size = int(min(args[3], xattrSizeMax))
	case xattrList:
		size = int(min(args[2], xattrListMax))
	}
	var n int
	var out []byte
	t := chownTarget{dirfd: unix.AT_FDCWD, path: path, nofollow: nofollow}
	if byFD {
		t = chownTarget{dirfd: int32(args[0]), fdOnly: true}
	}
	err = a.atCallerFile(ln, req, t, func(_ int, p string, nofollow bool) error {
		var err error
		n, out, err = doXattr(op, p, nofollow, name, value, int(args[4]), size)
		return err
	})
	log := ln.log.WithFields(logrus.Fields{"tid": req.Pid, "path": path, "name": name})
	var perr pathError
	var errno unix.Errno
	switch {
	case errors.Is(err, errCallerGone):
		return continued(req) // not taken
	case errors.As(err, &perr):
		return failed(req, perr.errno)
	case errors.As(err, &errno):
		log.WithError(err).Debug("seccomp agent: trusted xattr call failed")
		return failed(req, errno)
	case err != nil:
		log.WithError(err).Warn("seccomp agent: trusted xattr call left to the kernel")
		return continued(req)
	}
	addr := args[2]
	if op == xattrList {
		addr = args[1]
	}
	if len(out) > 0 {
		if errno := a.writeCallerAt(ln, req, addr, out); errno != 0 {
			if errno == unix.ESRCH {
				return continued(req) // caller gone
			}
			return failed(req, errno)
		}
	}
	log.Debug("seccomp agent: trusted xattr call performed")
	return notifResp{ID: req.ID, Val: int64(n)}
}

// errNotOurs: the call is not one the agent answers.
var errNotOurs = errors.New("not a trusted.* name")

// doXattr performs op on path (its last symlink not followed when
// nofollow). For get and list, size is the caller's buffer size: 0 asks
// for the size only (n), otherwise out holds the n bytes to hand back.
func doXattr(op xattrOp, path string, nofollow bool, name string, value []byte, flags, size int) (n int, out []byte, err error) {
	var buf []byte
	if size > 0 {
		buf = make([]byte, size)
	}
	switch op {
	case xattrSet:
		if nofollow {
			err = unix.Lsetxattr(path, name, value, flags)
		} else {
			err = unix.Setxattr(path, name, value, flags)
		}
		return 0, nil, err
	case xattrRemove:
		if nofollow {
			err = unix.Lremovexattr(path, name)
		} else {
			err = unix.Removexattr(path, name)
		}
		return 0, nil, err
	case xattrGet:
		if nofollow {
			n, err = unix.Lgetxattr(path, name, buf)
		} else {
			n, err = unix.Getxattr(path, name, buf)
		}
	case xattrList:
		if nofollow {
			n, err = unix.Llistxattr(path, buf)
		} else {
			n, err = unix.Listxattr(path, buf)
		}
	}
	if err != nil {
		return 0, nil, err
	}
	if size > 0 {
		out = buf[:n]
	}
	return n, out, nil
}
