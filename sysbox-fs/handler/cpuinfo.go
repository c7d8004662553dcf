package handler

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// cpuinfoRefresh is how long a parsed host cpuinfo is reused. The blocks
// only change with CPU hotplug and, for "cpu MHz", with frequency scaling;
// reading /proc/cpuinfo is slow on large hosts (the kernel samples each
// CPU's frequency), so it is read at most once per interval per host /proc.
const cpuinfoRefresh = 10 * time.Second

// Cpuinfo is /proc/cpuinfo with only the container's CPUs (CPUList), in
// their host order and renumbered from 0: container CPU i is host CPU
// CPUList()[i], and its block is the host's block for that CPU with the
// "processor" line's number replaced by i. Every other field (core id,
// apicid, siblings, flags...) is the host's. Blocks of the host file that
// are not a CPU's (a header or trailer some architectures print) are kept
// in place; a cpuset CPU the host does not list (offline) is left out. A
// host cpuinfo without "processor" blocks (s390x's layout) is served as is.
type Cpuinfo struct {
	bound hostBound

	mu    sync.Mutex
	cache map[string]*hostCpuinfo // by host /proc root
}

// NewCpuinfo returns the handler; procRoot is the host /proc whose
// cpuinfo bounds the file size (SizeBound), "/proc".
func NewCpuinfo(procRoot string) *Cpuinfo {
	return &Cpuinfo{
		bound: hostBound{path: procRoot + "/cpuinfo", refresh: time.Minute},
		cache: map[string]*hostCpuinfo{},
	}
}

// SizeBound implements SizeBounder: the content is never longer than the
// host's cpuinfo (fewer blocks, numbers of no more digits).
func (ci *Cpuinfo) SizeBound() uint64 { return ci.bound.get() }

// hostCpuinfo is a parsed host cpuinfo, never modified once built.
type hostCpuinfo struct {
	at   time.Time
	raw  []byte
	head [][]byte // blocks before the first CPU's, each with its "\n\n"
	tail [][]byte // blocks after the last CPU's
	cpus map[int]cpuBlock
}

// cpuBlock is one CPU's block: the processor line up to its number
// ("processor\t: "), and everything after that line, "\n\n" included.
type cpuBlock struct {
	prefix, rest []byte
}

// Content implements Handler.
func (ci *Cpuinfo) Content(c Container) ([]byte, error) {
	cpus, err := c.CPUList()
	if err != nil {
		return nil, fmt.Errorf("cpuinfo: %w", err)
	}
	h, err := ci.host(c.Host)
	if err != nil {
		return nil, err
	}
	if len(h.cpus) == 0 {
		return h.raw, nil
	}
	out := make([]byte, 0, len(h.raw))
	for _, b := range h.head {
		out = append(out, b...)
	}
	i := 0
	for _, cpu := range cpus {
		blk, ok := h.cpus[cpu]
		if !ok {
			continue
		}
		out = append(out, blk.prefix...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, blk.rest...)
		i++
	}
	for _, b := range h.tail {
		out = append(out, b...)
	}
	return out, nil
}

// host returns the parsed cpuinfo of h's /proc, read again when older than
// cpuinfoRefresh.
func (ci *Cpuinfo) host(h Host) (*hostCpuinfo, error) {
	now := h.Now()
	ci.mu.Lock()
	defer ci.mu.Unlock()
	if p := ci.cache[h.ProcRoot]; p != nil && now.Sub(p.at) < cpuinfoRefresh && !now.Before(p.at) {
		return p, nil
	}
	raw, err := h.readProc("cpuinfo")
	if err != nil {
		return nil, fmt.Errorf("cpuinfo: %w", err)
	}
	p := parseCpuinfo(raw)
	p.at = now
	ci.cache[h.ProcRoot] = p
	return p, nil
}

// parseCpuinfo splits a cpuinfo file into blocks separated by a blank line
// and indexes those that start with a "processor : N" line.
func parseCpuinfo(raw []byte) *hostCpuinfo {
	p := &hostCpuinfo{raw: raw, cpus: map[int]cpuBlock{}}
	rest := raw
	for len(rest) > 0 {
		blk := rest
		if i := bytes.Index(rest, []byte("\n\n")); i >= 0 {
			blk, rest = rest[:i+2], rest[i+2:]
		} else {
			rest = nil
		}
		cpu, b, ok := parseCPUBlock(blk)
		switch {
		case ok:
			if _, dup := p.cpus[cpu]; dup {
				return &hostCpuinfo{raw: raw} // not a layout we know
			}
			p.cpus[cpu] = b
		case len(p.cpus) == 0:
			p.head = append(p.head, blk)
		default:
			p.tail = append(p.tail, blk)
		}
	}
	return p
}

// parseCPUBlock recognizes a block whose first line is "processor<ws>: N".
func parseCPUBlock(blk []byte) (int, cpuBlock, bool) {
	line, _, ok := bytes.Cut(blk, []byte{'\n'})
	if !ok {
		return 0, cpuBlock{}, false
	}
	key, val, ok := bytes.Cut(line, []byte{':'})
	if !ok || string(bytes.TrimRight(key, " \t")) != "processor" {
		return 0, cpuBlock{}, false
	}
	num := bytes.TrimLeft(val, " \t")
	n, ok := parseUint(num)
	if !ok || n >= maxCPUs {
		return 0, cpuBlock{}, false
	}
	prefix := line[:len(line)-len(num)]
	return int(n), cpuBlock{prefix: prefix, rest: blk[len(line):]}, true
}
