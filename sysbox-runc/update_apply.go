package main

import (
	"errors"
	"fmt"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer/configs"
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
		switch {
		case m.Limit != nil && *m.Limit == -1 && m.Swap == nil:
			// Unlimited memory with the old swap limit would be refused
			// (memory+swap below memory): lift both.
			dst.MemorySwap = -1
		case m.Limit != nil && m.Swap == nil && dst.MemorySwap > 0 && dst.MemorySwap < dst.Memory:
			// Docker semantics: raising memory above memory+swap raises both.
			dst.MemorySwap = dst.Memory
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil {
			dst.CpuShares = *c.Shares
			dst.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(*c.Shares)
		}
		setInt(&dst.CpuQuota, c.Quota)
		setUint(&dst.CpuPeriod, c.Period)
		setInt(&dst.CpuRtRuntime, c.RealtimeRuntime)
		setUint(&dst.CpuRtPeriod, c.RealtimePeriod)
		if c.Burst != nil {
			v := *c.Burst
			dst.CpuBurst = &v
		}
		if c.Idle != nil {
			v := *c.Idle
			dst.CPUIdle = &v
			if c.Shares == nil {
				// The kernel refuses shares for an idle group (EINVAL),
				// and every later update would write the old ones again:
				// leave them unset (0 is never written), as runc does.
				dst.CpuShares, dst.CpuWeight = 0, 0
			}
		}
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
	if b := r.BlockIO; b != nil {
		if b.Weight != nil {
			dst.BlkioWeight = *b.Weight
		}
		if b.LeafWeight != nil {
			dst.BlkioLeafWeight = *b.LeafWeight
		}
		for _, wd := range b.WeightDevice {
			dst.BlkioWeightDevice = upsertWeightDevice(dst.BlkioWeightDevice, wd)
		}
		for _, l := range []struct {
			dst *[]*cgroups.ThrottleDevice
			in  []specs.LinuxThrottleDevice
		}{
			{&dst.BlkioThrottleReadBpsDevice, b.ThrottleReadBpsDevice},
			{&dst.BlkioThrottleWriteBpsDevice, b.ThrottleWriteBpsDevice},
			{&dst.BlkioThrottleReadIOPSDevice, b.ThrottleReadIOPSDevice},
			{&dst.BlkioThrottleWriteIOPSDevice, b.ThrottleWriteIOPSDevice},
		} {
			for _, td := range l.in {
				*l.dst = upsertThrottleDevice(*l.dst, td)
			}
		}
	}
	if r.Unified != nil {
		if dst.Unified == nil {
			dst.Unified = map[string]string{}
		}
		for k, v := range r.Unified {
			dst.Unified[k] = v
		}
	}
	return nil
}

// upsertWeightDevice changes the weights of the device wd names, or adds it.
func upsertWeightDevice(list []*cgroups.WeightDevice, wd specs.LinuxWeightDevice) []*cgroups.WeightDevice {
	var weight, leaf uint16
	if wd.Weight != nil {
		weight = *wd.Weight
	}
	if wd.LeafWeight != nil {
		leaf = *wd.LeafWeight
	}
	for _, d := range list {
		if d.Major == wd.Major && d.Minor == wd.Minor {
			if wd.Weight != nil {
				d.Weight = weight
			}
			if wd.LeafWeight != nil {
				d.LeafWeight = leaf
			}
			return list
		}
	}
	return append(list, cgroups.NewWeightDevice(wd.Major, wd.Minor, weight, leaf))
}

// upsertThrottleDevice sets the rate of the device td names, or adds it.
func upsertThrottleDevice(list []*cgroups.ThrottleDevice, td specs.LinuxThrottleDevice) []*cgroups.ThrottleDevice {
	for _, d := range list {
		if d.Major == td.Major && d.Minor == td.Minor {
			d.Rate = td.Rate
			return list
		}
	}
	return append(list, cgroups.NewThrottleDevice(td.Major, td.Minor, td.Rate))
}

// errNoRdt is update's answer when a container created without Intel RDT
// is asked for an RDT schema: the group is made at create only.
var errNoRdt = errors.New("the container was created without Intel RDT (linux.intelRdt); its schemas cannot be set by update")

// applyRdt sets the Intel RDT schemas given to update; catOK and mbaOK say
// whether the host has the features.
func applyRdt(config *configs.Config, l3, memBw string, catOK, mbaOK func() bool) error {
	if l3 == "" && memBw == "" {
		return nil
	}
	if l3 != "" && !catOK() {
		return errors.New("--l3-cache-schema: Intel RDT/CAT is not enabled on this host")
	}
	if memBw != "" && !mbaOK() {
		return errors.New("--mem-bw-schema: Intel RDT/MBA is not enabled on this host")
	}
	if config.IntelRdt == nil {
		return errNoRdt
	}
	if l3 != "" {
		config.IntelRdt.L3CacheSchema = l3
	}
	if memBw != "" {
		config.IntelRdt.MemBwSchema = memBw
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
