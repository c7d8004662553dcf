package lifecycle

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/internal/mountns"
	"github.com/sysboxd/sysboxd/sysbox-runc/internal/syscont"
)

// The main goroutine stays on the main thread for good, so that the Go
// runtime never runs mountns.Run's goroutine (which moves its thread
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
// namespace of process pid (mountns.Run: a thread of its own that joins
// only the mount namespace, never the user namespace).
func attachInMountNs(pid int, src, dest string) error {
	tree, err := mountns.Clone(src)
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	return mountns.Run(pid, func() error { return mountns.Attach(tree, dest) })
}
