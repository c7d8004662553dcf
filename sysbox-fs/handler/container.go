package handler

import (
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
}

// Host is where handlers read host-wide data. Tests point it at fakes.
type Host struct {
	// Now is the clock.
	Now func() time.Time
	// ProcRoot is the host's procfs mount, "/proc".
	ProcRoot string
}

// DefaultHost reads the real clock and /proc.
func DefaultHost() Host {
	return Host{Now: time.Now, ProcRoot: "/proc"}
}
