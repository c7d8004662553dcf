package app

import (
	"fmt"
	"runtime/debug"
)

// memoryLimit sizes the Go runtime's soft memory limit
// (debug.SetMemoryLimit) to the containers served. Without a limit the
// runtime keeps the heap it grew under a burst of reads for a while: with
// 10 containers the daemon's anonymous memory stayed at 9-10 MB after
// 40,000 reads, against 6 MB with a limit of 10 MiB, at the same read
// latency. The live heap is about 1 MB plus well under 192 KiB per
// container (a full /proc/sys tree included), so the limit never makes
// the collector run much more often than its usual pacing would.
type memoryLimit struct {
	base, perContainer int64
}

// defaultMemoryLimit: 10 MiB + 192 KiB per container.
var defaultMemoryLimit = memoryLimit{base: 10 << 20, perContainer: 192 << 10}

// forContainers returns the limit for n containers.
func (m memoryLimit) forContainers(n int) int64 {
	return m.base + int64(n)*m.perContainer
}

// apply sets the runtime's limit for n containers.
func (m memoryLimit) apply(n int) { debug.SetMemoryLimit(m.forContainers(n)) }

// parseMemoryLimitMB turns the --memory-limit-base flag (MiB; 0 disables
// the limit) into a memoryLimit, or nil.
func parseMemoryLimitMB(mb int) (*memoryLimit, error) {
	switch {
	case mb < 0:
		return nil, fmt.Errorf("--memory-limit-base %d: want 0 (no limit) or more", mb)
	case mb == 0:
		return nil, nil
	}
	m := defaultMemoryLimit
	m.base = int64(mb) << 20
	return &m, nil
}
