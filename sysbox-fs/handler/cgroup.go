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
	sources := []struct{ controller, file string }{
		{"cpuset", "cpuset.effective_cpus"},
		{"cpuset", "cpuset.cpus"},
		{"", "cpuset.cpus.effective"},
	}
	for _, s := range sources {
		b, err := c.readCgroup(s.controller, s.file)
		if err != nil {
			continue
		}
		if n, err := CountCPUList(string(b)); err == nil && n > 0 {
			return n, nil
		}
	}
	return c.Host.OnlineCPUs()
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
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 {
			return 0, fmt.Errorf("cpu list %q: bad cpu %q", s, lo)
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil || last < first {
				return 0, fmt.Errorf("cpu list %q: bad range %q", s, part)
			}
		}
		n += last - first + 1
	}
	return n, nil
}

// OnlineCPUs counts the host's online CPUs: the "cpuN" lines of /proc/stat.
func (h Host) OnlineCPUs() (int, error) {
	b, err := h.readProc("stat")
	if err != nil {
		return 0, fmt.Errorf("host cpus: %w", err)
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	// The cpu lines come first; stop before the (possibly huge) intr line.
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "cpu") {
			break
		}
		if len(line) > 3 && line[3] >= '0' && line[3] <= '9' {
			n++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("host cpus: no cpuN line in %s/stat", h.ProcRoot)
	}
	return n, nil
}

// cgroupMissing tells whether err means the data is not there (no such
// controller, the container not registered yet, its cgroup removed or its
// reader closed), in which case handlers fall back to the host's values,
// rather than that it could not be parsed.
func cgroupMissing(err error) bool {
	return errors.Is(err, ErrNoController) || errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, ErrReaderClosed) || errors.Is(err, unix.ENODEV)
}
