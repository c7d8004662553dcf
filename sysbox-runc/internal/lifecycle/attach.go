package lifecycle

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/sysbox-runc/internal/syscont"
)

// The main goroutine stays on the main thread for good, so that the Go
// runtime never runs attachInMountNs's goroutine (which moves its thread
// into a container's mount namespace and then lets the thread die) on the
// main thread, which cannot die. For "sysbox-runc init" this runs before
// main's init calls libcontainer.Init, which locks the thread itself.
func init() { runtime.LockOSThread() }

// attachments are the virtual files the runtime attaches itself after
// libcontainer created the container: those libcontainer refuses as spec
// mounts (syscont.DeferredVirtualFiles: /proc/sys).
type attachments struct {
	deferred []syscont.VirtualFile
}

// attachDeferred mounts each deferred virtual file at its destination in
// the mount namespace of the container's init, which libcontainer has set
// up (root pivoted, spec mounts and sysctls applied) and which waits for
// Exec. Processes exec'd later enter the same namespace and see them.
func (a *attachments) attachDeferred(initPid int) error {
	if len(a.deferred) > 0 && initPid <= 0 {
		return errors.New("attach virtual files: container init pid unknown")
	}
	for _, vf := range a.deferred {
		if err := attachInMountNs(initPid, vf.Source, vf.Dest); err != nil {
			return fmt.Errorf("attach virtual file %s: %w", vf.Dest, err)
		}
	}
	return nil
}

// attachInMountNs clones the host's mount at src (open_tree, taken in the
// runtime's mount namespace) and moves the clone to dest inside the mount
// namespace of process pid. The move runs on a thread of its own that
// leaves the runtime's filesystem context (unshare CLONE_FS, which setns
// into a mount namespace requires of a thread) and joins only the mount
// namespace: never the user namespace. The thread is never unlocked, so it
// ends with its goroutine instead of serving other goroutines from inside
// the container.
func attachInMountNs(pid int, src, dest string) error {
	tree, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("open_tree %s: %w", src, err)
	}
	defer unix.Close(tree)
	nsPath := fmt.Sprintf("/proc/%d/ns/mnt", pid)
	ns, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", nsPath, err)
	}
	defer unix.Close(ns)

	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		done <- func() error {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare CLONE_FS: %w", err)
			}
			if err := unix.Setns(ns, unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("setns %s: %w", nsPath, err)
			}
			if err := unix.MoveMount(tree, "", unix.AT_FDCWD, dest, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
				return fmt.Errorf("move_mount to %s: %w", dest, err)
			}
			return nil
		}()
	}()
	return <-done
}
