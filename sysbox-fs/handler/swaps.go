package handler

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
)

// Swaps is /proc/swaps: the header alone when the container has no swap
// (the host has none, or the container's swap limit is 0, as with docker
// --memory-swap equal to --memory); otherwise one line, named after the
// host's first swap area (its file name, type and priority), with the
// container's SwapTotal as Size and its swap usage as Used, the same
// figures as /proc/meminfo's SwapTotal and SwapTotal - SwapFree (see
// Meminfo). Without a memory cgroup or without swap accounting the file is
// the host's.
type Swaps struct{}

// Content implements Handler.
func (Swaps) Content(c Container) ([]byte, error) {
	host, err := c.Host.readProc("swaps")
	if err != nil {
		return nil, fmt.Errorf("swaps: %w", err)
	}
	m, err := c.memory()
	if err != nil {
		if cgroupMissing(err) {
			return host, nil
		}
		return nil, fmt.Errorf("swaps: %w", err)
	}
	if !m.hasSwap {
		return host, nil
	}
	header, entries, _ := bytes.Cut(host, []byte{'\n'})
	out := append(make([]byte, 0, 160), header...)
	out = append(out, '\n')

	// The host's areas: the first names the line; their sizes sum to the
	// host's swap size.
	var first [][]byte
	var hostSize uint64
	for _, line := range bytes.Split(entries, []byte{'\n'}) {
		f := bytes.Fields(line)
		if len(f) < 5 {
			continue
		}
		size, ok := parseUint(f[len(f)-3])
		if !ok {
			return nil, fmt.Errorf("swaps: bad size in host line %q", line)
		}
		hostSize += size
		if first == nil {
			first = f
		}
	}
	cm := computeMem(m, math.MaxUint64, hostSize)
	if first == nil || cm.swapTotal == 0 {
		return out, nil
	}
	name := bytes.Join(first[:len(first)-4], []byte{' '})
	typ := first[len(first)-4]
	prio, err := strconv.Atoi(string(first[len(first)-1]))
	if err != nil {
		return nil, fmt.Errorf("swaps: bad priority in host line: %w", err)
	}
	return appendSwapLine(out, name, typ, cm.swapTotal, cm.swapTotal-cm.swapFree, prio), nil
}

// appendSwapLine appends one area in the kernel's layout: the name padded to
// 40 columns (at least one space), the type ("file" takes a tab more than
// "partition"), then size, used and priority separated by tabs, with a
// second tab after numbers below 10000000.
func appendSwapLine(b, name, typ []byte, size, used uint64, prio int) []byte {
	b = append(b, name...)
	for pad := max(40-len(name), 1); pad > 0; pad-- {
		b = append(b, ' ')
	}
	b = append(b, typ...)
	if string(typ) == "file" {
		b = append(b, '\t')
	}
	b = append(b, '\t')
	b = strconv.AppendUint(b, size, 10)
	b = append(b, '\t')
	if size < 10000000 {
		b = append(b, '\t')
	}
	b = strconv.AppendUint(b, used, 10)
	b = append(b, '\t')
	if used < 10000000 {
		b = append(b, '\t')
	}
	b = strconv.AppendInt(b, int64(prio), 10)
	return append(b, '\n')
}
