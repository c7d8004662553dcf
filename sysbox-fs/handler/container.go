package handler

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Container is what a handler sees of one container: a snapshot taken when
// the read arrives.
type Container struct {
	// ID is the container id given by the runtime.
	ID string
	// StartTime is when the container started (its init was created), or
	// the PreRegister time until the runtime registers the container.
	StartTime time.Time
	// InitPid is the host pid of the container's init; 0 before Register.
	InitPid int
	// Cgroups reads the container's cgroup files; nil before Register.
	Cgroups CgroupReader
	// Host gives the host-wide sources.
	Host Host
	// ReaderTid is the host thread id of the thread whose read is being
	// answered, 0 when unknown. That thread is blocked in the read (in the
	// 'D' state while it waits for the FUSE reply); the task counts of
	// /proc/loadavg and /proc/stat report it as running, as the kernel does
	// for a reader of its own files.
	ReaderTid int
}

// Host is where handlers read host-wide data. Tests point it at fakes.
type Host struct {
	// Now is the clock.
	Now func() time.Time
	// ProcRoot is the host's procfs mount, "/proc".
	ProcRoot string
	// proc, when set, keeps the host's /proc files open and re-reads them
	// with one pread at offset 0 (procfs seq_files regenerate their
	// content then); nil reads with os.ReadFile (tests).
	proc *CgroupFiles
}

// DefaultHost reads the real clock and /proc, keeping the /proc files the
// handlers read open for the life of the process.
func DefaultHost() Host {
	return Host{Now: time.Now, ProcRoot: "/proc", proc: NewCgroupFiles(map[string]string{"": "/proc"})}
}

// readProc reads the host file <ProcRoot>/<name> ("meminfo").
func (h Host) readProc(name string) ([]byte, error) {
	if h.proc != nil && h.proc.dirs[""] == h.ProcRoot {
		b, err := h.proc.ReadFile("", name)
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", name, err)
		}
		return b, nil
	}
	b, err := os.ReadFile(filepath.Join(h.ProcRoot, name))
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", name, err)
	}
	return b, nil
}
