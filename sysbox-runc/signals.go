package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"

	mobysignal "github.com/moby/sys/signal"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// parseSignal accepts "KILL", "SIGKILL", "kill", "RTMIN+3" or "9"
// (moby/sys/signal's names); a number must be a signal of ours, 1 to 64.
// "0" is no signal, only the check that the process exists (kill(2)), as
// runc takes it.
func parseSignal(s string) (unix.Signal, error) {
	if s == "0" {
		return 0, nil
	}
	sig, err := mobysignal.ParseSignal(s)
	if err != nil {
		return 0, fmt.Errorf("unknown signal %q", s)
	}
	if sig <= 0 || sig > 64 {
		return 0, fmt.Errorf("invalid signal number %d", sig)
	}
	return sig, nil
}

// waitForeground forwards our signals to a foreground process until it
// exits and returns its exit code (128+n when killed by signal n).
func waitForeground(p *libcontainer.Process, procStdio *stdio) (int, error) {
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
				procStdio.resize()
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
