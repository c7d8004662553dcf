// Package handler computes the content of sysbox-fs's virtual files.
//
// Each virtual file is one Handler, in its own source file with its own
// tests, and is listed in the Table returned by Default under its path inside
// the container's FUSE tree ("proc/uptime"). A handler only sees a Container
// value: the container's identity, start time, init pid and cgroups, plus the
// host sources (clock, /proc root) it may read. Tests build a Container by
// hand over fake trees in t.TempDir() and compare the exact text.
package handler

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// Handler generates the full content of one virtual file for a container at
// the moment of the call.
type Handler interface {
	Content(c Container) ([]byte, error)
}

// SizeBounder is implemented by a handler whose content can be longer than
// a page: SizeBound is an upper bound of its length. The FUSE layer
// reports it as the file's size, which sendfile(2) and splice(2) stop at.
type SizeBounder interface {
	SizeBound() uint64
}

// Func adapts a plain function to Handler.
type Func func(c Container) ([]byte, error)

// Content calls f.
func (f Func) Content(c Container) ([]byte, error) { return f(c) }

// Table maps a virtual file's path inside the FUSE tree ("proc/uptime": no
// leading slash, the container sees it at "/proc/uptime") to its handler.
type Table map[string]Handler

// Default is the table sysbox-fs serves. To add a virtual file, add its
// handler in a file of its own and one line here.
func Default() Table {
	return Table{
		"proc/uptime":                   Uptime{},
		"proc/meminfo":                  Meminfo{},
		"proc/cpuinfo":                  NewCpuinfo("/proc"),
		"proc/stat":                     NewStat("/proc"),
		"proc/loadavg":                  NewLoadavg(),
		"proc/swaps":                    Swaps{},
		"proc/diskstats":                NewDiskstats("/proc"),
		"sys/devices/system/cpu/online": CPUOnline{},
	}
}

// Validate checks that every path is clean, relative and not empty, and that
// no file is also used as a directory by another entry ("proc/x" and
// "proc/x/y").
func (t Table) Validate() error {
	for p, h := range t {
		if p == "" || p != path.Clean(p) || path.IsAbs(p) || p == "." || strings.HasPrefix(p, "../") || p == ".." {
			return fmt.Errorf("handler path %q: want a clean relative path such as \"proc/uptime\"", p)
		}
		if h == nil {
			return fmt.Errorf("handler path %q: nil handler", p)
		}
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if _, ok := t[dir]; ok {
				return fmt.Errorf("handler path %q: %q is a file, cannot be its directory", p, dir)
			}
		}
	}
	return nil
}

// Paths returns the table's paths, sorted.
func (t Table) Paths() []string {
	ps := make([]string, 0, len(t))
	for p := range t {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}
