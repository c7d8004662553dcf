package handler

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxCPUs bounds the CPU numbers a cpu list may name (the kernel's
// NR_CPUS is at most 8192), so a corrupt list cannot make us allocate
// without bound.
const maxCPUs = 1 << 13

// CPUList is the host CPU numbers the container may run on, ascending: its
// cpuset, read from the same files in the same order as CPUCount (v1
// cpuset.effective_cpus, then cpuset.cpus; v2 cpuset.cpus.effective), or the
// host's online CPUs when no cpuset can be read. The container sees them
// renumbered from 0: host CPU CPUList()[i] is the container's CPU i.
func (c Container) CPUList() ([]int, error) {
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
		if cpus, err := ParseCPUList(string(b)); err == nil && len(cpus) > 0 {
			return cpus, nil
		}
	}
	return c.Host.OnlineCPUList()
}

// ParseCPUList returns the CPUs of a kernel cpu list ("0-3,8,10-11\n"),
// ascending and without duplicates. An empty list gives none.
func ParseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var cpus []int
	sorted := true
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 || first >= maxCPUs {
			return nil, fmt.Errorf("cpu list %q: bad cpu %q", s, lo)
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil || last < first || last >= maxCPUs {
				return nil, fmt.Errorf("cpu list %q: bad range %q", s, part)
			}
		}
		if len(cpus) > 0 && first <= cpus[len(cpus)-1] {
			sorted = false
		}
		for i := first; i <= last; i++ {
			cpus = append(cpus, i)
		}
	}
	// The kernel prints lists ascending; sort others (hand-written ones).
	if !sorted {
		slices.Sort(cpus)
		cpus = slices.Compact(cpus)
	}
	return cpus, nil
}

// OnlineCPUList is the host's online CPUs: the numbers of the "cpuN" lines
// of /proc/stat, ascending.
func (h Host) OnlineCPUList() ([]int, error) {
	b, err := h.readProc("stat")
	if err != nil {
		return nil, fmt.Errorf("host cpus: %w", err)
	}
	var cpus []int
	sc := bufio.NewScanner(bytes.NewReader(b))
	// The cpu lines come first; stop before the (possibly huge) intr line.
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "cpu") {
			break
		}
		name, _, _ := strings.Cut(line, " ")
		if n, err := strconv.Atoi(name[3:]); err == nil && n >= 0 {
			cpus = append(cpus, n)
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("host cpus: no cpuN line in %s/stat", h.ProcRoot)
	}
	return cpus, nil
}

// appendCPURange appends the kernel cpu list of CPUs 0..n-1: "0-3", "0".
func appendCPURange(b []byte, n int) []byte {
	b = append(b, '0')
	if n > 1 {
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(n-1), 10)
	}
	return b
}
