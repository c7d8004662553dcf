package seccomp

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/internal/mountns"
)

// The kernel half of the mount traps: procfs and sysfs mounts performed in the
// caller's mount namespace with the virtual files on top, and the umount2
// check. The agent never joins the caller's user namespace (fsopen would
// fail there); it joins only the mount namespace, on a thread of its own
// (mountns.RunIn) whose root and cwd it then sets to the caller's.

func init() {
	// The Go runtime must never run mountns's namespace threads on the
	// main thread (a locked goroutine ending there would leave the
	// process's main thread in a container's mount namespace).
	runtime.LockOSThread()
}

const (
	// nsTimeout bounds the work done in a caller's mount namespace (path
	// lookups there may reach the container's own filesystems); the caller
	// then gets ETIMEDOUT and whatever was half done is undone.
	nsTimeout = 5 * time.Second
	// maxPath bounds the paths read from the caller (PATH_MAX).
	maxPath = 4096
	// maxFSType bounds a filesystem type name.
	maxFSType = 256
	// nsGetUserns is NS_GET_USERNS, _IO(0xb7, 0x1).
	nsGetUserns = 0xb701
	// capSysAdmin is CAP_SYS_ADMIN's bit.
	capSysAdmin = 21
)

// callerNS is the caller's namespaces, root and cwd, opened from the host
// and checked to be the caller's (the notification was still valid after
// the opens).
type callerNS struct {
	mnt, pid, net, user, root, cwd int
	// target, when not -1, is the mount target opened by openMagic.
	target int
}

func (c *callerNS) close() {
	for _, fd := range []int{c.mnt, c.pid, c.net, c.user, c.root, c.cwd, c.target} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// openCallerNS opens what the mount traps need of the caller tid.
//
// target is the call's path: when it goes through the caller's /proc/self
// links it is opened here (callerNS.target; nofollow: its last component
// is not followed), and a failed lookup is a pathError.
func (a *Agent) openCallerNS(ln *listener, req *notif, target string, nofollow bool) (*callerNS, error) {
	base := a.cfg.ProcRoot + "/" + strconv.FormatUint(uint64(req.Pid), 10)
	c := &callerNS{mnt: -1, pid: -1, net: -1, user: -1, root: -1, cwd: -1, target: -1}
	for _, o := range []struct {
		fd    *int
		path  string
		flags int
	}{
		{&c.mnt, "ns/mnt", unix.O_RDONLY},
		{&c.pid, "ns/pid", unix.O_RDONLY},
		{&c.net, "ns/net", unix.O_RDONLY},
		{&c.user, "ns/user", unix.O_RDONLY},
		{&c.root, "root", unix.O_PATH | unix.O_DIRECTORY},
		{&c.cwd, "cwd", unix.O_PATH | unix.O_DIRECTORY},
	} {
		fd, err := unix.Open(base+"/"+o.path, o.flags|unix.O_CLOEXEC, 0)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("open %s/%s: %w", base, o.path, err)
		}
		*o.fd = fd
	}
	fd, _, err := a.openMagic(req.Pid, target, nofollow)
	if err != nil {
		c.close()
		return nil, err
	}
	c.target = fd
	if !notifValid(ln.f, req.ID) {
		c.close()
		return nil, errCallerGone
	}
	return c, nil
}

// sameNS tells whether two namespace fds are the same namespace.
func sameNS(a, b int) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Fstat(a, &sa); err != nil {
		return false, err
	}
	if err := unix.Fstat(b, &sb); err != nil {
		return false, err
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}

// ownedByCaller tells whether namespace fd ns is owned by the caller's user
// namespace.
func (c *callerNS) ownedByCaller(ns int) (bool, error) {
	owner, err := unix.IoctlRetInt(ns, nsGetUserns)
	if err != nil {
		return false, fmt.Errorf("NS_GET_USERNS: %w", err)
	}
	defer unix.Close(owner)
	return sameNS(owner, c.user)
}

// mayMount tells whether the caller could mount a procfs (sysfs) itself:
// it has CAP_SYS_ADMIN in its user namespace, which owns both its mount
// and its pid (net) namespace. Otherwise the kernel decides (the call
// continues): the agent never lends the caller privileges it lacks.
func (a *Agent) mayMount(req *notif, c *callerNS, fstype string) (bool, error) {
	capEff, err := a.capEff(req.Pid)
	if err != nil {
		return false, err
	}
	if capEff&(1<<capSysAdmin) == 0 {
		return false, nil
	}
	fsNS := c.pid
	if fstype == "sysfs" {
		fsNS = c.net
	}
	for _, ns := range []int{c.mnt, fsNS} {
		ok, err := c.ownedByCaller(ns)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// capEff reads the effective capabilities of thread tid.
func (a *Agent) capEff(tid uint32) (uint64, error) {
	path := a.cfg.ProcRoot + "/" + strconv.FormatUint(uint64(tid), 10) + "/status"
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("%s: no CapEff", path)
}

// inCaller runs fn in the caller's mount namespace with the caller's root
// and cwd, so that paths resolve as they do for the caller (symlinks and
// ".." stop at its root). It waits at most nsTimeout; abandoned is set
// when it stopped waiting, for fn to undo late work. inCaller closes c,
// then calls cleanup (when not nil), once the work is over.
func inCaller(c *callerNS, fn func(abandoned *atomic.Bool) error, cleanup func()) error {
	var abandoned atomic.Bool
	done := make(chan error, 1)
	go func() {
		defer func() {
			c.close()
			if cleanup != nil {
				cleanup()
			}
		}()
		done <- mountns.RunIn(c.mnt, func() error {
			if err := unix.Fchdir(c.root); err != nil {
				return fmt.Errorf("fchdir caller root: %w", err)
			}
			if err := unix.Chroot("."); err != nil {
				return fmt.Errorf("chroot caller root: %w", err)
			}
			if err := unix.Fchdir(c.cwd); err != nil {
				return fmt.Errorf("fchdir caller cwd: %w", err)
			}
			return fn(&abandoned)
		})
	}()
	t := time.NewTimer(nsTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		abandoned.Store(true)
		return fmt.Errorf("work in the caller's mount namespace: %w", unix.ETIMEDOUT)
	}
}

// cloneFiles clones the host-side FUSE files (open_tree) with the flags
// the runtime gives them: all nosuid, nodev; files noexec, and read-only
// under /proc; /proc/sys (a directory) executable; everything read-only
// when the new mount is. The caller closes the fds.
func cloneFiles(files []mountFile, fstype string, rdonly bool) ([]int, error) {
	fds := make([]int, 0, len(files))
	fail := func(err error) ([]int, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, err
	}
	for _, f := range files {
		var st unix.Stat_t
		if err := unix.Stat(f.Source, &st); err != nil {
			return fail(fmt.Errorf("stat %s: %w", f.Source, err))
		}
		attrs := uint64(unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV)
		dir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if !dir || fstype != "proc" {
			attrs |= unix.MOUNT_ATTR_NOEXEC
		}
		if rdonly || !dir && fstype == "proc" {
			attrs |= unix.MOUNT_ATTR_RDONLY
		}
		fd, err := mountns.Clone(f.Source)
		if err != nil {
			return fail(err)
		}
		fds = append(fds, fd)
		if err := mountns.SetFlags(fd, attrs); err != nil {
			return fail(fmt.Errorf("%s: %w", f.Source, err))
		}
	}
	return fds, nil
}

// buildFS makes a detached procfs for the caller's pid namespace (sysfs
// for its net namespace) with the virtual files (trees, at files' Rel
// paths) on top. Files the new mount does not show (procfs subset=pid, a
// module not loaded) are left out. A procfs made beforehand (premade, not
// -1: see procfsViaHelper) is used instead of a new one and stays the
// caller's to close. Call it on a namespace thread (sysfs joins the
// caller's net namespace). The caller closes the fd it returns unless it
// is premade.
func buildFS(c *callerNS, pm newMount, files []mountFile, trees []int, premade int) (int, error) {
	mnt := premade
	if mnt < 0 {
		pidns, sys := -1, -1
		switch pm.FSType {
		case "sysfs":
			// sysfs shows the net devices of the mounter's net namespace.
			if err := unix.Setns(c.net, unix.CLONE_NEWNET); err != nil {
				return -1, fmt.Errorf("setns net: %w", err)
			}
			// The caller's /sys (this thread is chrooted to its root).
			if fd, err := unix.Open("/sys", unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
				defer unix.Close(fd)
				sys = fd
			}
		case "proc":
			pidns = c.pid
		}
		var err error
		if mnt, err = makeFS(pm, pidns, sys); err != nil {
			return -1, err
		}
	}
	for i, f := range files {
		err := unix.MoveMount(trees[i], "", mnt, f.Rel, unix.MOVE_MOUNT_F_EMPTY_PATH)
		if errors.Is(err, unix.ENOENT) {
			continue // not in this mount (procfs subset=pid)
		}
		if err != nil {
			if premade < 0 {
				unix.Close(mnt)
			}
			return -1, fmt.Errorf("move_mount %s onto the new %s: %w", f.Rel, pm.FSType, err)
		}
	}
	return mnt, nil
}

// sysfsSuperblockWritable makes the superblock of the sysfs mounted at fd
// (an O_PATH fd of the caller's /sys) read-write, leaving the mount itself
// as it is (read-only for a container's /sys).
//
// Why: in a mount namespace of a user namespace, the kernel mounts a
// sysfs read-write only if a sysfs already mounted there is: it counts as
// read-only when its superblock is (mount_too_revealing), and the
// runtime's `ro` mount of the container's /sys made the superblock of the
// container's network namespace read-only. Every read-write sysfs, of any
// network namespace (an inner privileged container's), is refused then.
// Neither the container (a sysfs superblock belongs to the initial user
// namespace: EPERM on `mount -o remount,rw /sys`) nor a host-root thread
// in its mount namespace (the same check) can mount one; host root can
// reconfigure the superblock (fspick). The container's /sys keeps its own
// read-only flag; its files stay as writable as the kernel makes them for
// a user-namespaced root (its network namespace's devices, nothing owned
// by host root).
func sysfsSuperblockWritable(fd int) error {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return fmt.Errorf("statfs /sys: %w", err)
	}
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &stx); err != nil {
		return fmt.Errorf("statx /sys: %w", err)
	}
	if sfs.Type != unix.SYSFS_MAGIC || stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 || stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return errors.New("/sys is no sysfs mount")
	}
	if sfs.Flags&unix.ST_RDONLY == 0 {
		// neither the mount nor its superblock is read-only
		return errors.New("/sys is read-write already")
	}
	fc, err := unix.Fspick(fd, "", unix.FSPICK_CLOEXEC|unix.FSPICK_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("fspick /sys: %w", err)
	}
	defer unix.Close(fc)
	if err := unix.FsconfigSetFlag(fc, "rw"); err != nil {
		return fmt.Errorf("fsconfig rw: %w", err)
	}
	if err := unix.FsconfigReconfigure(fc); err != nil {
		return fmt.Errorf("reconfigure /sys superblock rw: %w", err)
	}
	return nil
}

// mountNew performs the caller's mount -t proc (sysfs) at target: a procfs
// of the caller's pid namespace (a sysfs of its net namespace) with the
// container's virtual files on top, all built detached and attached at
// once, so no one ever sees the raw filesystem at target. valid tells
// whether the caller still waits for the answer: a caller interrupted by a
// signal restarts the call, which must not find a mount already made by
// its first attempt.
func (a *Agent) mountNew(c *callerNS, target string, pm newMount, files []mountFile, valid func() bool) error {
	trees, err := cloneFiles(files, pm.FSType, pm.Attrs&unix.MOUNT_ATTR_RDONLY != 0)
	if err != nil {
		c.close()
		return err
	}
	// premade: a procfs from the helper; assembled: the whole tree put
	// together on a stage. Both are closed with the trees once the work
	// in the caller's namespace is over.
	premade, assembled := -1, -1
	closeTrees := func() {
		for _, fd := range append(trees, premade, assembled) {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}
	fail := func(err error) error {
		closeTrees()
		c.close()
		return err
	}
	if pm.FSType == "proc" && !a.procfsPidns.supported() {
		if premade, err = procfsViaHelper(c.pid, pm); err != nil {
			premade = -1
			return fail(err)
		}
	}
	if !a.detachedTargets.supported() {
		if assembled, err = assembleOnStage(a.cfg.StageDir, c, pm, files, trees, premade); err != nil {
			assembled = -1
			return fail(err)
		}
	}
	return inCaller(c, func(abandoned *atomic.Bool) error {
		mnt := assembled
		if mnt < 0 {
			var err error
			if mnt, err = buildFS(c, pm, files, trees, premade); err != nil {
				return err
			}
			if premade < 0 {
				defer unix.Close(mnt)
			}
		}
		if abandoned.Load() {
			return unix.ETIMEDOUT
		}
		// move_mount does not follow /proc/<pid>/fd/N links (EINVAL):
		// the target is opened first, as mount(2) follows it (or was,
		// from the host, for the caller's /proc/self links).
		dest := c.target
		if dest < 0 {
			if dest, err = unix.Open(target, unix.O_PATH|unix.O_CLOEXEC, 0); err != nil {
				return fmt.Errorf("open %s: %w", target, err)
			}
			defer unix.Close(dest)
		}
		if !valid() {
			return errCallerGone
		}
		if err := unix.MoveMount(mnt, "", dest, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
			return fmt.Errorf("move_mount %s to %s: %w", pm.FSType, target, err)
		}
		if abandoned.Load() || !valid() { // the caller was told ETIMEDOUT, or went
			// mnt is the attached mount's root: unmount it from there.
			if err := unix.Fchdir(mnt); err != nil {
				return fmt.Errorf("undo late mount at %s: %w", target, err)
			}
			if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
				return fmt.Errorf("undo late mount at %s: %w", target, err)
			}
		}
		return nil
	}, closeTrees)
}

// openMagic opens a target through the caller's /proc/self links
// (magicTarget) from the host's /proc/<tid>, the rest of the path looked
// up below the link (RESOLVE_IN_ROOT: it never leaves it). handled is
// false for other targets. A failed lookup is a pathError. Check the
// notification valid after it: the fd is then the caller's.
func (a *Agent) openMagic(tid uint32, target string, nofollow bool) (fd int, handled bool, err error) {
	link, rest, ok := magicTarget(target)
	if !ok {
		return -1, false, nil
	}
	path := a.cfg.ProcRoot + "/" + strconv.FormatUint(uint64(tid), 10) + "/" + link
	flags := unix.O_PATH | unix.O_CLOEXEC
	if rest == "" && nofollow && link != "fd" {
		flags |= unix.O_NOFOLLOW
	}
	base, err := unix.Open(path, flags, 0)
	if err != nil {
		return -1, true, fmt.Errorf("open %s: %w", path, pathErrorOf(err))
	}
	if rest == "" {
		return base, true, nil
	}
	defer unix.Close(base)
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	if nofollow {
		how.Flags |= unix.O_NOFOLLOW
	}
	fd, err = unix.Openat2(base, rest, &how)
	if err != nil {
		return -1, true, fmt.Errorf("open %s below %s: %w", rest, path, pathErrorOf(err))
	}
	return fd, true, nil
}

// pathErrorOf makes an errno a pathError.
func pathErrorOf(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return pathError{errno}
	}
	return err
}

// pathError is a failed lookup of the caller's path: the kernel would
// fail the call with the same errno.
type pathError struct{ errno unix.Errno }

func (e pathError) Error() string { return "caller's path: " + e.errno.Error() }
func (e pathError) Unwrap() error { return e.errno }

// statTarget finds the mount an umount2 of target would act on. A
// lookup failure is a pathError. An absolute path is first looked up from
// the host, below the caller's root (openat2 RESOLVE_IN_ROOT: ".." and
// symlinks stay inside it, as for the caller), which spares a namespace
// thread; paths that lookup refuses (relative ones, magic links such as
// /proc/<pid>/fd/N) are looked up from a thread in the caller's mount
// namespace with its root and cwd.
func statTarget(c *callerNS, target string, flags uint64) (umountTarget, error) {
	nofollow := flags&unix.UMOUNT_NOFOLLOW != 0
	if c.target >= 0 {
		t, err := statMount(c.target, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
		c.close()
		return t, err
	}
	if strings.HasPrefix(target, "/") {
		if t, ok := statInRoot(c.root, target, nofollow); ok {
			c.close()
			return t, nil
		}
	}
	res := new(umountTarget) // written by the namespace thread
	at := unix.AT_NO_AUTOMOUNT
	if nofollow {
		at |= unix.AT_SYMLINK_NOFOLLOW
	}
	err := inCaller(c, func(*atomic.Bool) error {
		t, err := statMount(unix.AT_FDCWD, target, at)
		*res = t
		return err
	}, nil)
	if err != nil {
		return umountTarget{}, err
	}
	return *res, nil // the thread is done: inCaller returned its result
}

// statInRoot looks target up below root from the host, within nsTimeout;
// ok is false when it could not (the caller then looks it up from a
// namespace thread, which tells the errors apart).
func statInRoot(root int, target string, nofollow bool) (umountTarget, bool) {
	type result struct {
		t  umountTarget
		ok bool
	}
	done := make(chan result, 1)
	go func() {
		how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
		if nofollow {
			how.Flags |= unix.O_NOFOLLOW
		}
		fd, err := unix.Openat2(root, target, &how)
		if err != nil {
			done <- result{}
			return
		}
		defer unix.Close(fd)
		t, err := statMount(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
		done <- result{t, err == nil}
	}()
	timer := time.NewTimer(nsTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.t, r.ok
	case <-timer.C:
		return umountTarget{}, false
	}
}

// statMount reads the mount facts of path (statx with at flags).
func statMount(dirfd int, path string, at int) (umountTarget, error) {
	var stx unix.Statx_t
	if err := unix.Statx(dirfd, path, at, unix.STATX_MNT_ID, &stx); err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) {
			return umountTarget{}, fmt.Errorf("statx %s: %w", path, pathError{errno})
		}
		return umountTarget{}, fmt.Errorf("statx %s: %w", path, err)
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 || stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return umountTarget{}, fmt.Errorf("statx %s: no mount id", path)
	}
	return umountTarget{
		MountRoot: stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0,
		MntID:     stx.Mnt_id,
		Dev:       unix.Mkdev(stx.Dev_major, stx.Dev_minor),
	}, nil
}

// protectedCached is protectedFor, computed once per listener (the FUSE
// files are stat'ed through FUSE: a round trip each) when it is complete.
func (a *Agent) protectedCached(ln *listener, files []VirtualFile, initPid int) protectedMounts {
	ln.mu.Lock()
	p := ln.protected
	same := ln.protectedInit == initPid
	ln.mu.Unlock()
	if p != nil && same {
		return *p
	}
	got := a.protectedFor(files, initPid)
	if len(got.FuseDevs) > 0 && len(got.RootProcs) > 0 {
		ln.mu.Lock()
		ln.protected, ln.protectedInit = &got, initPid
		ln.mu.Unlock()
	}
	return got
}

// protectedFor lists the mounts of container files the container may not
// unmount: the devices of its FUSE files (stat of the host side) and the
// mount id of /proc at the root of its init (initPid 0: none).
func (a *Agent) protectedFor(files []VirtualFile, initPid int) protectedMounts {
	var p protectedMounts
	seen := map[uint64]bool{}
	for _, f := range files {
		var st unix.Stat_t
		if err := unix.Stat(f.Source, &st); err != nil || seen[st.Dev] {
			continue
		}
		seen[st.Dev] = true
		p.FuseDevs = append(p.FuseDevs, st.Dev)
	}
	if initPid > 0 {
		var stx unix.Statx_t
		path := a.cfg.ProcRoot + "/" + strconv.Itoa(initPid) + "/root/proc"
		if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT, unix.STATX_MNT_ID, &stx); err == nil &&
			stx.Mask&unix.STATX_MNT_ID != 0 {
			p.RootProcs = append(p.RootProcs, stx.Mnt_id)
		}
	}
	return p
}
