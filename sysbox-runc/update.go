package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/docker/go-units"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/intelrdt"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

var updateCommand = &cli.Command{
	Name:      "update",
	Usage:     "change a running container's resource limits",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "JSON file of OCI linux.resources ('-' for stdin); the flags below override it"},
		&cli.StringFlag{Name: "blkio-weight", Usage: "block IO weight (10-1000)"},
		&cli.StringFlag{Name: "cpu-period", Usage: "CFS period in microseconds"},
		&cli.StringFlag{Name: "cpu-quota", Usage: "CFS quota in microseconds per period"},
		&cli.StringFlag{Name: "cpu-burst", Usage: "CFS burst in microseconds"},
		&cli.StringFlag{Name: "cpu-share", Aliases: []string{"cpu-shares"}, Usage: "CPU shares (relative weight)"},
		&cli.StringFlag{Name: "cpu-rt-period", Usage: "realtime period in microseconds"},
		&cli.StringFlag{Name: "cpu-rt-runtime", Usage: "realtime runtime in microseconds per period"},
		&cli.StringFlag{Name: "cpu-idle", Usage: "1 puts the cgroup under SCHED_IDLE, 0 is the default behaviour"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs allowed (e.g. 0-1)"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes allowed"},
		&cli.StringFlag{Name: "kernel-memory", Hidden: true, Usage: "obsolete: accepted and ignored, as by runc"},
		&cli.StringFlag{Name: "kernel-memory-tcp", Hidden: true, Usage: "obsolete: accepted and ignored, as by runc"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit (e.g. 256m; -1 unlimited)"},
		&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
		&cli.StringFlag{Name: "memory-swap", Usage: "memory+swap limit (-1 unlimited)"},
		&cli.StringFlag{Name: "pids-limit", Usage: "maximum number of tasks"},
		&cli.StringFlag{Name: "l3-cache-schema", Usage: "Intel RDT/CAT L3 cache schema"},
		&cli.StringFlag{Name: "mem-bw-schema", Usage: "Intel RDT/MBA memory bandwidth schema"},
	},
	Action: containerAction(func(ctx *cli.Context, c *libcontainer.Container) error {
		r, err := resourcesFromFlags(ctx)
		if err != nil {
			return err
		}
		config := c.Config()
		if err := applyResources(config.Cgroups.Resources, r); err != nil {
			return err
		}
		if err := applyRdt(&config, ctx.String("l3-cache-schema"), ctx.String("mem-bw-schema"),
			intelrdt.IsCATEnabled, intelrdt.IsMBAEnabled); err != nil {
			return err
		}
		if r.Memory != nil && (r.Memory.Kernel != nil || r.Memory.KernelTCP != nil) { //nolint:staticcheck // read only to warn
			containerLog(c.ID()).Warn("update: kernel memory limits are obsolete and ignored")
		}
		// update changes limits, never the device rules: leave those (and
		// whatever a device plugin added) as they are.
		config.Cgroups.SkipDevices = true
		if err := c.Set(config); err != nil {
			return fmt.Errorf("update container %s: %w", c.ID(), err)
		}
		return nil
	}),
}

// resourcesFromFlags reads --resources, then lets the single-value flags
// override it.
func resourcesFromFlags(ctx *cli.Context) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if src := ctx.String("resources"); src != "" {
		var in io.Reader = os.Stdin
		if src != "-" {
			f, err := os.Open(src)
			if err != nil {
				return nil, fmt.Errorf("--resources: %w", err)
			}
			defer f.Close()
			in = f
		}
		if err := json.NewDecoder(in).Decode(r); err != nil {
			return nil, fmt.Errorf("--resources: malformed JSON: %w", err)
		}
	}
	values := map[string]string{}
	for _, f := range ctx.Command.Flags {
		name := f.Names()[0]
		if s := ctx.String(name); s != "" {
			values[name] = s
		}
	}
	if err := resourcesFromValues(r, values); err != nil {
		return nil, err
	}
	return r, nil
}

// resourcesFromValues sets on r the limits given by update's flags (flag
// name without dashes -> value).
func resourcesFromValues(r *specs.LinuxResources, values map[string]string) error {
	if r.Memory == nil {
		r.Memory = &specs.LinuxMemory{}
	}
	if r.CPU == nil {
		r.CPU = &specs.LinuxCPU{}
	}
	if r.BlockIO == nil {
		r.BlockIO = &specs.LinuxBlockIO{}
	}
	i64 := func(dst **int64) func(int64) error {
		return func(v int64) error { *dst = &v; return nil }
	}
	u64 := func(dst **uint64) func(int64) error {
		return func(v int64) error {
			if v < 0 {
				return errors.New("must not be negative")
			}
			u := uint64(v)
			*dst = &u
			return nil
		}
	}
	for _, f := range []struct {
		name string
		size bool // a byte count: "256m" is fine, -1 is unlimited
		set  func(int64) error
	}{
		{"memory", true, i64(&r.Memory.Limit)},
		{"memory-reservation", true, i64(&r.Memory.Reservation)},
		{"memory-swap", true, i64(&r.Memory.Swap)},
		{"kernel-memory", true, i64(&r.Memory.Kernel)},        //nolint:staticcheck // accepted, then ignored with a warning
		{"kernel-memory-tcp", true, i64(&r.Memory.KernelTCP)}, //nolint:staticcheck // accepted, then ignored with a warning
		{"cpu-share", false, u64(&r.CPU.Shares)},
		{"cpu-period", false, u64(&r.CPU.Period)},
		{"cpu-quota", false, i64(&r.CPU.Quota)},
		{"cpu-burst", false, u64(&r.CPU.Burst)},
		{"cpu-rt-period", false, u64(&r.CPU.RealtimePeriod)},
		{"cpu-rt-runtime", false, i64(&r.CPU.RealtimeRuntime)},
		{"cpu-idle", false, i64(&r.CPU.Idle)},
		{"pids-limit", false, func(v int64) error { r.Pids = &specs.LinuxPids{Limit: &v}; return nil }},
		{"blkio-weight", false, func(v int64) error {
			if v == 0 {
				return nil // runc's "not set"
			}
			if v < 10 || v > 1000 {
				return fmt.Errorf("%d is out of range 10-1000", v)
			}
			w := uint16(v)
			r.BlockIO.Weight = &w
			return nil
		}},
	} {
		s, ok := values[f.name]
		if !ok {
			continue
		}
		v, err := parseQuantity(s, f.size)
		if err == nil {
			err = f.set(v)
		}
		if err != nil {
			return fmt.Errorf("--%s %q: %w", f.name, s, err)
		}
	}
	if s := values["cpuset-cpus"]; s != "" {
		r.CPU.Cpus = s
	}
	if s := values["cpuset-mems"]; s != "" {
		r.CPU.Mems = s
	}
	return nil
}

func parseQuantity(s string, size bool) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	if size {
		return units.RAMInBytes(s)
	}
	return strconv.ParseInt(s, 10, 64)
}
