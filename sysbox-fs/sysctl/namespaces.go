package sysctl

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// The main goroutine stays on the main thread for good, so that the Go
// runtime never runs a goroutine that joins a container's namespaces on the
// main thread (a locked goroutine that exits takes its thread with it,
// except the main thread, which would stay in the container's namespaces).
func init() { runtime.LockOSThread() }

// ErrClosed is returned by Do after Close.
var ErrClosed = errors.New("namespace thread closed")

// joined lists the namespaces a Namespaces thread enters: those whose
// sysctls procfs binds to the opener (net) or to the reader (uts, ipc).
// Never the user namespace (setns refuses it to a multi-threaded process,
// and the daemon must keep host root's credentials) nor the mount
// namespace (the thread opens files through the daemon's own procfs).
var joined = []struct {
	name  string
	nstyp int
}{
	{"net", unix.CLONE_NEWNET},
	{"uts", unix.CLONE_NEWUTS},
	{"ipc", unix.CLONE_NEWIPC},
}

// Namespaces runs functions on a dedicated OS thread that has joined a
// process's network, UTS and IPC namespaces. The thread is never given
// back to the Go runtime: it ends with Close.
type Namespaces struct {
	pid  int
	reqs chan func()
	quit chan struct{}
	once sync.Once
}

// JoinNamespaces starts a thread in the namespaces of process pid, found
// under procDir ("/proc").
func JoinNamespaces(procDir string, pid int) (*Namespaces, error) {
	fds := make([]int, 0, len(joined))
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	for _, j := range joined {
		p := fmt.Sprintf("%s/%d/ns/%s", procDir, pid, j.name)
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		fds = append(fds, fd)
	}
	n := &Namespaces{pid: pid, reqs: make(chan func()), quit: make(chan struct{})}
	ready := make(chan error, 1)
	go n.loop(fds, ready)
	if err := <-ready; err != nil {
		return nil, fmt.Errorf("join namespaces of pid %d: %w", pid, err)
	}
	return n, nil
}

// Pid is the process whose namespaces the thread joined.
func (n *Namespaces) Pid() int { return n.pid }

func (n *Namespaces) loop(fds []int, ready chan<- error) {
	// Never unlocked: when this goroutine returns, the runtime ends the
	// thread instead of reusing it elsewhere in the container's namespaces.
	runtime.LockOSThread()
	var err error
	for i, j := range joined {
		if err == nil {
			if e := unix.Setns(fds[i], j.nstyp); e != nil {
				err = fmt.Errorf("setns %s: %w", j.name, e)
			}
		}
		unix.Close(fds[i])
	}
	ready <- err
	if err != nil {
		return
	}
	for {
		select {
		case f := <-n.reqs:
			f()
		case <-n.quit:
			return
		}
	}
}

// Do runs f on the thread and waits for it.
func (n *Namespaces) Do(f func()) error {
	done := make(chan struct{})
	select {
	case n.reqs <- func() { f(); close(done) }:
	case <-n.quit:
		return ErrClosed
	}
	<-done
	return nil
}

// Close ends the thread once the function running on it, if any, returns.
func (n *Namespaces) Close() {
	n.once.Do(func() { close(n.quit) })
}
