package handler

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoController is returned when the container has no cgroup directory for
// the requested controller (or is not registered yet).
var ErrNoController = errors.New("no cgroup for controller")

// CgroupReader reads one file of the container's cgroup for a controller.
// The controller is a cgroup v1 controller name ("cpuacct", "cpuset", ...) or
// "" for the cgroup v2 (unified) directory.
type CgroupReader interface {
	ReadFile(controller, name string) ([]byte, error)
}

// CgroupDirs is the CgroupReader over the host's cgroup filesystems: it maps
// a controller name to the container's cgroup directory, as the runtime
// passes them to Register. On a hybrid host both v1 controllers and "" (the
// unified cgroup2 directory) are present; handlers ask v1 first.
type CgroupDirs map[string]string

// ReadFile reads <dir of controller>/<name>.
func (d CgroupDirs) ReadFile(controller, name string) ([]byte, error) {
	dir, ok := d[controller]
	if !ok || dir == "" {
		return nil, fmt.Errorf("controller %q: %w", controller, ErrNoController)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("read cgroup file: %w", err)
	}
	return b, nil
}

// Dir returns the container's cgroup directory for controller.
func (d CgroupDirs) Dir(controller string) (string, error) {
	dir, ok := d[controller]
	if !ok || dir == "" {
		return "", fmt.Errorf("controller %q: %w", controller, ErrNoController)
	}
	return dir, nil
}

// cgroupDirer is implemented by CgroupReaders that know the directories
// (CgroupDirs, CgroupFiles): handlers that must walk the container's
// sub-cgroups (task lists) need it.
type cgroupDirer interface {
	Dir(controller string) (string, error)
}

func (c Container) readCgroup(controller, name string) ([]byte, error) {
	if c.Cgroups == nil {
		return nil, fmt.Errorf("container %s not registered: %w", c.ID, ErrNoController)
	}
	return c.Cgroups.ReadFile(controller, name)
}

// CPUCount is the number of CPUs the container may run on: its cpuset
// (v1 cpuset.effective_cpus, then cpuset.cpus; v2 cpuset.cpus.effective),
// or the host's online CPUs when no cpuset can be read.
func (c Container) CPUCount() (int, error) {
	cpus, err := c.CPUList()
	return len(cpus), err
}

// CPUUsage is the CPU time the container's cgroup has used: cpuacct.usage
// (ns) on cgroup v1, usage_usec of cpu.stat on v2.
func (c Container) CPUUsage() (time.Duration, error) {
	b, errV1 := c.readCgroup("cpuacct", "cpuacct.usage")
	if errV1 == nil {
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse cpuacct.usage %q: %w", bytes.TrimSpace(b), err)
		}
		return time.Duration(ns), nil
	}
	b, errV2 := c.readCgroup("", "cpu.stat")
	if errV2 != nil {
		return 0, fmt.Errorf("cpu usage of container %s: %w", c.ID, errors.Join(errV1, errV2))
	}
	us, err := statField(b, "usage_usec")
	if err != nil {
		return 0, fmt.Errorf("cpu.stat: %w", err)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// statField returns the value of key in a flat-keyed cgroup file
// ("key value" per line).
func statField(b []byte, key string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || k != key {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s %q: %w", key, v, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("no %s field", key)
}

// CountCPUList counts the CPUs in a kernel cpu list ("0-3,8,10-11\n").
// An empty list counts 0.
func CountCPUList(s string) (int, error) {
	cpus, err := ParseCPUList(s)
	return len(cpus), err
}

// OnlineCPUs counts the host's online CPUs: the "cpuN" lines of /proc/stat.
func (h Host) OnlineCPUs() (int, error) {
	cpus, err := h.OnlineCPUList()
	return len(cpus), err
}

// cgroupMissing tells whether err means the data is not there (no such
// controller, the container not registered yet, its cgroup removed or its
// reader closed), in which case handlers fall back to the host's values,
// rather than that it could not be parsed.
func cgroupMissing(err error) bool {
	return errors.Is(err, ErrNoController) || errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, ErrReaderClosed) || errors.Is(err, unix.ENODEV)
}
