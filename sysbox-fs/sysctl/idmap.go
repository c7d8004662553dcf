package sysctl

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// pingGroupRange is the pass-through knob whose values are gids: the
// kernel reads and writes them in the user namespace of the process doing
// it, which the daemon's threads (host root) are not in.
const pingGroupRange = "net/ipv4/ping_group_range"

// overflowID is what an id the user namespace does not map shows as
// (/proc/sys/kernel/overflowgid's default).
const overflowID = 65534

// idExtent is one line of a uid_map or gid_map.
type idExtent struct{ in, out, n uint64 }

// idMap is a user namespace's gid_map (or uid_map).
type idMap []idExtent

// parseIDMap parses the text of /proc/<pid>/gid_map.
func parseIDMap(s string) (idMap, error) {
	var m idMap
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("id map line %q: want 3 fields", line)
		}
		var e idExtent
		for i, p := range []*uint64{&e.in, &e.out, &e.n} {
			v, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("id map line %q: %w", line, err)
			}
			*p = v
		}
		m = append(m, e)
	}
	return m, nil
}

// toHost maps an id of the namespace to the host's, as make_kgid does.
func (m idMap) toHost(id uint64) (uint64, bool) {
	for _, e := range m {
		if id >= e.in && id-e.in < e.n {
			return e.out + id - e.in, true
		}
	}
	return 0, false
}

// fromHost maps a host id into the namespace, as from_kgid_munged does:
// an unmapped one shows as the overflow id.
func (m idMap) fromHost(id uint64) uint64 {
	for _, e := range m {
		if id >= e.out && id-e.out < e.n {
			return e.in + id - e.out
		}
	}
	return overflowID
}

// gidRangeToHost turns a ping_group_range written in the namespace ("0
// 2147483647") into the host's gids, with the kernel's checks: two
// non-negative decimal ints, each a gid the namespace maps, else EINVAL.
func gidRangeToHost(s string, m idMap) (string, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return "", fmt.Errorf("ping_group_range %q: want two gids: %w", strings.TrimSpace(s), syscall.EINVAL)
	}
	var out [2]uint64
	for i, x := range f {
		v, err := strconv.ParseInt(x, 10, 32)
		if err != nil || v < 0 {
			return "", fmt.Errorf("ping_group_range %q: %q is no gid from 0 to 2147483647: %w", strings.TrimSpace(s), x, syscall.EINVAL)
		}
		h, ok := m.toHost(uint64(v))
		if !ok {
			return "", fmt.Errorf("ping_group_range %q: gid %d is not mapped in the user namespace: %w", strings.TrimSpace(s), v, syscall.EINVAL)
		}
		out[i] = h
	}
	return fmt.Sprintf("%d %d\n", out[0], out[1]), nil
}

// gidRangeFromHost turns the kernel's ping_group_range as host root reads
// it (host gids) into what a reader in the namespace gets.
func gidRangeFromHost(s string, m idMap) (string, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return "", fmt.Errorf("ping_group_range %q: want two gids", s)
	}
	var in [2]uint64
	for i, x := range f {
		v, err := strconv.ParseUint(x, 10, 32)
		if err != nil {
			return "", fmt.Errorf("ping_group_range %q: %w", s, err)
		}
		in[i] = m.fromHost(v)
	}
	return fmt.Sprintf("%d\t%d\n", in[0], in[1]), nil
}
