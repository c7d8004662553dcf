package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

var killCommand = &cli.Command{
	Name:      "kill",
	Usage:     "send a signal (default SIGTERM) to a container's init",
	ArgsUsage: "<container-id> [signal]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "send the signal to every process of the container"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, false); err != nil {
			return err
		}
		if ctx.NArg() > 2 {
			return fmt.Errorf("kill takes a container id and at most one signal")
		}
		sig := unix.SIGTERM
		if s := ctx.Args().Get(1); s != "" {
			var err error
			if sig, err = parseSignal(s); err != nil {
				return err
			}
		}
		c, err := loadContainer(ctx)
		if err != nil {
			return err
		}
		if ctx.Bool("all") {
			pids, err := c.Processes()
			if err != nil {
				return fmt.Errorf("container %s processes: %w", c.ID(), err)
			}
			for _, pid := range pids {
				_ = unix.Kill(pid, sig) // a process may exit meanwhile
			}
			return nil
		}
		if err := c.Signal(sig); err != nil {
			return fmt.Errorf("signal container %s: %w", c.ID(), err)
		}
		return nil
	},
}
