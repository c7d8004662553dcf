package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/types"
	"github.com/urfave/cli/v2"
)

var eventsCommand = &cli.Command{
	Name:      "events",
	Usage:     "print a container's resource usage (and OOM events) as JSON lines",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "time between stats"},
		&cli.BoolFlag{Name: "stats", Usage: "print stats once and exit"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, true); err != nil {
			return err
		}
		if ctx.Duration("interval") <= 0 {
			return fmt.Errorf("--interval must be positive")
		}
		c, err := loadContainer(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		if ctx.Bool("stats") {
			return emitStats(enc, c)
		}
		oom, err := c.NotifyOOM()
		if err != nil {
			containerLog(c.ID()).WithError(err).Debug("no OOM notifications")
		}
		tick := time.NewTicker(ctx.Duration("interval"))
		defer tick.Stop()
		for {
			select {
			case _, ok := <-oom:
				if !ok {
					oom = nil
					continue
				}
				if err := enc.Encode(types.Event{Type: "oom", ID: c.ID()}); err != nil {
					return err
				}
			case <-tick.C:
				if s, err := c.Status(); err != nil || s == libcontainer.Stopped {
					return nil
				}
				if err := emitStats(enc, c); err != nil {
					return err
				}
			}
		}
	},
}

func emitStats(enc *json.Encoder, c *libcontainer.Container) error {
	s, err := c.Stats()
	if err != nil {
		return fmt.Errorf("container %s stats: %w", c.ID(), err)
	}
	return enc.Encode(types.Event{Type: "stats", ID: c.ID(), Data: toEventStats(s)})
}

// toEventStats converts libcontainer's stats to the JSON runc prints.
func toEventStats(s *libcontainer.Stats) *types.Stats {
	out := &types.Stats{NetworkInterfaces: s.Interfaces}
	cg := s.CgroupStats
	if cg == nil {
		return out
	}
	cpu := cg.CpuStats
	out.CPU.Usage = types.CpuUsage{
		Total: cpu.CpuUsage.TotalUsage, Percpu: cpu.CpuUsage.PercpuUsage,
		PercpuKernel: cpu.CpuUsage.PercpuUsageInKernelmode, PercpuUser: cpu.CpuUsage.PercpuUsageInUsermode,
		Kernel: cpu.CpuUsage.UsageInKernelmode, User: cpu.CpuUsage.UsageInUsermode,
	}
	out.CPU.Throttling = types.Throttling{
		Periods: cpu.ThrottlingData.Periods, ThrottledPeriods: cpu.ThrottlingData.ThrottledPeriods,
		ThrottledTime: cpu.ThrottlingData.ThrottledTime,
	}
	out.CPU.PSI = cpu.PSI
	out.CPUSet = types.CPUSet{CPUs: cg.CPUSetStats.CPUs, Mems: cg.CPUSetStats.Mems}
	mem := cg.MemoryStats
	out.Memory = types.Memory{
		Cache: mem.Cache, Raw: mem.Stats, PSI: mem.PSI,
		Usage:     memoryEntry(mem.Usage),
		Swap:      memoryEntry(mem.SwapUsage),
		Kernel:    memoryEntry(mem.KernelUsage),
		KernelTCP: memoryEntry(mem.KernelTCPUsage),
	}
	out.Pids = types.Pids{Current: cg.PidsStats.Current, Limit: cg.PidsStats.Limit}
	b := cg.BlkioStats
	out.Blkio = types.Blkio{
		IoServiceBytesRecursive: blkioEntries(b.IoServiceBytesRecursive),
		IoServicedRecursive:     blkioEntries(b.IoServicedRecursive),
		IoQueuedRecursive:       blkioEntries(b.IoQueuedRecursive),
		IoServiceTimeRecursive:  blkioEntries(b.IoServiceTimeRecursive),
		IoWaitTimeRecursive:     blkioEntries(b.IoWaitTimeRecursive),
		IoMergedRecursive:       blkioEntries(b.IoMergedRecursive),
		IoTimeRecursive:         blkioEntries(b.IoTimeRecursive),
		SectorsRecursive:        blkioEntries(b.SectorsRecursive),
		PSI:                     b.PSI,
	}
	out.Hugetlb = map[string]types.Hugetlb{}
	for size, h := range cg.HugetlbStats {
		out.Hugetlb[size] = types.Hugetlb{Usage: h.Usage, Max: h.MaxUsage, Failcnt: h.Failcnt}
	}
	return out
}

func memoryEntry(d cgroups.MemoryData) types.MemoryEntry {
	return types.MemoryEntry{Limit: d.Limit, Usage: d.Usage, Max: d.MaxUsage, Failcnt: d.Failcnt}
}

func blkioEntries(in []cgroups.BlkioStatEntry) []types.BlkioEntry {
	out := make([]types.BlkioEntry, 0, len(in))
	for _, e := range in {
		out = append(out, types.BlkioEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
	}
	return out
}
