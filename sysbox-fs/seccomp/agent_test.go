package seccomp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
)

// The test binary doubles as the trapped process: with childEnv set to the
// agent's socket it installs a filter sending sysinfo and getppid to user
// space, hands the notify fd to the agent the way libcontainer does, and
// then runs commands read from stdin, one JSON answer per line.
const childEnv = "SECCOMP_AGENT_TEST_CHILD"

func TestMain(m *testing.M) {
	RunProcfsHelperIfAsked(os.Args)
	if sock := os.Getenv(childEnv); sock != "" {
		if err := child(sock); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childAnswer is one line of the child's output.
type childAnswer struct {
	Info  unix.Sysinfo_t
	Ppid  int
	Errno int
	Tid   int
	N     int
	Text  string
}

func child(sock string) error {
	runtime.LockOSThread() // the filter is this thread's; it never unlocks
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	fd, err := installFilter()
	if err != nil {
		return err
	}
	state, _ := json.Marshal(specs.ContainerProcessState{
		Version: specs.Version, Fds: []string{specs.SeccompFdName}, Pid: os.Getpid(),
		State: specs.State{Version: specs.Version, ID: os.Getenv(childEnv + "_ID"), Status: specs.StateRunning, Pid: os.Getpid()},
	})
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return err
	}
	if _, _, err := conn.(*net.UnixConn).WriteMsgUnix(state, unix.UnixRights(fd), nil); err != nil {
		return fmt.Errorf("send fd: %w", err)
	}
	conn.Close()
	unix.Close(fd) // the agent holds the only copy, as with libcontainer
	enc := json.NewEncoder(os.Stdout)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var a childAnswer
		a.Tid = unix.Gettid()
		switch cmd := strings.Fields(in.Text()); cmd[0] {
		case "sysinfo":
			if err := unix.Sysinfo(&a.Info); err != nil {
				a.Errno = int(err.(unix.Errno))
			}
		case "badptr": // a pointer into nowhere: the kernel says EFAULT
			_, _, e := unix.Syscall(unix.SYS_SYSINFO, 8, 0, 0)
			a.Errno = int(e)
		case "getppid":
			a.Ppid = unix.Getppid()
		case "mount": // mount FSTYPE TARGET FLAGS [DATA]
			var flags uintptr
			fmt.Sscan(cmd[3], &flags)
			data := ""
			if len(cmd) > 4 {
				data = cmd[4]
			}
			a.Errno = childErrno(unix.Mount(cmd[1], cmd[2], cmd[1], flags, data))
		case "move": // mount --move SOURCE TARGET
			a.Errno = childErrno(unix.Mount(cmd[1], cmd[2], "", unix.MS_MOVE, ""))
		case "mountloop": // mountloop N FSTYPE TARGET: N mount + umount -l pairs
			var n int
			fmt.Sscan(cmd[1], &n)
			for i := 0; i < n && a.Errno == 0; i++ {
				a.Errno = childErrno(unix.Mount(cmd[2], cmd[3], cmd[2], 0, ""))
				if a.Errno == 0 {
					a.Errno = childErrno(unix.Unmount(cmd[3], unix.MNT_DETACH))
				}
				a.N++
			}
		case "movemount": // move_mount SOURCE TARGET (by paths)
			a.Errno = childErrno(unix.MoveMount(unix.AT_FDCWD, cmd[1], unix.AT_FDCWD, cmd[2], 0))
		case "movemountfd": // move_mount of an O_PATH fd of SOURCE to TARGET
			fd, err := unix.Open(cmd[1], unix.O_PATH|unix.O_CLOEXEC, 0)
			if err == nil {
				err = unix.MoveMount(fd, "", unix.AT_FDCWD, cmd[2], unix.MOVE_MOUNT_F_EMPTY_PATH)
				unix.Close(fd)
			}
			a.Errno = childErrno(err)
		case "umount": // umount TARGET FLAGS
			var flags int
			fmt.Sscan(cmd[2], &flags)
			a.Errno = childErrno(unix.Unmount(cmd[1], flags))
		case "fsopen":
			fd, err := unix.Fsopen(cmd[1], unix.FSOPEN_CLOEXEC)
			if err == nil {
				unix.Close(fd)
			}
			a.Errno = childErrno(err)
		case "openpath": // an O_PATH fd, left open; its number in N
			fd, err := unix.Open(cmd[1], unix.O_PATH|unix.O_CLOEXEC, 0)
			a.N, a.Errno = fd, childErrno(err)
		case "chdir":
			a.Errno = childErrno(unix.Chdir(cmd[1]))
		case "read":
			b, err := os.ReadFile(cmd[1])
			a.Text, a.Errno = string(b), childErrno(err)
		case "mountopts": // the mount options of the mount at TARGET (last one)
			b, err := os.ReadFile("/proc/self/mountinfo")
			a.Errno = childErrno(err)
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) > 5 && f[4] == cmd[1] {
					a.Text = f[5]
				}
			}
		case "loop": // sysinfo until told to stop on stdin... counted
			var n int
			fmt.Sscan(cmd[1], &n)
			for i := 0; i < n; i++ {
				if err := unix.Sysinfo(&a.Info); err != nil {
					a.Errno = int(err.(unix.Errno))
					break
				}
				a.N++
			}
		}
		if err := enc.Encode(a); err != nil {
			return err
		}
	}
	return nil
}

// installFilter loads a filter that notifies sysinfo, getppid, mount,
// umount2, fsopen and move_mount (native
// arch) and allows everything else; it returns the notify fd.
func installFilter() (int, error) {
	const (
		ldW   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeqK  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		retK  = unix.BPF_RET | unix.BPF_K
		nrOff = 0
		arOff = 4
	)
	prog := []unix.SockFilter{
		{Code: ldW, K: arOff},
		{Code: jeqK, Jt: 0, Jf: 0, K: nativeArch()},
		{Code: ldW, K: nrOff},
	}
	trapped := []uint32{unix.SYS_SYSINFO, unix.SYS_GETPPID, unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_FSOPEN, unix.SYS_MOVE_MOUNT}
	for i, nr := range trapped {
		// A match jumps over the rest and the allow, to the notify.
		prog = append(prog, unix.SockFilter{Code: jeqK, Jt: uint8(len(trapped) - i), K: nr})
	}
	prog = append(prog,
		unix.SockFilter{Code: retK, K: unix.SECCOMP_RET_ALLOW},
		unix.SockFilter{Code: retK, K: unix.SECCOMP_RET_USER_NOTIF})
	// Arch mismatch: jump over the number load and tests, to the allow.
	prog[1].Jf = uint8(1 + len(trapped))
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	fd, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return -1, fmt.Errorf("seccomp(SET_MODE_FILTER, NEW_LISTENER): %w", e)
	}
	return int(fd), nil
}

// fakeSource answers a fixed struct for known containers, or fails.
type fakeSource struct {
	info  unix.Sysinfo_t
	fail  atomic.Bool
	calls atomic.Int64
	// lastTid is the ReaderTid of the last call.
	lastTid atomic.Int64
}

func (f *fakeSource) Info(c handler.Container) (unix.Sysinfo_t, error) {
	f.calls.Add(1)
	f.lastTid.Store(int64(c.ReaderTid))
	if f.fail.Load() {
		return unix.Sysinfo_t{}, errors.New("cgroup unreadable")
	}
	return f.info, nil
}

// registry is a settable set of known container ids.
type registry struct {
	mu  sync.Mutex
	ids map[string]bool
	// files are every known container's virtual files; initPids their
	// init pids (0 when unset).
	files    []VirtualFile
	initPids map[string]int
}

func (r *registry) setInit(id string, pid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.initPids == nil {
		r.initPids = map[string]int{}
	}
	r.initPids[id] = pid
}

func (r *registry) virtualFiles(id string) ([]VirtualFile, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.files, r.ids[id]
}

func (r *registry) set(id string, known bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids[id] = known
}

func (r *registry) lookup(id string) (handler.Container, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return handler.Container{ID: id, InitPid: r.initPids[id]}, r.ids[id]
}

type testAgent struct {
	*Agent
	sock   string
	reg    *registry
	src    *fakeSource
	cancel context.CancelFunc
	done   chan error
}

func startAgent(t *testing.T, sweep time.Duration) *testAgent {
	t.Helper()
	return startAgentWith(t, Config{Sweep: sweep}, &registry{ids: map[string]bool{"c1": true}})
}

// startAgentWith starts an agent with cfg's Sweep, Keeper, Owner and Log
// (discarded when nil) on a fresh socket, answering for the ids reg knows.
func startAgentWith(t *testing.T, cfg Config, reg *registry) *testAgent {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (writes another process's memory)")
	}
	if cfg.StageDir == "" {
		cfg.StageDir = filepath.Join(t.TempDir(), "stage")
	}
	if cfg.Log == nil {
		log := logrus.New()
		log.SetOutput(io.Discard)
		cfg.Log = log
	}
	ta := &testAgent{
		sock: filepath.Join(t.TempDir(), "agent.sock"),
		reg:  reg,
		src: &fakeSource{info: unix.Sysinfo_t{
			Uptime: 42, Loads: [3]uint64{65536, 32768, 0}, Totalram: 256 << 20, Freeram: 200 << 20,
			Sharedram: 4 << 20, Totalswap: 0, Procs: 7, Unit: 1,
		}},
	}
	cfg.Lookup, cfg.Sysinfo = ta.reg.lookup, ta.src
	if reg.files != nil {
		cfg.Files = reg.virtualFiles
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ta.Agent = a
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: ta.sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta.cancel, ta.done = cancel, make(chan error, 1)
	go func() { ta.done <- a.Serve(ctx, l) }()
	t.Cleanup(ta.stop)
	return ta
}

func (ta *testAgent) stop() {
	if ta.cancel == nil {
		return
	}
	ta.cancel()
	ta.cancel = nil
	<-ta.done
}

// trapped is a running child process.
type trapped struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *json.Decoder
}

func startChild(t *testing.T, ta *testAgent, id string) *trapped {
	t.Helper()
	return startChildWith(t, ta, id, nil)
}

// startChildWith starts the child with attr (its own namespaces).
func startChildWith(t *testing.T, ta *testAgent, id string, attr *syscall.SysProcAttr) *trapped {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.SysProcAttr = attr
	cmd.Env = append(os.Environ(), childEnv+"="+ta.sock, childEnv+"_ID="+id)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &trapped{cmd: cmd, in: in, out: json.NewDecoder(out)}
	t.Cleanup(func() {
		c.in.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitFor(t, "the agent to take the child's fd", func() bool { return ta.served() >= 1 })
	return c
}

func (c *trapped) do(t *testing.T, cmd string) childAnswer {
	t.Helper()
	c.send(t, cmd)
	return c.answer(t, cmd)
}

// send gives the child a command without waiting for its answer.
func (c *trapped) send(t *testing.T, cmd string) {
	t.Helper()
	if _, err := fmt.Fprintln(c.in, cmd); err != nil {
		t.Fatal(err)
	}
}

// answer reads the child's answer to cmd; a call nobody answers fails the
// test after 10 s.
func (c *trapped) answer(t *testing.T, cmd string) childAnswer {
	t.Helper()
	var a childAnswer
	done := make(chan error, 1)
	go func() { done <- c.out.Decode(&a) }() // ends at the latest when the child is killed
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: child answer: %v", cmd, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer from the child in 10 s (trapped call not answered?)", cmd)
	}
	return a
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func hostSysinfo(t *testing.T) unix.Sysinfo_t {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	return si
}

func TestTrappedSysinfoGetsTheContainersAnswer(t *testing.T) {
	ta := startAgent(t, time.Hour)
	c := startChild(t, ta, "c1")
	a := c.do(t, "sysinfo")
	if a.Errno != 0 || a.Info != ta.src.info {
		t.Fatalf("child's sysinfo: errno %d, %+v\nwant %+v", a.Errno, a.Info, ta.src.info)
	}
	if got := ta.src.lastTid.Load(); got != int64(a.Tid) {
		t.Errorf("container view's ReaderTid %d, want the calling thread %d", got, a.Tid)
	}
	// Other trapped calls run in the kernel.
	if a := c.do(t, "getppid"); a.Ppid != os.Getpid() {
		t.Errorf("trapped getppid = %d, want %d (continued to the kernel)", a.Ppid, os.Getpid())
	}
	// A bad pointer gets the kernel's EFAULT.
	if a := c.do(t, "badptr"); a.Errno != int(unix.EFAULT) {
		t.Errorf("sysinfo(bad pointer): errno %d, want EFAULT", a.Errno)
	}
}

func TestSysinfoFallsBackToTheKernelsAnswer(t *testing.T) {
	ta := startAgent(t, time.Hour)
	host := hostSysinfo(t).Totalram
	tests := []struct {
		name  string
		id    string
		setup func()
	}{
		{"unknown container", "ghost", func() {}},
		{"answer cannot be built", "c1", func() { ta.src.fail.Store(true) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := startChild(t, ta, tc.id)
			tc.setup()
			defer ta.src.fail.Store(false)
			a := c.do(t, "sysinfo")
			if a.Errno != 0 || a.Info.Totalram != host {
				t.Fatalf("errno %d, totalram %d; want the host's %d", a.Errno, a.Info.Totalram, host)
			}
		})
	}
}

func TestNotifyFdIsClosedWhenTheProcessExits(t *testing.T) {
	ta := startAgent(t, time.Hour)
	c := startChild(t, ta, "c1")
	c.do(t, "sysinfo")
	c.in.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the fd of the exited child to be closed", func() bool { return ta.served() == 0 })
}

func TestUnregisteredContainersFdIsClosed(t *testing.T) {
	ta := startAgent(t, 20*time.Millisecond)
	c := startChild(t, ta, "c1")
	if a := c.do(t, "sysinfo"); a.Info != ta.src.info {
		t.Fatalf("before unregister: %+v", a.Info)
	}
	ta.reg.set("c1", false)
	waitFor(t, "the sweep to close the unregistered container's fd", func() bool { return ta.served() == 0 })
	// Without a listener the kernel fails the trapped call.
	if a := c.do(t, "sysinfo"); a.Errno != int(unix.ENOSYS) {
		t.Fatalf("after the fd was closed: errno %d, want ENOSYS", a.Errno)
	}
}

func TestShutdownClosesEveryFd(t *testing.T) {
	ta := startAgent(t, time.Hour)
	c1, c2 := startChild(t, ta, "c1"), startChild(t, ta, "c1")
	waitFor(t, "two fds", func() bool { return ta.served() == 2 })
	ta.stop()
	if n := ta.served(); n != 0 {
		t.Fatalf("%d fds still served after shutdown", n)
	}
	for _, c := range []*trapped{c1, c2} {
		if a := c.do(t, "sysinfo"); a.Errno != int(unix.ENOSYS) {
			t.Fatalf("after shutdown: errno %d, want ENOSYS", a.Errno)
		}
	}
	if _, err := net.Dial("unix", ta.sock); err == nil {
		t.Fatal("the agent still accepts connections after shutdown")
	}
}

func TestAgentRejectsBadMessages(t *testing.T) {
	ta := startAgent(t, time.Hour)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	good, _ := json.Marshal(specs.ContainerProcessState{Fds: []string{specs.SeccompFdName}, State: specs.State{ID: "c1"}})
	tests := []struct {
		name string
		data []byte
		fds  []int
	}{
		{"no fd", good, nil},
		{"not a seccomp fd", good, []int{int(pr.Fd())}},
		{"two fds", good, []int{int(pr.Fd()), int(pw.Fd())}},
		{"no container id", []byte(`{"fds":["seccompFd"],"state":{}}`), []int{int(pr.Fd())}},
		{"not JSON", []byte("hello"), []int{int(pr.Fd())}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("unix", ta.sock)
			if err != nil {
				t.Fatal(err)
			}
			var oob []byte
			if tc.fds != nil {
				oob = unix.UnixRights(tc.fds...)
			}
			if _, _, err := conn.(*net.UnixConn).WriteMsgUnix(tc.data, oob, nil); err != nil {
				t.Fatal(err)
			}
			conn.Close()
			time.Sleep(20 * time.Millisecond)
			if n := ta.served(); n != 0 {
				t.Fatalf("%d fds served after a bad message", n)
			}
		})
	}
}

// TestTrappedSysinfoSurvivesASignalFlood sends a signal to the calling
// thread every 100 us while it makes trapped calls: with libseccomp 2.5.4
// the filter cannot have WAIT_KILLABLE_RECV, so each signal interrupts the
// wait and the call restarts. The answer is fast enough that calls still
// complete.
func TestTrappedSysinfoSurvivesASignalFlood(t *testing.T) {
	ta := startAgent(t, time.Hour)
	c := startChild(t, ta, "c1")
	tid := c.do(t, "getppid").Tid
	stop := make(chan struct{})
	var sent atomic.Int64
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			// SIGURG: the Go runtime's preemption signal, handled and
			// ignored by the child (SA_RESTART).
			if unix.Tgkill(c.cmd.Process.Pid, tid, unix.SIGURG) == nil {
				sent.Add(1)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	start := time.Now()
	a := c.do(t, "loop 2000")
	close(stop)
	took := time.Since(start)
	if a.Errno != 0 || a.N != 2000 || a.Info != ta.src.info {
		t.Fatalf("errno %d after %d calls, last answer %+v", a.Errno, a.N, a.Info)
	}
	t.Logf("2000 trapped sysinfo calls under %d signals: %v (%v each), %d notifications answered",
		sent.Load(), took, took/2000, ta.src.calls.Load())
}

// childErrno is err's errno, 0 for nil.
func childErrno(err error) int {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return int(e)
	}
	return -1
}
