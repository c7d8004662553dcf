// Package daemon holds what sysbox-mgr and sysbox-fs share as long-running
// root daemons: the single-instance pid file, logging setup, readiness
// notification and the signal-driven shutdown.
package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrAlreadyRunning is returned by AcquirePidFile when another live
// instance holds the pid file.
var ErrAlreadyRunning = errors.New("another instance is running")

// PidFile is a held pid file. The exclusive flock on it is the
// single-instance guard: it dies with the process, so a pid file left by a
// killed predecessor is simply taken over.
type PidFile struct {
	path string
	f    *os.File
}

// AcquirePidFile locks path and writes the caller's pid into it.
func AcquirePidFile(path string) (*PidFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create pid file dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open pid file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		old, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (pid %s, pid file %s)", ErrAlreadyRunning, strings.TrimSpace(string(old)), path)
		}
		return nil, fmt.Errorf("lock pid file %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("truncate pid file: %w", err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	return &PidFile{path: path, f: f}, nil
}

// Release removes the pid file and drops the lock.
func (p *PidFile) Release() {
	os.Remove(p.path)
	p.f.Close()
}
