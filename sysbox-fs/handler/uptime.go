package handler

import (
	"fmt"
	"time"
)

// Uptime is /proc/uptime: "<uptime> <idle>\n", in seconds with two decimals
// (truncated, as the kernel prints them). uptime counts from the container's
// start. idle is the idle time summed over the container's CPUs, like the
// kernel's: CPUs x uptime minus the CPU time the container's cgroup used,
// never negative.
type Uptime struct{}

// Content implements Handler.
func (Uptime) Content(c Container) ([]byte, error) {
	up := c.Host.Now().Sub(c.StartTime)
	if up < 0 {
		up = 0
	}
	cpus, err := c.CPUCount()
	if err != nil {
		return nil, fmt.Errorf("uptime: %w", err)
	}
	// Centiseconds as uint64: CPUs x uptime in nanoseconds would overflow an
	// int64 within months on a large host.
	upCs := uint64(up / (10 * time.Millisecond))
	idleCs := upCs * uint64(cpus)
	// When the cgroup cannot be read (not registered yet, cgroup gone), the
	// container is reported fully idle: idle = uptime x CPUs.
	if used, err := c.CPUUsage(); err == nil && used > 0 {
		usedCs := uint64(used / (10 * time.Millisecond))
		if usedCs >= idleCs {
			idleCs = 0
		} else {
			idleCs -= usedCs
		}
	}
	return fmt.Appendf(nil, "%d.%02d %d.%02d\n", upCs/100, upCs%100, idleCs/100, idleCs%100), nil
}
