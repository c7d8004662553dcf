// Package mountns changes mounts inside another process's mount namespace
// from a multi-threaded Go daemon or runtime: trees are cloned in the
// caller's namespace (open_tree) and moved into the target namespace by a
// thread of their own.
//
// setns(2) into a mount namespace requires a thread that does not share its
// filesystem context (root, cwd) with other threads, which every Go thread
// does. Run gives fn such a thread: it is locked, leaves the shared
// context (unshare CLONE_FS), joins only the target's mount namespace
// (never its user namespace: the caller keeps its host credentials) and is
// never unlocked, so it ends with its goroutine instead of going back to
// the runtime's pool from inside a container.
package mountns

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// The main goroutine stays on the main thread for good, so that the Go
// runtime never runs Run's goroutine there: a locked goroutine that exits
// takes its thread with it, except the main thread, which would stay in the
// target's mount namespace (and /proc/<our pid>/mountinfo, /proc/self, would
// show that namespace). The daemons' and the runtime's packages that join
// namespaces do the same; here it also covers this package's own tests,
// which failed intermittently without it.
func init() { runtime.LockOSThread() }

// moveMountBeneath is MOVE_MOUNT_BENEATH (Linux 6.5): the moved tree goes
// under the mount on top of the target instead of over it.
const moveMountBeneath = 0x200

// Run calls fn on a fresh thread in the mount namespace of process pid. In
// fn, paths resolve against that namespace's root (the container's root
// after its pivot_root).
func Run(pid int, fn func() error) error {
	nsPath := fmt.Sprintf("/proc/%d/ns/mnt", pid)
	ns, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", nsPath, err)
	}
	defer unix.Close(ns)
	return RunIn(ns, fn)
}

// RunIn is Run with the mount namespace given as an open fd (of
// /proc/<pid>/ns/mnt), for callers that must check whose namespace they
// opened before using it. RunIn does not close ns.
func RunIn(ns int, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		done <- func() error {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare CLONE_FS: %w", err)
			}
			if err := unix.Setns(ns, unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("setns mount namespace: %w", err)
			}
			return fn()
		}()
	}()
	return <-done
}

// Clone returns a detached copy of the mount at src in the caller's
// namespace (open_tree OPEN_TREE_CLONE), to be moved with Attach or
// Replace. The caller closes it.
func Clone(src string) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("open_tree %s: %w", src, err)
	}
	return fd, nil
}

// SetFlags sets the per-mount flags of a detached tree (MOUNT_ATTR_RDONLY,
// _NOSUID, _NODEV, _NOEXEC) to exactly attrs, before it is moved.
func SetFlags(tree int, attrs uint64) error {
	const all = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	a := &unix.MountAttr{Attr_set: attrs & all, Attr_clr: all &^ attrs}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, a); err != nil {
		return fmt.Errorf("mount_setattr: %w", err)
	}
	return nil
}

// Attach moves tree onto dest. Call it from Run.
func Attach(tree int, dest string) error {
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, dest, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount to %s: %w", dest, err)
	}
	return nil
}

// Replace swaps the mount on top of dest for tree. Where the kernel can
// (MOVE_MOUNT_BENEATH), tree first goes under the old mount, which is then
// unmounted, so no reader ever finds dest uncovered; otherwise the old
// mount is detached first and tree moved onto dest. Call it from Run.
func Replace(tree int, dest string) error {
	err := unix.MoveMount(tree, "", unix.AT_FDCWD, dest, unix.MOVE_MOUNT_F_EMPTY_PATH|moveMountBeneath)
	if err == nil {
		if err := unix.Unmount(dest, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount the replaced mount at %s: %w", dest, err)
		}
		return nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("move_mount beneath %s: %w", dest, err)
	}
	if err := unix.Unmount(dest, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount %s: %w", dest, err)
	}
	return Attach(tree, dest)
}
