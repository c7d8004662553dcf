// Package fdstoretest gives tests a real seccomp notify fd held by another
// process, without root: the test binary re-executes itself as a child that
// sets no_new_privs, installs a filter with SECCOMP_FILTER_FLAG_NEW_LISTENER
// and reports the listener's fd number.
//
// Call MaybeChild first thing in the test package's TestMain.
package fdstoretest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

const childEnv = "FDSTORETEST_NOTIFY_CHILD"

// MaybeChild runs the child and exits when the process was started as one;
// otherwise it returns at once.
func MaybeChild() {
	if os.Getenv(childEnv) == "" {
		return
	}
	if err := child(); err != nil {
		fmt.Fprintln(os.Stderr, "notify child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// child installs the filter, prints "<fd>\n" and waits for stdin to close.
// Its trapped syscall (sysinfo) is never called.
func child() error {
	runtime.LockOSThread() // the filter is this thread's; it never unlocks
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	const (
		ldW  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeqK = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		retK = unix.BPF_RET | unix.BPF_K
	)
	prog := []unix.SockFilter{
		{Code: ldW, K: 0}, // seccomp_data.nr
		{Code: jeqK, Jt: 0, Jf: 1, K: unix.SYS_SYSINFO},
		{Code: retK, K: unix.SECCOMP_RET_USER_NOTIF},
		{Code: retK, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	fd, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return fmt.Errorf("seccomp(SET_MODE_FILTER, NEW_LISTENER): %w", e)
	}
	if _, err := fmt.Printf("%d\n", fd); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, os.Stdin)
	return err
}

// Child is a running child holding a seccomp notify fd.
type Child struct {
	// Pid is the child's pid and Fd its notify fd's number there.
	Pid, Fd int
	cmd     *exec.Cmd
	stdin   io.Closer
}

// Start starts a child; it is ended at the end of the test.
func Start(t testing.TB) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
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
	c := &Child{Pid: cmd.Process.Pid, cmd: cmd, stdin: in}
	t.Cleanup(func() { c.Exit(t) })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("notify child: %v", err)
	}
	if c.Fd, err = strconv.Atoi(strings.TrimSpace(line)); err != nil {
		t.Fatalf("notify child said %q", line)
	}
	return c
}

// Exit ends the child and waits for it: its notify fd, wherever copied,
// polls POLLHUP from then on.
func (c *Child) Exit(t testing.TB) {
	t.Helper()
	if c.cmd == nil {
		return
	}
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("notify child: %v", err)
	}
	c.cmd = nil
}
