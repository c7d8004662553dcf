// Package seccomp is sysbox-fs's seccomp agent: it answers the syscalls a
// system container's seccomp filter hands to user space
// (SCMP_ACT_NOTIFY), with the container's own data.
//
// libcontainer connects to the agent's socket (the profile's listenerPath)
// once for the container's init and once per exec'd process, and sends the
// process's notify fd (SCM_RIGHTS) with the container state as JSON
// (specs.ContainerProcessState). The agent serves each fd from its own
// goroutine, parked in Go's poller between notifications (no thread per
// fd), until the processes behind the fd are gone (the fd polls HUP), the
// container is unregistered from sysbox-fs, or the agent stops.
//
// Trapped calls:
//   - sysinfo(2): the container's uptime, memory, swap, loads and thread
//     count (handler.Sysinfo), written into the caller's struct; the call
//     returns 0.
//   - mount(2) of a new procfs (Config.Files set): the agent builds it in
//     the caller's mount namespace for the caller's pid namespace
//     (fsopen, fsconfig "pidns", fsmount; never in the caller's user
//     namespace), puts clones of the container's /proc virtual files
//     (open_tree of the host-side FUSE files) on it while it is still
//     detached, and attaches the whole at the target (mountemu.go); MS_RDONLY
//     and the other per-mount flags are honoured. Only for a caller with
//     CAP_SYS_ADMIN over its mount and pid namespaces; every other mount
//     continues. mount(2) of a new sysfs the same way, in the caller's net
//     namespace, with the /sys virtual files.
//   - umount2(2), mount(2) MS_MOVE and move_mount(2) of a mount of the
//     container's FUSE tree (a virtual file or /proc/sys, attached by the
//     runtime or the agent: same device) or of /proc at the root of the
//     container's init (same mount id): EPERM. The i386 and x32 forms of
//     the mount calls are answered as the native ones.
//   - fsopen(2) of "proc" or "sysfs": ENOSYS, so that tools fall back to
//     mount(2); the new mount API would build a procfs without the files.
//   - anything else: FLAG_CONTINUE (the kernel runs the call as is), so a
//     profile may trap more calls than this agent emulates.
//
// When the answer cannot be built (unknown container, unreadable data) the
// call also continues to the kernel: the caller sees the host's figures
// rather than an error.
//
// The agent receives each fd with MSG_CMSG_CLOEXEC (never inherited). Once
// every copy of a notify fd is closed, the kernel fails every trapped call
// of those processes with ENOSYS, for good. So that the fds outlive a
// restart of sysbox-fs (upgrade, crash), the agent hands a copy of each fd
// to a Keeper (sysbox-mgr, a daemon not restarted with sysbox-fs):
//
//   - when it takes an fd from the runtime, it asks the keeper to keep a
//     copy (KeepFd, under the container id and a tag unique to the fd);
//   - when it forgets an fd (its processes are gone, the container was
//     unregistered) it asks the keeper to drop the copy (DropFd); at
//     shutdown it closes its own fds but leaves the keeper's copies, so
//     trapped calls wait for the next agent instead of failing;
//   - at start, before taking new fds, it takes the copies back
//     (KeptFds, then pidfd_getfd(2) on the keeper's pid) and serves those
//     of containers sysbox-fs knows; the others are dropped;
//   - at every sweep it compares its fds with the keeper's (one KeptFds
//     call): copies the keeper lost (it restarted, or was down when the
//     fd came) are kept again, copies it holds for fds the agent no longer
//     serves are dropped.
//
// The keeper is never called while answering a notification. A keeper
// that is down, or too old to keep fds, is logged once and otherwise
// ignored: the agent then serves as before, without copies. Only copies
// whose tag starts with Config.Owner are the agent's: another sysbox-fs
// instance on the same keeper (a test daemon) leaves them alone.
//
// A notification the agent had received but not yet answered when it was
// killed stays pending in the kernel, and the new agent cannot answer it:
// that call waits until a signal interrupts it (it is then restarted and
// answered, or fails with EINTR). A graceful stop finishes the answers in
// progress first.
package seccomp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"

	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
)

// DefaultSocket is where the agent listens; sysbox-runc's seccomp profiles
// name the same path as their listenerPath.
const DefaultSocket = ipc.SeccompSocket

const (
	// defaultSweep is how often fds of unregistered containers are closed.
	defaultSweep = 10 * time.Second
	// handshakeTimeout bounds the read of one runtime's message.
	handshakeTimeout = 5 * time.Second
	// maxStateSize bounds the state JSON (Docker's annotations included).
	maxStateSize = 1 << 20
)

// Lookup returns the current view of a container registered with
// sysbox-fs, and whether the id is known.
type Lookup func(id string) (handler.Container, bool)

// VirtualFile is one of a container's virtual files as the runtime mounts
// it (sysbox-fs's PreRegister answer): Destination in the container,
// Source the host-side file of its FUSE tree.
type VirtualFile struct {
	Destination, Source string
}

// Files returns the virtual files of a container registered with
// sysbox-fs, and whether the id is known.
type Files func(id string) ([]VirtualFile, bool)

// SysinfoSource builds a container's struct sysinfo (handler.Sysinfo).
type SysinfoSource interface {
	Info(c handler.Container) (unix.Sysinfo_t, error)
}

// Config is what the agent answers from.
type Config struct {
	Lookup  Lookup
	Sysinfo SysinfoSource
	// Files, when set, enables the mount traps (mount of proc, umount2
	// of the virtual files, fsopen of proc and sysfs); without it those
	// calls continue to the kernel.
	Files Files
	// ProcRoot is the host's procfs, where /proc/<pid>/mem is opened;
	// "/proc" when empty.
	ProcRoot string
	// Sweep is how often fds of containers that were registered and no
	// longer are get closed; 10 s when 0.
	Sweep time.Duration
	// Keeper, when set, keeps copies of the fds across restarts of the
	// agent; Owner (required with a Keeper) starts the tag of every copy
	// this agent (and the next instance with the same Owner) keeps.
	Keeper Keeper
	Owner  string
	// KeeperRetry is how often, while the keeper is down, the agent tries
	// again to have it keep the fds (instead of waiting for the next
	// Sweep); 1 s when 0.
	KeeperRetry time.Duration
	// StageDir is where mounts are put together on kernels that cannot
	// attach mounts onto a detached one (detached.go);
	// DefaultStageDir when empty.
	StageDir string
	Log      logrus.FieldLogger
}

// Agent serves notify fds. Create it with New.
type Agent struct {
	cfg  Config
	arch uint32
	// start and seq make the tags unique across agent instances.
	start time.Time
	seq   atomic.Uint64
	// keepMu serializes the calls to the keeper and guards keeperDown,
	// keeperWarned and the listeners' keep state.
	keepMu sync.Mutex
	// keeperDown: the last keeper call failed; new fds are kept once a
	// retry (every KeeperRetry) finds it back. keeperWarned: that was
	// logged at warning level.
	keeperDown, keeperWarned bool

	mu sync.Mutex
	// fds are the fds being served; closed is set at shutdown.
	fds    map[*listener]struct{}
	closed bool
	// done is Serve's ctx.Done(): once it is closed the agent stops, and
	// fds it forgets (sysbox-fs forgets its containers as it stops) are
	// not dropped at the keeper.
	done <-chan struct{}
	wg   sync.WaitGroup

	// procfsPidns tells whether the kernel makes a procfs for a given pid
	// namespace (procfs.go); detachedTargets whether it attaches mounts
	// onto a detached mount (detached.go).
	procfsPidns     procfsPidnsOption
	detachedTargets detachedTargetsProbe
}

// listener is one process's notify fd (shared by the processes it forks).
type listener struct {
	id  string // container id
	f   *os.File
	log logrus.FieldLogger

	mu sync.Mutex
	// registered is set once the container was found; a later miss
	// means it was unregistered.
	registered bool
	// protected caches the container's protected mounts (umount2 checks)
	// once complete, for protectedInit's init; they do not change while
	// this agent serves the container.
	protected     *protectedMounts
	protectedInit int

	// tag names the keeper's copy; kept says the keeper holds it, gone
	// that the agent forgot the fd, refused that the keeper refused it.
	// Guarded by Agent.keepMu.
	tag                 string
	kept, gone, refused bool
}

// New checks cfg and returns an agent that serves nothing yet.
func New(cfg Config) (*Agent, error) {
	if cfg.Lookup == nil || cfg.Sysinfo == nil || cfg.Log == nil {
		return nil, errors.New("seccomp agent: config needs Lookup, Sysinfo and Log")
	}
	if cfg.Keeper != nil && cfg.Owner == "" {
		return nil, errors.New("seccomp agent: a Keeper needs an Owner")
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = defaultSweep
	}
	if cfg.KeeperRetry <= 0 {
		cfg.KeeperRetry = defaultKeeperRetry
	}
	if cfg.StageDir == "" {
		cfg.StageDir = DefaultStageDir
	}
	return &Agent{cfg: cfg, arch: nativeArch(), start: time.Now(), fds: map[*listener]struct{}{}}, nil
}

// Serve first takes back the fds the keeper holds, then takes notify fds
// from runtimes connecting to l until ctx is cancelled; then it closes l
// and every fd it serves, and returns. Without a keeper (or one that lost
// them) the processes' trapped calls fail with ENOSYS from then on; with
// one they wait for the next agent.
func (a *Agent) Serve(ctx context.Context, l *net.UnixListener) error {
	a.mu.Lock()
	a.done = ctx.Done()
	a.mu.Unlock()
	a.takeBack(ctx)
	var conns sync.WaitGroup
	accepted := make(chan error, 1)
	go func() {
		for {
			conn, err := l.AcceptUnix()
			if err != nil {
				accepted <- err
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				a.takeFD(conn)
			}()
		}
	}()
	sweep := time.NewTicker(a.cfg.Sweep)
	defer sweep.Stop()
	retry := time.NewTicker(a.cfg.KeeperRetry)
	defer retry.Stop()
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			l.Close()
			<-accepted // the accept loop has ended: no conns.Add after this
			break loop
		case <-sweep.C:
			if ctx.Err() != nil {
				continue // stopping: ctx.Done is ready too
			}
			a.sweep()
			a.reconcile(ctx)
		case <-retry.C:
			if ctx.Err() == nil && a.keeperIsDown() {
				a.reconcile(ctx) // the fds that came while it was down
			}
		case err = <-accepted:
			err = fmt.Errorf("seccomp agent: accept: %w", err)
			l.Close()
			break loop
		}
	}
	conns.Wait()
	a.closeAll()
	return err
}

// takeFD reads one runtime message: the state JSON and one fd.
func (a *Agent) takeFD(conn *net.UnixConn) {
	defer conn.Close()
	log := a.cfg.Log
	state, fd, err := readMessage(conn)
	if err != nil {
		log.WithError(err).Warn("seccomp agent: bad message from the runtime")
		return
	}
	id := state.State.ID
	log = log.WithFields(logrus.Fields{"id": id, "pid": state.Pid})
	f, err := pollable(fd)
	if err != nil {
		unix.Close(fd)
		log.WithError(err).Warn("seccomp agent: cannot serve the notify fd")
		return
	}
	ln := &listener{id: id, f: f, log: log, tag: a.newTag(state.Pid)}
	if _, ok := a.cfg.Lookup(id); ok {
		ln.registered = true
	} else {
		// Served anyway (continuing every call): closing the fd would make
		// the process's trapped calls fail with ENOSYS.
		log.Warn("seccomp agent: notify fd of a container sysbox-fs does not know")
	}
	if !a.add(ln) {
		return
	}
	log.WithField("status", state.State.Status).Debug("seccomp agent: serving notify fd")
	a.keep(ln)
}

// add serves ln from its own goroutine; false (ln closed) after shutdown.
func (a *Agent) add(ln *listener) bool {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		ln.f.Close()
		return false
	}
	a.fds[ln] = struct{}{}
	a.wg.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.wg.Done()
		a.serve(ln)
	}()
	return true
}

// readMessage reads the runtime's message until it closes the connection:
// JSON state, with one fd attached to the data.
func readMessage(conn *net.UnixConn) (*specs.ContainerProcessState, int, error) {
	if err := checkPeer(conn); err != nil {
		return nil, -1, err
	}
	if err := conn.SetReadDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		return nil, -1, fmt.Errorf("set deadline: %w", err)
	}
	var data []byte
	fds := []int{}
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*4))
	closeFds := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	for {
		// Go's ReadMsgUnix receives fds with MSG_CMSG_CLOEXEC.
		n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
		if oobn > 0 {
			got, perr := parseRights(oob[:oobn])
			fds = append(fds, got...)
			if perr != nil {
				closeFds()
				return nil, -1, perr
			}
		}
		if flags&unix.MSG_CTRUNC != 0 {
			closeFds()
			return nil, -1, errors.New("control data truncated (more fds than expected)")
		}
		data = append(data, buf[:n]...)
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			break
		}
		if err != nil {
			closeFds()
			return nil, -1, fmt.Errorf("read: %w", err)
		}
		if len(data) > maxStateSize {
			closeFds()
			return nil, -1, fmt.Errorf("state larger than %d bytes", maxStateSize)
		}
	}
	if len(fds) != 1 {
		closeFds()
		return nil, -1, fmt.Errorf("got %d fds, want 1", len(fds))
	}
	var st specs.ContainerProcessState
	if err := json.Unmarshal(data, &st); err != nil {
		closeFds()
		return nil, -1, fmt.Errorf("state JSON: %w", err)
	}
	if st.State.ID == "" || !slices.Contains(st.Fds, specs.SeccompFdName) {
		closeFds()
		return nil, -1, fmt.Errorf("state without a container id or a %q fd: %s", specs.SeccompFdName, data)
	}
	return &st, fds[0], nil
}

// checkPeer accepts only host root (the runtime runs as root; the socket is
// 0600 as well).
func checkPeer(conn *net.UnixConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	if cerr != nil {
		return fmt.Errorf("peer credentials: %w", cerr)
	}
	if cred.Uid != 0 {
		return fmt.Errorf("peer pid %d uid %d: only root may hand over notify fds", cred.Pid, cred.Uid)
	}
	return nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			return fds, fmt.Errorf("SCM_RIGHTS: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// pollable checks that fd is a seccomp notify fd and wraps it for Go's
// poller (non-blocking, so the netpoller registers it).
func pollable(fd int) (*os.File, error) {
	link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return nil, fmt.Errorf("inspect fd: %w", err)
	}
	if link != "anon_inode:seccomp notify" {
		return nil, fmt.Errorf("fd is %q, not a seccomp notify fd", link)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("set non-blocking: %w", err)
	}
	return os.NewFile(uintptr(fd), "seccomp-notify"), nil
}

// serve answers ln's notifications until its processes are gone or the fd
// is closed (sweep, shutdown).
func (a *Agent) serve(ln *listener) {
	defer a.forget(ln)
	rc, err := ln.f.SyscallConn()
	if err != nil {
		ln.log.WithError(err).Warn("seccomp agent: notify fd")
		return
	}
	var req notif
	for {
		var recvErr error
		hup := false
		err := rc.Read(func(fd uintptr) bool {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(pfd, 0)
			for errors.Is(err, unix.EINTR) {
				n, err = unix.Poll(pfd, 0)
			}
			if err != nil {
				recvErr = fmt.Errorf("poll: %w", err)
				return true
			}
			if n == 0 {
				return false // nothing yet: wait for the poller
			}
			switch {
			case pfd[0].Revents&unix.POLLIN != 0:
				recvErr = recvNotif(fd, &req)
			case pfd[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0:
				hup = true
			default:
				return false
			}
			return true
		})
		switch {
		case err != nil: // closed by sweep, or read deadline at shutdown
			return
		case hup:
			ln.log.Debug("seccomp agent: processes gone, notify fd closed")
			return
		case errors.Is(recvErr, unix.ENOENT), errors.Is(recvErr, unix.EINTR):
			continue // the caller was interrupted before we took it
		case recvErr != nil:
			ln.log.WithError(recvErr).Warn("seccomp agent: receive notification")
			return
		}
		resp := a.answer(ln, &req)
		var sendErr error
		if err := rc.Control(func(fd uintptr) { sendErr = sendResp(fd, &resp) }); err != nil {
			return
		}
		if sendErr != nil && !errors.Is(sendErr, unix.ENOENT) {
			ln.log.WithError(sendErr).Warn("seccomp agent: send answer")
		}
	}
}

// answer handles one notification and returns the reply.
func (a *Agent) answer(ln *listener, req *notif) notifResp {
	if req.Data.Arch == a.arch && req.Data.Nr == unix.SYS_SYSINFO {
		return a.answerSysinfo(ln, req)
	}
	switch mountCallOf(a.arch, req.Data.Arch, req.Data.Nr) {
	case callMount:
		return a.answerMount(ln, req)
	case callUmount2:
		return a.answerUmount(ln, req)
	case callFsopen:
		return a.answerFsopen(ln, req)
	case callMoveMount:
		return a.answerMoveMount(ln, req)
	}
	return continued(req)
}

// continued lets the kernel run the call.
func continued(req *notif) notifResp {
	return notifResp{ID: req.ID, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
}

// failed answers the call with errno.
func failed(req *notif, errno unix.Errno) notifResp {
	return notifResp{ID: req.ID, Error: -int32(errno)}
}

// answerSysinfo writes the container's struct sysinfo into the caller.
func (a *Agent) answerSysinfo(ln *listener, req *notif) notifResp {
	cont := continued(req)
	c, ok := a.cfg.Lookup(ln.id)
	if !ok {
		return cont
	}
	ln.mu.Lock()
	ln.registered = true
	ln.mu.Unlock()
	c.ReaderTid = int(req.Pid)
	si, err := a.cfg.Sysinfo.Info(c)
	if err != nil {
		ln.log.WithError(err).Warn("seccomp agent: sysinfo answered by the kernel")
		return cont
	}
	if errno := a.writeCaller(ln, req, unsafe.Slice((*byte)(unsafe.Pointer(&si)), unsafe.Sizeof(si))); errno != 0 {
		if errno == unix.ESRCH { // caller gone: the reply will not be taken
			return cont
		}
		return notifResp{ID: req.ID, Error: -int32(errno)}
	}
	return notifResp{ID: req.ID, Val: 0}
}

// writeCaller writes b at the caller's first argument through
// /proc/<tid>/mem. The open file is bound to the caller's memory, and the
// notification is checked valid after the open: so a pid reused meanwhile
// can never be written to. ESRCH: the caller is gone; EFAULT: bad pointer.
func (a *Agent) writeCaller(ln *listener, req *notif, b []byte) unix.Errno {
	addr := req.Data.Args[0]
	if addr == 0 || addr > 1<<63-1-uint64(len(b)) {
		return unix.EFAULT
	}
	path := a.cfg.ProcRoot + "/" + strconv.FormatUint(uint64(req.Pid), 10) + "/mem"
	mem, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		ln.log.WithError(err).Debug("seccomp agent: open caller memory")
		return unix.ESRCH
	}
	defer unix.Close(mem)
	valid := func() bool {
		ok := false
		if err := withFD(ln.f, func(fd uintptr) { ok = idValid(fd, req.ID) }); err != nil {
			return false
		}
		return ok
	}
	if !valid() {
		return unix.ESRCH
	}
	n, err := unix.Pwrite(mem, b, int64(addr))
	if err != nil || n != len(b) {
		return unix.EFAULT
	}
	if !valid() {
		return unix.ESRCH
	}
	return 0
}

func withFD(f *os.File, fn func(fd uintptr)) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(fn)
}

// sweep closes the fds of containers that were registered and no longer
// are (Unregister). Their serving goroutines end.
func (a *Agent) sweep() {
	a.mu.Lock()
	lns := make([]*listener, 0, len(a.fds))
	for ln := range a.fds {
		lns = append(lns, ln)
	}
	a.mu.Unlock()
	for _, ln := range lns {
		ln.mu.Lock()
		was := ln.registered
		ln.mu.Unlock()
		if !was {
			continue
		}
		if _, ok := a.cfg.Lookup(ln.id); !ok {
			ln.log.Debug("seccomp agent: container unregistered, notify fd closed")
			ln.f.Close()
		}
	}
}

// forget drops a listener whose goroutine ended, and the keeper's copy
// unless the agent is stopping (the next agent takes that copy back).
func (a *Agent) forget(ln *listener) {
	ln.f.Close()
	a.mu.Lock()
	delete(a.fds, ln)
	stopping := a.closed
	if a.done != nil {
		select {
		case <-a.done:
			stopping = true
		default:
		}
	}
	a.mu.Unlock()
	if !stopping {
		a.drop(ln)
	}
}

// closeAll stops every listener and waits for their goroutines, which
// close their fds. An answer in progress is still sent: the read
// deadline only keeps a listener from taking new notifications.
func (a *Agent) closeAll() {
	a.mu.Lock()
	a.closed = true
	for ln := range a.fds {
		if err := ln.f.SetReadDeadline(time.Now()); err != nil {
			ln.f.Close()
		}
	}
	a.mu.Unlock()
	a.wg.Wait()
}

// served counts the fds being served (tests).
func (a *Agent) served() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.fds)
}
