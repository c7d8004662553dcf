package handler

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// unlimited is a limit that is not set.
const unlimited = math.MaxUint64

// cgroupMemory is the container's memory cgroup in bytes, read from cgroup
// v1 or v2 and normalized to the same fields.
type cgroupMemory struct {
	// limit is the memory limit, unlimited when none is set.
	limit uint64
	// usage is the memory charged to the cgroup, page cache included.
	usage uint64
	// From memory.stat (v1: the hierarchical total_* fields).
	cache, shmem, mapped, dirty, writeback, anon, anonTHP uint64
	swapCached                                            uint64
	activeAnon, inactiveAnon, activeFile, inactiveFile    uint64
	unevictable                                           uint64
	// slabReclaimable and slabUnreclaimable are known on v2 only.
	slabReclaimable, slabUnreclaimable uint64
	hasSlab                            bool
	// swapLimit (unlimited when none) and swapUsage, when hasSwap: v1
	// needs swap accounting (memory.memsw.* files), v2 memory.swap.*.
	swapLimit, swapUsage uint64
	hasSwap              bool
}

// memory reads the container's memory cgroup: v1 "memory" first, then the
// v2 unified directory. It fails with ErrNoController when neither can be
// read.
func (c Container) memory() (cgroupMemory, error) {
	m, errV1 := c.memoryV1()
	if errV1 == nil {
		return m, nil
	}
	if !cgroupMissing(errV1) { // there, but unreadable: not a fallback case
		return m, fmt.Errorf("memory cgroup of container %s: %w", c.ID, errV1)
	}
	m, errV2 := c.memoryV2()
	if errV2 == nil {
		return m, nil
	}
	return cgroupMemory{}, fmt.Errorf("memory cgroup of container %s: %w", c.ID, errors.Join(errV1, errV2))
}

func (c Container) memoryV1() (cgroupMemory, error) {
	var m cgroupMemory
	usage, err := c.readCgroupUint("memory", "memory.usage_in_bytes")
	if err != nil {
		return m, err
	}
	b, err := c.readCgroup("memory", "memory.stat")
	if err != nil {
		return m, err
	}
	m.usage = usage
	// Sub-cgroups (Docker or systemd inside) are charged to the container:
	// the total_* fields count them, the plain ones do not. The
	// hierarchical limits are the smallest of the cgroup's own and its
	// ancestors', which saves reading memory.limit_in_bytes and
	// memory.memsw.limit_in_bytes (one pread each).
	hierMemLimit, hasHierMem := uint64(unlimited), false
	hierSwLimit, hasHierSw := uint64(unlimited), false
	swapStat, hasSwapStat := uint64(0), false
	forEachStat(b, func(k []byte, v uint64) {
		switch string(k) {
		case "total_cache":
			m.cache = v
		case "total_shmem":
			m.shmem = v
		case "total_mapped_file":
			m.mapped = v
		case "total_dirty":
			m.dirty = v
		case "total_writeback":
			m.writeback = v
		case "total_rss":
			m.anon = v
		case "total_rss_huge":
			m.anonTHP = v
		case "total_swapcached":
			m.swapCached = v
		case "total_active_anon":
			m.activeAnon = v
		case "total_inactive_anon":
			m.inactiveAnon = v
		case "total_active_file":
			m.activeFile = v
		case "total_inactive_file":
			m.inactiveFile = v
		case "total_unevictable":
			m.unevictable = v
		case "total_swap":
			swapStat, hasSwapStat = v, true
		case "hierarchical_memory_limit":
			hierMemLimit, hasHierMem = v, true
		case "hierarchical_memsw_limit":
			hierSwLimit, hasHierSw = v, true
		}
	})
	m.limit = hierMemLimit
	if !hasHierMem {
		if m.limit, err = c.readCgroupUint("memory", "memory.limit_in_bytes"); err != nil {
			return m, err
		}
	}
	// Without swap accounting (swapaccount=0) the memsw files do not exist
	// and memory.stat has no swap figures: no swap data.
	swUsage, err := c.readCgroupUint("memory", "memory.memsw.usage_in_bytes")
	if err != nil {
		return m, nil
	}
	swLimit := hierSwLimit
	if !hasHierSw {
		if swLimit, err = c.readCgroupUint("memory", "memory.memsw.limit_in_bytes"); err != nil {
			return m, nil
		}
	}
	m.hasSwap = true
	// memsw is memory + swap: the swap limit is what it allows beyond the
	// memory limit (0 when both are equal, as with docker --memory-swap
	// equal to --memory).
	switch {
	case swLimit >= v1Unlimited || m.limit >= v1Unlimited:
		m.swapLimit = unlimited
	case swLimit > m.limit:
		m.swapLimit = swLimit - m.limit
	}
	if hasSwapStat {
		m.swapUsage = swapStat
	} else if swUsage > usage {
		m.swapUsage = swUsage - usage
	}
	return m, nil
}

// v1Unlimited is the smallest value a v1 limit reads as when not set
// (PAGE_COUNTER_MAX pages: 9223372036854771712 with 4 KiB pages, a bit less
// with larger pages); anything from 2^62 on is treated as no limit.
const v1Unlimited = 1 << 62

func (c Container) memoryV2() (cgroupMemory, error) {
	var m cgroupMemory
	usage, err := c.readCgroupUint("", "memory.current")
	if err != nil {
		return m, err
	}
	limit, err := c.readCgroupUint("", "memory.max")
	if err != nil {
		return m, err
	}
	b, err := c.readCgroup("", "memory.stat")
	if err != nil {
		return m, err
	}
	m.usage, m.limit = usage, limit
	forEachStat(b, func(k []byte, v uint64) {
		switch string(k) {
		case "file":
			m.cache = v
		case "shmem":
			m.shmem = v
		case "file_mapped":
			m.mapped = v
		case "file_dirty":
			m.dirty = v
		case "file_writeback":
			m.writeback = v
		case "anon":
			m.anon = v
		case "anon_thp":
			m.anonTHP = v
		case "swapcached":
			m.swapCached = v
		case "active_anon":
			m.activeAnon = v
		case "inactive_anon":
			m.inactiveAnon = v
		case "active_file":
			m.activeFile = v
		case "inactive_file":
			m.inactiveFile = v
		case "unevictable":
			m.unevictable = v
		case "slab_reclaimable":
			m.slabReclaimable, m.hasSlab = v, true
		case "slab_unreclaimable":
			m.slabUnreclaimable, m.hasSlab = v, true
		}
	})
	swLimit, errL := c.readCgroupUint("", "memory.swap.max")
	swUsage, errU := c.readCgroupUint("", "memory.swap.current")
	if errL == nil && errU == nil {
		m.hasSwap, m.swapLimit, m.swapUsage = true, swLimit, swUsage
	}
	return m, nil
}

// readCgroupUint reads a cgroup file holding one number, or "max" (v2's
// no limit, returned as unlimited).
func (c Container) readCgroupUint(controller, name string) (uint64, error) {
	b, err := c.readCgroup(controller, name)
	if err != nil {
		return 0, err
	}
	b = bytes.TrimSpace(b)
	if string(b) == "max" {
		return unlimited, nil
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s %q: %w", name, b, err)
	}
	return n, nil
}

// forEachStat calls f for each "key value" line of a flat-keyed cgroup file
// whose value is an unsigned number; other lines are skipped.
func forEachStat(b []byte, f func(key []byte, v uint64)) {
	for len(b) > 0 {
		var line []byte
		line, b = cutLine(b)
		line = trimNewline(line)
		k, v, ok := bytes.Cut(line, []byte{' '})
		if !ok {
			continue
		}
		if n, ok := parseUint(v); ok {
			f(k, n)
		}
	}
}

// parseUint parses a decimal number without allocating.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		d := uint64(ch - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// containerMem is the container's memory as /proc/meminfo and /proc/swaps
// show it, in kB.
type containerMem struct {
	total, free, available, cached uint64
	swapTotal, swapFree            uint64
}

// computeMem derives the container's figures from its cgroup and the host's
// MemTotal and swap size (kB). See Meminfo for the formulas.
func computeMem(m cgroupMemory, hostTotal, hostSwapTotal uint64) containerMem {
	var cm containerMem
	cm.total = min(hostTotal, m.limit/1024)
	usage := min(m.usage/1024, cm.total)
	cm.free = cm.total - usage
	cm.available = cm.free + min(m.inactiveFile/1024, usage)
	cm.cached = min(m.cache/1024, usage)
	cm.swapTotal = min(hostSwapTotal, m.swapLimit/1024)
	cm.swapFree = cm.swapTotal - min(m.swapUsage/1024, cm.swapTotal)
	return cm
}
