package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// parseSignal accepts "KILL", "SIGKILL", "kill" or "9", and "0": no signal,
// only the check that the process exists (kill(2)), as runc takes it.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal number %d", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q", s)
	}
	return sig, nil
}

// waitForeground forwards our signals to a foreground process until it
// exits and returns its exit code (128+n when killed by signal n).
func waitForeground(p *libcontainer.Process, io *stdio) (int, error) {
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	defer signal.Stop(sigs)

	type result struct {
		state *os.ProcessState
		err   error
	}
	done := make(chan result, 1)
	go func() {
		st, err := p.Wait()
		done <- result{st, err}
	}()
	for {
		select {
		case s := <-sigs:
			switch s {
			case unix.SIGWINCH:
				io.resize()
			case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
				// SIGURG is the Go runtime's own; the rest are ours.
			default:
				_ = p.Signal(s)
			}
		case r := <-done:
			st := r.state
			var exitErr *exec.ExitError
			if r.err != nil {
				if !errors.As(r.err, &exitErr) {
					return -1, fmt.Errorf("wait for process: %w", r.err)
				}
				st = exitErr.ProcessState
			}
			return exitCode(st), nil
		}
	}
}

func exitCode(st *os.ProcessState) int {
	ws, ok := st.Sys().(unix.WaitStatus)
	if !ok {
		return st.ExitCode()
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
