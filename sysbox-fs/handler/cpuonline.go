package handler

import "fmt"

// CPUOnline is /sys/devices/system/cpu/online: the container's CPUs in the
// kernel's cpu list syntax, renumbered from 0 ("0-1", or "0" for one CPU),
// so that tools counting online CPUs (glibc's get_nprocs, nproc --all, lscpu)
// see as many CPUs as the container's cpuset holds. The count comes from
// CPUList, the same source as /proc/cpuinfo, /proc/stat and /proc/uptime.
type CPUOnline struct{}

// Content implements Handler.
func (CPUOnline) Content(c Container) ([]byte, error) {
	cpus, err := c.CPUList()
	if err != nil {
		return nil, fmt.Errorf("cpu online: %w", err)
	}
	b := appendCPURange(make([]byte, 0, 16), len(cpus))
	return append(b, '\n'), nil
}
