package syscont

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// pingGroupRange is the sysctl Docker sets to "0 2147483647" for every container with its own
// network namespace, so that any user may open ICMP echo sockets.
const pingGroupRange = "net.ipv4.ping_group_range"

// stepSysctl fits the spec's sysctls to the container's user namespace. The kernel refuses
// (EINVAL) a net.ipv4.ping_group_range whose bounds are not gids of the writer's user
// namespace, and libcontainer writes the spec's sysctls from inside it, so Docker's
// "0 2147483647" would fail every container (measured). The range is clamped to the gids
// mapped from 0 (e.g. "0 65535"): the same meaning, "every user of the container". A range
// entirely outside the mapped gids becomes "1 0", the kernel's "nobody".
func stepSysctl(s *specs.Spec, _ Options, _ Inputs) error {
	v, ok := s.Linux.Sysctl[pingGroupRange]
	if !ok {
		return nil
	}
	fields := strings.Fields(v)
	if len(fields) != 2 {
		return fmt.Errorf("sysctl %s=%q: want two gids", pingGroupRange, v)
	}
	low, err1 := strconv.ParseUint(fields[0], 10, 32)
	high, err2 := strconv.ParseUint(fields[1], 10, 32)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("sysctl %s=%q: want two gids", pingGroupRange, v)
	}
	top := mappedFromZero(s.Linux.GIDMappings)
	if top == 0 {
		return nil // no user namespace mapping: nothing to fit
	}
	last := top - 1
	if low > last || low > high {
		s.Linux.Sysctl[pingGroupRange] = "1 0"
		return nil
	}
	s.Linux.Sysctl[pingGroupRange] = fmt.Sprintf("%d %d", low, min(high, last))
	return nil
}

// mappedFromZero returns n such that container ids 0..n-1 are all mapped (0 if id 0 is not).
func mappedFromZero(maps []specs.LinuxIDMapping) uint64 {
	next := uint64(0)
	for progress := true; progress; {
		progress = false
		for _, m := range maps {
			start, end := uint64(m.ContainerID), uint64(m.ContainerID)+uint64(m.Size)
			if start <= next && next < end {
				next, progress = end, true
			}
		}
	}
	return next
}
