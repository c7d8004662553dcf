package main

import (
	"fmt"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/urfave/cli/v2"
)

var startCommand = &cli.Command{
	Name:      "start",
	Usage:     "start a created container (release its init)",
	ArgsUsage: "<container-id>",
	Action: containerAction(func(ctx *cli.Context, c *libcontainer.Container) error {
		status, err := c.Status()
		if err != nil {
			return fmt.Errorf("container %s: %w", c.ID(), err)
		}
		switch status {
		case libcontainer.Created:
			if err := c.Exec(); err != nil {
				return fmt.Errorf("start container %s: %w", c.ID(), err)
			}
			return nil
		case libcontainer.Stopped:
			return fmt.Errorf("cannot start container %s: it has stopped", c.ID())
		default:
			return fmt.Errorf("cannot start container %s: it is %s", c.ID(), status)
		}
	}),
}
