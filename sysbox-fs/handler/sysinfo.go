package handler

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// siLoadShift is the fixed-point shift of struct sysinfo's loads (the
// kernel's SI_LOAD_SHIFT); the load averages use loadFShift.
const siLoadShift = 16

// Sysinfo answers sysinfo(2) for a container (sysbox-fs's seccomp agent
// traps the call) from the same data as the container's virtual files, so
// that tools mixing both (busybox free takes total/free/shared/buffers from
// sysinfo and Cached/MemAvailable from /proc/meminfo) add up:
//
//	uptime          seconds since the container's start, rounded up as the
//	                kernel rounds its own (/proc/uptime truncates)
//	loads           the container's 1, 5 and 15 minute load averages, from
//	                the same sampler as its /proc/loadavg, in the kernel's
//	                1<<16 fixed point; the host's when there is no sampler
//	                or no task list
//	totalram,       MemTotal, MemFree, Shmem and Buffers of the container's
//	freeram,        /proc/meminfo (Meminfo), in bytes
//	sharedram,
//	bufferram
//	totalswap,      SwapTotal and SwapFree of the same file
//	freeswap
//	procs           the container's threads (the kernel counts threads),
//	                the host's when there is no task list; at most 65535
//	totalhigh,      0 (no high memory on 64-bit hosts)
//	freehigh
//	mem_unit        1
//
// A container not registered yet (no cgroups) gets the host's figures with
// its own uptime, as its /proc files show.
type Sysinfo struct {
	// load is the table's /proc/loadavg handler, nil when the table has
	// none.
	load *Loadavg
}

// NewSysinfo answers from the handlers of t: the load averages come from
// t's "proc/loadavg" sampler when it has one, so sysinfo and the file
// report the same averages.
func NewSysinfo(t Table) *Sysinfo {
	l, _ := t["proc/loadavg"].(*Loadavg)
	return &Sysinfo{load: l}
}

// Info builds the struct sysinfo for c.
func (s *Sysinfo) Info(c Container) (unix.Sysinfo_t, error) {
	var si unix.Sysinfo_t
	mem, err := Meminfo{}.Content(c)
	if err != nil {
		return si, fmt.Errorf("sysinfo: %w", err)
	}
	fields := [...]struct {
		key string
		dst *uint64
	}{
		{"MemTotal", &si.Totalram}, {"MemFree", &si.Freeram}, {"Shmem", &si.Sharedram},
		{"Buffers", &si.Bufferram}, {"SwapTotal", &si.Totalswap}, {"SwapFree", &si.Freeswap},
	}
	for _, f := range fields {
		kb, ok := meminfoValue(mem, f.key)
		if !ok && (f.key == "MemTotal" || f.key == "MemFree") {
			return si, fmt.Errorf("sysinfo: container %s: no %s in its meminfo", c.ID, f.key)
		}
		*f.dst = kb * 1024
	}
	si.Unit = 1

	up := c.Host.Now().Sub(c.StartTime)
	if up < 0 {
		up = 0
	}
	si.Uptime = int64((up + time.Second - 1) / time.Second)

	loads, threads, err := s.loads(c)
	if err != nil {
		return si, fmt.Errorf("sysinfo: %w", err)
	}
	for i, a := range loads {
		si.Loads[i] = a
	}
	si.Procs = uint16(min(threads, math.MaxUint16))
	return si, nil
}

// loads returns the container's load averages (1<<16 fixed point) and
// thread count, or the host's when the container has no task list or s no
// sampler.
func (s *Sysinfo) loads(c Container) ([3]uint64, int, error) {
	if s.load != nil {
		n, err := s.load.tasks.get(c)
		switch {
		case err == nil:
			avg := s.load.sample(c.ID, c.StartTime, c.Host.Now(), uint64(n.running+n.blocked))
			for i := range avg {
				avg[i] <<= siLoadShift - loadFShift
			}
			return avg, n.total, nil
		case !cgroupMissing(err):
			return [3]uint64{}, 0, err
		}
	}
	return hostLoads(c.Host)
}

// hostLoads parses the host's /proc/loadavg: "1.79 2.27 2.97 2/143 6235",
// whose fourth field counts the host's threads.
func hostLoads(h Host) ([3]uint64, int, error) {
	var avg [3]uint64
	b, err := h.readProc("loadavg")
	if err != nil {
		return avg, 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 4 {
		return avg, 0, fmt.Errorf("host loadavg %q: want 5 fields", b)
	}
	for i := range avg {
		v, err := strconv.ParseFloat(string(f[i]), 64)
		if err != nil || v < 0 {
			return avg, 0, fmt.Errorf("host loadavg %q: field %d", b, i+1)
		}
		avg[i] = uint64(math.Round(v * (1 << siLoadShift)))
	}
	_, total, ok := bytes.Cut(f[3], []byte{'/'})
	n, okN := parseUint(total)
	if !ok || !okN {
		return avg, 0, fmt.Errorf("host loadavg %q: field 4", b)
	}
	return avg, int(min(n, math.MaxInt32)), nil
}
