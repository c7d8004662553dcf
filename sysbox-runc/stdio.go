package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/containerd/console"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/utils"
)

// stdio wires a process's standard streams, in one of three ways:
//   - no terminal: the process inherits our stdin/stdout/stderr (for
//     containerd's shim these are its pipes);
//   - terminal, detached: libcontainer sends the pty master to the
//     --console-socket the caller listens on (what containerd does for -t);
//   - terminal, foreground: we receive the master over a socket pair and
//     copy between it and our own terminal.
type stdio struct {
	sendEnd *os.File          // our copy of the socket handed to libcontainer
	masterC chan masterResult // foreground terminal: the master, once it arrives
	master  console.Console
	copied  chan struct{} // closed when the terminal's output is all copied
	restore func()
}

// drainWait bounds how long Close waits for the rest of a terminal's
// output once the process is gone (a process it left behind may keep the
// terminal open).
const drainWait = 2 * time.Second

// masterResult is the pty master received from the container's process.
type masterResult struct {
	master console.Console
	err    error
}

func setupStdio(p *libcontainer.Process, terminal, detach bool, consoleSocket string) (*stdio, error) {
	s := &stdio{}
	if !terminal {
		if consoleSocket != "" {
			return nil, errors.New("--console-socket is only for a process with a terminal (process.terminal is false)")
		}
		p.Stdin, p.Stdout, p.Stderr = os.Stdin, os.Stdout, os.Stderr
		return s, nil
	}
	if detach {
		if consoleSocket == "" {
			return nil, errors.New("a detached process with a terminal needs --console-socket")
		}
		conn, err := net.Dial("unix", consoleSocket)
		if err != nil {
			return nil, fmt.Errorf("connect to --console-socket %s: %w", consoleSocket, err)
		}
		f, err := conn.(*net.UnixConn).File()
		conn.Close()
		if err != nil {
			return nil, fmt.Errorf("console socket: %w", err)
		}
		s.sendEnd = f
		p.ConsoleSocket = f
		return s, nil
	}
	parent, child, err := utils.NewSockPair("console")
	if err != nil {
		return nil, fmt.Errorf("console socket pair: %w", err)
	}
	s.sendEnd = child
	p.ConsoleSocket = child
	// Take the master as soon as the process sends it (before it runs its
	// program), so that ONLCR is off before the program's first write.
	s.masterC = make(chan masterResult, 1)
	go func() {
		defer parent.Close()
		s.masterC <- receiveMaster(parent)
	}()
	return s, nil
}

// receiveMaster takes the pty master from the console socket and turns off
// ONLCR on it: the container's output is copied to our stdout as is, so
// with ONLCR every line would end in "\r\n" in a pipe or a file. runc
// clears it on the terminal it relays too.
func receiveMaster(sock *os.File) masterResult {
	f, err := utils.RecvFile(sock)
	if err != nil {
		return masterResult{err: fmt.Errorf("receive pty master: %w", err)}
	}
	master, err := console.ConsoleFromFile(f)
	if err != nil {
		f.Close()
		return masterResult{err: fmt.Errorf("pty master: %w", err)}
	}
	if err := console.ClearONLCR(master.Fd()); err != nil {
		master.Close()
		return masterResult{err: fmt.Errorf("pty master: clear ONLCR: %w", err)}
	}
	return masterResult{master: master}
}

// started is called once the process runs: it drops our copy of the
// console socket and, for a foreground terminal, takes the pty master and
// starts copying.
func (s *stdio) started() error {
	if s.sendEnd != nil {
		s.sendEnd.Close()
		s.sendEnd = nil
	}
	if s.masterC == nil {
		return nil
	}
	r := <-s.masterC
	s.masterC = nil
	if r.err != nil {
		return r.err
	}
	master := r.master
	s.master = master
	// Our terminal goes raw before the first byte is copied, or that byte
	// would still get our terminal's own translations.
	if cur, err := console.ConsoleFromFile(os.Stdin); err == nil {
		if err := cur.SetRaw(); err == nil {
			s.restore = func() { _ = cur.Reset() }
		}
	}
	s.resize()
	s.copied = make(chan struct{})
	go func() {
		defer close(s.copied)
		_, _ = io.Copy(os.Stdout, master) // ends with EIO once no one holds the terminal
	}()
	go io.Copy(master, os.Stdin)
	return nil
}

// resize gives the container's terminal the size of ours.
func (s *stdio) resize() {
	if s.master == nil {
		return
	}
	cur, err := console.ConsoleFromFile(os.Stdin)
	if err != nil {
		return
	}
	if size, err := cur.Size(); err == nil {
		_ = s.master.Resize(size)
	}
}

// Close releases everything and restores our terminal, once what the
// process wrote to its terminal is copied out.
func (s *stdio) Close() {
	if s.copied != nil {
		select {
		case <-s.copied:
		case <-time.After(drainWait):
		}
		s.copied = nil
	}
	if s.sendEnd != nil {
		s.sendEnd.Close()
	}
	if s.restore != nil {
		s.restore()
	}
	if s.master != nil {
		s.master.Close()
	}
}
