package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/internal/mountstage"
)

// DefaultStageDir is where the agent puts mounts together on kernels that
// need a stage (see assembleOnStage).
const DefaultStageDir = "/run/sysbox/fs-stage"

// detachedTargetsProbe tells once whether the kernel attaches a mount onto
// a detached mount (move_mount with a detached target). Kernels before
// 6.x refuse it (Debian 12's 6.1: EINVAL); there the emulated procfs and
// sysfs mounts are put together on a private stage (assembleOnStage).
type detachedTargetsProbe struct {
	once sync.Once
	ok   bool
}

func (p *detachedTargetsProbe) supported() bool {
	p.once.Do(func() { p.ok = probeDetachedTargets() == nil })
	return p.ok
}

// probeDetachedTargets attaches a detached tmpfs onto a directory of
// another detached tmpfs.
func probeDetachedTargets() error {
	tmpfs := func() (int, error) {
		return makeFS(newMount{FSType: "tmpfs", Source: "tmpfs", Options: []fsOption{{Key: "size", Value: "4k"}}}, -1, -1)
	}
	base, err := tmpfs()
	if err != nil {
		return err
	}
	defer unix.Close(base)
	if err := unix.Mkdirat(base, "d", 0o700); err != nil {
		return fmt.Errorf("mkdir in a detached tmpfs: %w", err)
	}
	top, err := tmpfs()
	if err != nil {
		return err
	}
	defer unix.Close(top)
	return unix.MoveMount(top, "", base, "d", unix.MOVE_MOUNT_F_EMPTY_PATH)
}

// assembleOnStage is buildFS for kernels that cannot attach onto a
// detached mount: the new procfs (sysfs) is attached on a private stage in
// the host's mount namespace, the virtual files are attached on it there,
// and the whole tree is cloned (open_tree OPEN_TREE_CLONE|AT_RECURSIVE)
// into a detached copy, which the caller moves to the target as usual.
// Only host root ever sees the raw filesystem, at the stage, until the
// stage is removed before this returns. premade is a procfs made
// beforehand (-1: make one here); it stays the caller's to close. The
// caller closes the returned fd.
func assembleOnStage(stageDir string, c *callerNS, pm newMount, files []mountFile, trees []int, premade int) (int, error) {
	mnt := premade
	if mnt < 0 {
		var err error
		if mnt, err = makeFSFor(c, pm); err != nil {
			return -1, err
		}
		defer unix.Close(mnt)
	}
	stage, err := mountstage.New(stageDir, pm.FSType)
	if err != nil {
		return -1, err
	}
	defer stage.Remove()
	root, err := stage.Attach(mnt, "fs")
	if err != nil {
		return -1, err
	}
	private := unix.MountAttr{Propagation: unix.MS_PRIVATE} // see mountstage.Stage.Attach
	for i, f := range files {
		if err := unix.MountSetattr(trees[i], "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &private); err != nil {
			return -1, fmt.Errorf("make %s private: %w", f.Rel, err)
		}
		err := unix.MoveMount(trees[i], "", unix.AT_FDCWD, root+"/"+f.Rel, unix.MOVE_MOUNT_F_EMPTY_PATH)
		if errors.Is(err, unix.ENOENT) {
			continue // not in this mount (procfs subset=pid)
		}
		if err != nil {
			return -1, fmt.Errorf("move_mount %s onto the new %s: %w", f.Rel, pm.FSType, err)
		}
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, root, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return -1, fmt.Errorf("open_tree the new %s: %w", pm.FSType, err)
	}
	return tree, nil
}

// makeFSFor makes pm's filesystem for the caller c: a procfs of its pid
// namespace, a sysfs of its net namespace (made from a throwaway thread
// that joined it).
func makeFSFor(c *callerNS, pm newMount) (int, error) {
	if pm.FSType != "sysfs" {
		return makeFS(pm, c.pid, -1)
	}
	type result struct {
		fd  int
		err error
	}
	// The caller's /sys, looked up below its root from here (the host's
	// mount namespace): a read-write sysfs may need its superblock.
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	sys, err := unix.Openat2(c.root, "sys", &how)
	if err != nil {
		sys = -1 // no /sys: no retry
	} else {
		defer unix.Close(sys)
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends in the caller's net namespace
		if err := unix.Setns(c.net, unix.CLONE_NEWNET); err != nil {
			done <- result{-1, fmt.Errorf("setns net: %w", err)}
			return
		}
		fd, err := makeFS(pm, -1, sys)
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}
