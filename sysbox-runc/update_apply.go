package main

import (
	"fmt"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// applyResources copies the limits r sets onto a container's cgroup
// resources; what r leaves unset stays as it is.
func applyResources(dst *cgroups.Resources, r *specs.LinuxResources) error {
	if dst == nil {
		return fmt.Errorf("container has no cgroup resources")
	}
	if m := r.Memory; m != nil {
		setInt(&dst.Memory, m.Limit)
		setInt(&dst.MemoryReservation, m.Reservation)
		setInt(&dst.MemorySwap, m.Swap)
		if m.Limit != nil && m.Swap == nil && dst.MemorySwap > 0 && dst.MemorySwap < dst.Memory {
			// Docker semantics: raising memory above memory+swap raises both.
			dst.MemorySwap = dst.Memory
		}
	}
	if c := r.CPU; c != nil {
		setUint(&dst.CpuShares, c.Shares)
		setInt(&dst.CpuQuota, c.Quota)
		setUint(&dst.CpuPeriod, c.Period)
		setInt(&dst.CpuRtRuntime, c.RealtimeRuntime)
		setUint(&dst.CpuRtPeriod, c.RealtimePeriod)
		if c.Cpus != "" {
			dst.CpusetCpus = c.Cpus
		}
		if c.Mems != "" {
			dst.CpusetMems = c.Mems
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		v := *p.Limit
		dst.PidsLimit = &v
	}
	if b := r.BlockIO; b != nil && b.Weight != nil {
		dst.BlkioWeight = *b.Weight
	}
	return nil
}

func setInt(dst *int64, v *int64) {
	if v != nil {
		*dst = *v
	}
}

func setUint(dst *uint64, v *uint64) {
	if v != nil {
		*dst = *v
	}
}
