package seccomp

import (
	"errors"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// The answers to trapped mount(2), umount2(2) and fsopen(2). Anything the
// agent cannot decide (unknown container, unreadable arguments, a caller
// it cannot inspect) continues to the kernel: the call then behaves as
// without the trap.

// known looks the listener's container up (and its virtual files); ok is
// false when the mount traps are off or the container is unknown.
func (a *Agent) known(ln *listener) (initPid int, files []VirtualFile, ok bool) {
	if a.cfg.Files == nil {
		return 0, nil, false
	}
	c, ok := a.cfg.Lookup(ln.id)
	if !ok {
		return 0, nil, false
	}
	files, ok = a.cfg.Files(ln.id)
	if !ok {
		return 0, nil, false
	}
	ln.mu.Lock()
	ln.registered = true
	ln.mu.Unlock()
	return c.InitPid, files, true
}

// errnoOf is the errno to answer for err (EPERM when it carries none).
func errnoOf(err error) unix.Errno {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return unix.EPERM
}

// answerMount emulates mount -t proc and mount -t sysfs; every other mount
// continues.
//
// mount(source, target, fstype, flags, data).
func (a *Agent) answerMount(ln *listener, req *notif) notifResp {
	args := req.Data.Args
	flags := args[3]
	if a.cfg.Files != nil && mountFlags(flags)&unix.MS_MOVE != 0 {
		return a.answerMove(ln, req)
	}
	if a.cfg.Files == nil || !needsFSType(flags) || args[2] == 0 {
		return continued(req)
	}
	mem, err := a.openCallerMem(ln, req)
	if err != nil {
		return continued(req)
	}
	defer mem.close()
	fstype, err := mem.readString(args[2], maxFSType)
	if v := mountVerdict(flags, fstype); err != nil || v != emulateProc && v != emulateSysfs {
		return continued(req) // the kernel reads (and fails on) the same bad pointer
	}
	target, err := mem.readString(args[1], maxPath)
	if err != nil {
		return continued(req)
	}
	var source, data string
	if args[0] != 0 {
		if source, err = mem.readString(args[0], maxPath); err != nil {
			return continued(req)
		}
	}
	if args[4] != 0 {
		// The kernel copies at most a page of options.
		if data, err = mem.readString(args[4], int(pageSize)-1); err != nil {
			return continued(req)
		}
	}
	if !mem.ok() {
		return continued(req) // caller gone: the answer is not taken
	}
	_, files, ok := a.known(ln)
	pf := filesUnder(files, fsRoot(fstype))
	if !ok || len(pf) == 0 {
		return continued(req)
	}
	log := ln.log.WithFields(logrus.Fields{"tid": req.Pid, "target": target, "fstype": fstype})
	pm, err := parseNewMount(fstype, source, flags, data)
	if err != nil {
		return failed(req, errnoOf(err))
	}
	cns, err := a.openCallerNS(ln, req, target, false)
	var perr pathError
	switch {
	case errors.As(err, &perr):
		return failed(req, perr.errno)
	case err != nil:
		return continued(req)
	}
	may, err := a.mayMount(req, cns, fstype)
	if err != nil || !may {
		cns.close()
		if err != nil {
			log.WithError(err).Debug("seccomp agent: mount left to the kernel")
		}
		return continued(req)
	}
	start := time.Now()
	valid := func() bool { return notifValid(ln.f, req.ID) }
	if err := a.mountNew(cns, target, pm, pf, valid); err != nil {
		if errors.Is(err, errCallerGone) {
			return continued(req) // not taken
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) ||
			errors.Is(err, unix.EACCES) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENAMETOOLONG) {
			log.WithError(err).Debug("seccomp agent: emulated mount failed")
		} else {
			log.WithError(err).Warn("seccomp agent: emulated mount failed")
		}
		return failed(req, errnoOf(err))
	}
	log.WithField("took", time.Since(start)).Debug("seccomp agent: mounted with the virtual files on top")
	return notifResp{ID: req.ID, Val: 0}
}

// answerMove refuses to move a virtual mount away (which uncovers the
// host's file as an umount would).
//
// mount(source, target, _, MS_MOVE, _).
func (a *Agent) answerMove(ln *listener, req *notif) notifResp {
	mem, err := a.openCallerMem(ln, req)
	if err != nil {
		return continued(req)
	}
	source, err := mem.readString(req.Data.Args[0], maxPath)
	ok := err == nil && mem.ok()
	mem.close()
	if !ok {
		return continued(req)
	}
	return a.guard(ln, req, source, 0, "move")
}

// answerMoveMount refuses to move a virtual mount away with the new mount
// API (a detached clone of one, from open_tree, is refused too: it cannot
// be told apart by its device).
//
// move_mount(from_dfd, from_path, to_dfd, to_path, flags).
func (a *Agent) answerMoveMount(ln *listener, req *notif) notifResp {
	args := req.Data.Args
	if a.cfg.Files == nil {
		return continued(req)
	}
	var fromPath string
	if args[1] != 0 {
		mem, err := a.openCallerMem(ln, req)
		if err != nil {
			return continued(req)
		}
		fromPath, err = mem.readString(args[1], maxPath)
		ok := err == nil && mem.ok()
		mem.close()
		if !ok {
			return continued(req)
		}
	}
	path, follow := moveMountSource(int32(args[0]), fromPath, args[4])
	var flags uint64
	if !follow {
		flags = unix.UMOUNT_NOFOLLOW
	}
	return a.guard(ln, req, path, flags, "move_mount")
}

// answerUmount refuses (EPERM) to unmount the container's virtual files,
// wherever they are attached, and its root /proc; everything else
// continues.
//
// umount2(target, flags).
func (a *Agent) answerUmount(ln *listener, req *notif) notifResp {
	flags := req.Data.Args[1]
	if a.cfg.Files == nil || flags&^umountFlagsKnown != 0 {
		// Unknown flags fail with EINVAL. (MNT_EXPIRE is checked too: a
		// second call unmounts an unused mount.)
		return continued(req)
	}
	mem, err := a.openCallerMem(ln, req)
	if err != nil {
		return continued(req)
	}
	target, err := mem.readString(req.Data.Args[0], maxPath)
	ok := err == nil && mem.ok()
	mem.close()
	if !ok {
		return continued(req)
	}
	return a.guard(ln, req, target, flags, "umount")
}

// guard refuses (EPERM) a call that would take the mount at path (looked
// up as umount2 with flags does) off its place, when that mount is one
// of the container's virtual mounts or its root /proc; otherwise the call
// continues.
func (a *Agent) guard(ln *listener, req *notif, target string, flags uint64, what string) notifResp {
	initPid, files, ok := a.known(ln)
	if !ok {
		return continued(req)
	}
	cns, err := a.openCallerNS(ln, req, target, flags&unix.UMOUNT_NOFOLLOW != 0)
	var perr pathError
	if errors.As(err, &perr) {
		return failed(req, perr.errno)
	}
	if err != nil {
		return continued(req)
	}
	t, err := statTarget(cns, target, flags)
	switch {
	case errors.As(err, &perr):
		// The kernel's own lookup fails the same way; answering it
		// leaves no path the agent could not check to the kernel.
		return failed(req, perr.errno)
	case err != nil:
		return continued(req)
	}
	if a.protectedCached(ln, files, initPid).refuses(t) {
		ln.log.WithFields(logrus.Fields{"tid": req.Pid, "target": target}).Debug("seccomp agent: " + what + " of a virtual mount refused")
		return failed(req, unix.EPERM)
	}
	return continued(req)
}

// answerFsopen refuses fsopen of proc and sysfs with ENOSYS.
//
// fsopen(fsname, flags).
func (a *Agent) answerFsopen(ln *listener, req *notif) notifResp {
	if a.cfg.Files == nil {
		return continued(req)
	}
	mem, err := a.openCallerMem(ln, req)
	if err != nil {
		return continued(req)
	}
	name, err := mem.readString(req.Data.Args[0], maxFSType)
	ok := err == nil && mem.ok()
	mem.close()
	if !ok || fsopenVerdict(name) != refuseENOSYS {
		return continued(req)
	}
	if _, _, known := a.known(ln); !known {
		return continued(req)
	}
	return failed(req, unix.ENOSYS)
}
