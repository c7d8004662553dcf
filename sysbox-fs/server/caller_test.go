package server

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// containerRoot is the host uid and gid of the test containers' root
// (PreRegister's Uid and Gid): only ids in a container's range get its
// tree's content.
const containerRoot = 165536

// asContainerRoot runs f on a fresh OS thread whose filesystem ids are
// containerRoot, so that the FUSE requests f causes carry them, as a
// container process's do. The thread is never unlocked: it ends with the
// goroutine instead of going back to the runtime with foreign ids.
func asContainerRoot(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		unix.SetfsgidRetGid(containerRoot)
		unix.SetfsuidRetUid(containerRoot)
		// Setting -1 (ignored) answers the current ids.
		if u, _ := unix.SetfsuidRetUid(-1); u != containerRoot {
			errc <- fmt.Errorf("setfsuid(%d): thread has %d", containerRoot, u)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// openAsContainerRoot opens p for reading as the container's root. The
// path is walked as host root (O_PATH: the test's temp dirs are 0700, and
// /proc/<pid>/root needs host root's view), then reopened through
// /proc/self/fd with the container's ids.
func openAsContainerRoot(p string) (*os.File, error) {
	walked, err := os.OpenFile(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer walked.Close()
	var f *os.File
	err = asContainerRoot(func() error {
		var err error
		f, err = os.Open(fmt.Sprintf("/proc/self/fd/%d", walked.Fd()))
		return err
	})
	return f, err
}

// readAsContainerRoot reads p as the container's root (openAsContainerRoot).
func readAsContainerRoot(p string) ([]byte, error) {
	f, err := openAsContainerRoot(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b []byte
	err = asContainerRoot(func() error {
		var err error
		b, err = io.ReadAll(f)
		return err
	})
	return b, err
}
