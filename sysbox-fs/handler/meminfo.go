package handler

import (
	"bytes"
	"fmt"
	"strconv"
)

// Meminfo is /proc/meminfo: the host's file with the lines the container's
// memory cgroup knows about replaced, in the kernel's layout (the label and
// colon padded to 16 columns, the value right-aligned in 8, " kB"); every
// other line is copied from the host byte for byte, and no line is added or
// removed, so parsers (procps free/top, busybox, Go/Python libraries) read
// it as they read the host's.
//
// All figures in kB; usage is memory.usage_in_bytes (v1) or memory.current
// (v2), limit is memory.limit_in_bytes capped by the hierarchical limit from
// memory.stat (v1) or memory.max (v2); stat fields are the total_* ones of
// memory.stat on v1 (sub-cgroups included) and the plain ones on v2:
//
//	MemTotal     = min(host MemTotal, limit)  (no limit, or above the host: the host's)
//	MemFree      = MemTotal - usage           (usage includes the page cache)
//	MemAvailable = MemFree + inactive_file    = MemTotal - working set,
//	               where working set = usage - inactive_file, the figure
//	               docker stats and the kubelet report as the container's
//	               memory use; so procps >= 4 free (used = MemTotal -
//	               MemAvailable) shows the working set as "used", and older
//	               procps (used = MemTotal - MemFree - Buffers - Cached -
//	               SReclaimable) shows usage minus the page cache.
//	Buffers      = 0 (a cgroup charges buffers as page cache: in Cached)
//	Cached       = cache (v1) / file (v2), shmem included as in the kernel
//	Active, Inactive, Active/Inactive(anon/file), Unevictable, Shmem,
//	AnonPages (rss / anon), AnonHugePages (rss_huge / anon_thp), Mapped,
//	Dirty, Writeback, SwapCached: the memory.stat fields of the same meaning
//	Slab, SReclaimable, SUnreclaim, KReclaimable: v2 slab_reclaimable and
//	               slab_unreclaimable; 0 on v1, whose memory.stat does not
//	               split kernel memory (the host's values would exceed the
//	               container and make older procps' "used" negative)
//	SwapTotal    = min(host SwapTotal, swap limit): v1 memsw limit minus
//	               memory limit, v2 memory.swap.max; 0 when the host has no swap
//	SwapFree     = SwapTotal - swap usage (v1 total_swap, or memsw usage minus
//	               usage; v2 memory.swap.current)
//
// Every value is capped at MemTotal. Without swap accounting (v1 booted
// with swapaccount=0) the Swap lines are the host's. Without a memory cgroup
// (not registered yet, or no memory controller) the whole file is the host's.
type Meminfo struct{}

// Content implements Handler.
func (Meminfo) Content(c Container) ([]byte, error) {
	host, err := c.Host.readProc("meminfo")
	if err != nil {
		return nil, fmt.Errorf("meminfo: %w", err)
	}
	m, err := c.memory()
	if err != nil {
		if cgroupMissing(err) {
			return host, nil
		}
		// A memory cgroup that exists but cannot be parsed is a bug to
		// see, not a host view to hide it behind.
		return nil, fmt.Errorf("meminfo: %w", err)
	}
	hostTotal, okTotal := meminfoValue(host, "MemTotal")
	if !okTotal {
		return nil, fmt.Errorf("meminfo: no MemTotal in the host's %s/meminfo", c.Host.ProcRoot)
	}
	hostSwap, _ := meminfoValue(host, "SwapTotal")
	cm := computeMem(m, hostTotal, hostSwap)

	kb := func(v uint64) uint64 { return min(v/1024, cm.total) }
	out := make([]byte, 0, len(host)+64)
	for len(host) > 0 {
		var line []byte
		line, host = cutLine(host)
		label, _, _ := bytes.Cut(line, []byte{':'})
		v, replace := uint64(0), true
		switch string(label) {
		case "MemTotal":
			v = cm.total
		case "MemFree":
			v = cm.free
		case "MemAvailable":
			v = cm.available
		case "Buffers":
			v = 0
		case "Cached":
			v = cm.cached
		case "SwapCached":
			v = kb(m.swapCached)
		case "Active":
			v = kb(m.activeAnon + m.activeFile)
		case "Inactive":
			v = kb(m.inactiveAnon + m.inactiveFile)
		case "Active(anon)":
			v = kb(m.activeAnon)
		case "Inactive(anon)":
			v = kb(m.inactiveAnon)
		case "Active(file)":
			v = kb(m.activeFile)
		case "Inactive(file)":
			v = kb(m.inactiveFile)
		case "Unevictable":
			v = kb(m.unevictable)
		case "Dirty":
			v = kb(m.dirty)
		case "Writeback":
			v = kb(m.writeback)
		case "AnonPages":
			v = kb(m.anon)
		case "Mapped":
			v = kb(m.mapped)
		case "Shmem":
			v = kb(m.shmem)
		case "AnonHugePages":
			v = kb(m.anonTHP)
		case "KReclaimable", "SReclaimable":
			v = kb(m.slabReclaimable)
		case "SUnreclaim":
			v = kb(m.slabUnreclaimable)
		case "Slab":
			v = kb(m.slabReclaimable + m.slabUnreclaimable)
		case "SwapTotal":
			v, replace = cm.swapTotal, m.hasSwap
		case "SwapFree":
			v, replace = cm.swapFree, m.hasSwap
		default:
			replace = false
		}
		if !replace {
			out = append(out, line...)
			continue
		}
		out = appendMeminfoLine(out, label, v)
	}
	return out, nil
}

// appendMeminfoLine appends "<label>:" padded to 16 columns, v right-aligned
// in 8 and " kB\n", the layout of the kernel's meminfo.
func appendMeminfoLine(b, label []byte, v uint64) []byte {
	start := len(b)
	b = append(b, label...)
	b = append(b, ':')
	for len(b)-start < 16 {
		b = append(b, ' ')
	}
	var num [20]byte
	digits := strconv.AppendUint(num[:0], v, 10)
	for i := len(digits); i < 8; i++ {
		b = append(b, ' ')
	}
	b = append(b, digits...)
	return append(b, " kB\n"...)
}

// meminfoValue returns the number of the "key:" line of a meminfo file.
func meminfoValue(b []byte, key string) (uint64, bool) {
	for len(b) > 0 {
		var line []byte
		line, b = cutLine(b)
		line = trimNewline(line)
		label, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok || string(label) != key {
			continue
		}
		rest = bytes.TrimSpace(rest)
		rest = bytes.TrimSuffix(rest, []byte(" kB"))
		return parseUint(bytes.TrimSpace(rest))
	}
	return 0, false
}
