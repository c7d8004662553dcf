package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/docker/go-units"
	"github.com/opencontainers/runc/libcontainer"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

var updateCommand = &cli.Command{
	Name:      "update",
	Usage:     "change a running container's resource limits",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "JSON file of OCI linux.resources ('-' for stdin)"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit (e.g. 256m)"},
		&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
		&cli.StringFlag{Name: "memory-swap", Usage: "memory+swap limit (-1 unlimited)"},
		&cli.StringFlag{Name: "cpu-shares", Usage: "CPU shares (relative weight)"},
		&cli.StringFlag{Name: "cpu-period", Usage: "CFS period in microseconds"},
		&cli.StringFlag{Name: "cpu-quota", Usage: "CFS quota in microseconds"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs allowed (e.g. 0-1)"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes allowed"},
		&cli.StringFlag{Name: "pids-limit", Usage: "maximum number of tasks"},
		&cli.StringFlag{Name: "blkio-weight", Usage: "block IO weight (10-1000)"},
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
	if r.Memory == nil {
		r.Memory = &specs.LinuxMemory{}
	}
	if r.CPU == nil {
		r.CPU = &specs.LinuxCPU{}
	}
	for _, f := range []struct {
		name string
		set  func(int64)
		size bool
	}{
		{"memory", func(v int64) { r.Memory.Limit = &v }, true},
		{"memory-reservation", func(v int64) { r.Memory.Reservation = &v }, true},
		{"memory-swap", func(v int64) { r.Memory.Swap = &v }, true},
		{"cpu-shares", func(v int64) { u := uint64(v); r.CPU.Shares = &u }, false},
		{"cpu-period", func(v int64) { u := uint64(v); r.CPU.Period = &u }, false},
		{"cpu-quota", func(v int64) { r.CPU.Quota = &v }, false},
		{"pids-limit", func(v int64) { r.Pids = &specs.LinuxPids{Limit: &v} }, false},
		{"blkio-weight", func(v int64) { w := uint16(v); r.BlockIO = &specs.LinuxBlockIO{Weight: &w} }, false},
	} {
		s := ctx.String(f.name)
		if s == "" {
			continue
		}
		v, err := parseQuantity(s, f.size)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", f.name, err)
		}
		f.set(v)
	}
	if s := ctx.String("cpuset-cpus"); s != "" {
		r.CPU.Cpus = s
	}
	if s := ctx.String("cpuset-mems"); s != "" {
		r.CPU.Mems = s
	}
	return r, nil
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
