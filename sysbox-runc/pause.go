package main

import (
	"fmt"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/urfave/cli/v2"
)

var pauseCommand = &cli.Command{
	Name:      "pause",
	Usage:     "freeze every process of a container",
	ArgsUsage: "<container-id>",
	Action: containerAction(func(ctx *cli.Context, c *libcontainer.Container) error {
		if err := c.Pause(); err != nil {
			return fmt.Errorf("pause container %s: %w", c.ID(), err)
		}
		return nil
	}),
}

var resumeCommand = &cli.Command{
	Name:      "resume",
	Usage:     "thaw a paused container",
	ArgsUsage: "<container-id>",
	Action: containerAction(func(ctx *cli.Context, c *libcontainer.Container) error {
		if err := c.Resume(); err != nil {
			return fmt.Errorf("resume container %s: %w", c.ID(), err)
		}
		return nil
	}),
}
