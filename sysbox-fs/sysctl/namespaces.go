package sysctl

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

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
	kindNet: {"net", unix.CLONE_NEWNET},
	kindUTS: {"uts", unix.CLONE_NEWUTS},
	kindIPC: {"ipc", unix.CLONE_NEWIPC},
}

// A kind is one of the joined namespaces, an index of joined.
type kind int

const (
	kindNet kind = iota
	kindUTS
	kindIPC
	kindNone kind = -1 // a file no namespace of the caller changes
)

var allKinds = []kind{kindNet, kindUTS, kindIPC}

// Namespaces runs functions on a dedicated OS thread that has joined a
// process's network, UTS and IPC namespaces (or some of them). The thread
// is never given back to the Go runtime: it ends with Close.
type Namespaces struct {
	pid int
	// ino is the inode of each namespace the thread joined (0: not
	// joined, the daemon's own).
	ino [3]uint64
	// ipcRoot is the host uid of the root of the user namespace that owns
	// the joined IPC namespace, which the kernel wants as the writer of
	// its sysctls (see AsIPCRoot); -1 when unknown.
	ipcRoot int
	reqs    chan func()
	quit    chan struct{}
	once    sync.Once
}

// JoinNamespaces starts a thread in the net, UTS and IPC namespaces of
// process pid, found under procDir ("/proc").
func JoinNamespaces(procDir string, pid int) (*Namespaces, error) {
	return join(procDir, pid, allKinds, []int{pid})
}

// join starts a thread in the namespaces kinds of process pid. The owner
// of its IPC namespace, if joined, is looked up among rootPids (processes
// that may be in that owner: the caller, the container's init).
func join(procDir string, pid int, kinds []kind, rootPids []int) (*Namespaces, error) {
	fds := make([]int, 0, len(kinds))
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	defer closeAll()
	n := &Namespaces{pid: pid, ipcRoot: -1, reqs: make(chan func()), quit: make(chan struct{})}
	for _, k := range kinds {
		p := fmt.Sprintf("%s/%d/ns/%s", procDir, pid, joined[k].name)
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		fds = append(fds, fd)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return nil, fmt.Errorf("stat %s: %w", p, err)
		}
		n.ino[k] = st.Ino
		if k == kindIPC {
			n.ipcRoot = ownerRoot(procDir, fd, rootPids)
		}
	}
	ready := make(chan error, 1)
	go n.loop(kinds, fds, ready)
	if err := <-ready; err != nil {
		return nil, fmt.Errorf("join namespaces of pid %d: %w", pid, err)
	}
	return n, nil
}

// ownerRoot returns the host uid of uid 0 of the user namespace that owns
// the namespace nsfd, as the uid_map of one of pids shows it when that
// process is in the owner; -1 when none is, or it maps no uid 0.
func ownerRoot(procDir string, nsfd int, pids []int) int {
	ufd, err := unix.IoctlRetInt(nsfd, unix.NS_GET_USERNS)
	if err != nil {
		return -1
	}
	var owner unix.Stat_t
	err = unix.Fstat(ufd, &owner)
	unix.Close(ufd)
	if err != nil {
		return -1
	}
	for _, pid := range pids {
		var st unix.Stat_t
		if err := unix.Stat(fmt.Sprintf("%s/%d/ns/user", procDir, pid), &st); err != nil || st.Ino != owner.Ino || st.Dev != owner.Dev {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("%s/%d/uid_map", procDir, pid))
		if err != nil {
			return -1
		}
		return rootOf(string(b))
	}
	return -1
}

// rootOf returns the outside id that a uid_map or gid_map text maps
// inside id 0 to, -1 when it maps none.
func rootOf(idMap string) int {
	for _, line := range strings.Split(idMap, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.ParseUint(f[0], 10, 32)
		out, err2 := strconv.ParseUint(f[1], 10, 32)
		n, err3 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || err3 != nil || n == 0 || in != 0 {
			continue
		}
		return int(out)
	}
	return -1
}

// Pid is the process whose namespaces the thread joined.
func (n *Namespaces) Pid() int { return n.pid }

func (n *Namespaces) loop(kinds []kind, fds []int, ready chan<- error) {
	// Never unlocked: when this goroutine returns, the runtime ends the
	// thread instead of reusing it elsewhere in the container's namespaces.
	runtime.LockOSThread()
	var err error
	for i, k := range kinds {
		if e := unix.Setns(fds[i], joined[k].nstyp); e != nil {
			err = fmt.Errorf("setns %s: %w", joined[k].name, e)
			break
		}
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

// AsIPCRoot runs f, which must run on the thread (inside Do), with the
// thread's effective uid set to the root of the IPC namespace's owner.
// The kernel lets only that uid write the IPC namespace's sysctls
// (ipc_permissions, mq_permissions compare the writer's euid with it; host
// root gets the others' bits, read-only). Only this thread's credentials
// change (a raw setresuid, not Go's process-wide one); its real and saved
// uid stay 0, so it gets host root back afterwards.
func (n *Namespaces) AsIPCRoot(f func() error) error {
	if n.ipcRoot <= 0 {
		// unknown owner, or the host's own IPC namespace: never written
		return fmt.Errorf("IPC namespace owned by no known container root: %w", syscall.EACCES)
	}
	keep := ^uintptr(0)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, keep, uintptr(n.ipcRoot), keep); e != 0 {
		return fmt.Errorf("seteuid %d: %w", n.ipcRoot, e)
	}
	err := f()
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, keep, 0, keep); e != 0 {
		// A thread that cannot become root again must not serve anyone.
		n.Close()
		return errors.Join(err, fmt.Errorf("seteuid 0: %w", e))
	}
	return err
}

// Close ends the thread once the function running on it, if any, returns.
func (n *Namespaces) Close() {
	n.once.Do(func() { close(n.quit) })
}
