package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/sysbox-runc/internal/lifecycle"
)

var deleteCommand = &cli.Command{
	Name:      "delete",
	Usage:     "delete a container and give back what it held",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill the container first if it runs"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, true); err != nil {
			return err
		}
		id := ctx.Args().First()
		root, err := stateRoot(ctx)
		if err != nil {
			return err
		}
		c, err := loadContainer(ctx)
		if err != nil {
			if errors.Is(err, libcontainer.ErrNotExist) {
				if ctx.Bool("force") {
					// runc semantics: nothing to delete is fine with --force.
					os.RemoveAll(filepath.Join(root, id))
					return nil
				}
				return fmt.Errorf("container %s does not exist", id)
			}
			return err
		}
		status, err := c.Status()
		if err != nil {
			return fmt.Errorf("container %s: %w", id, err)
		}
		switch status {
		case libcontainer.Stopped, libcontainer.Created:
		default:
			if !ctx.Bool("force") {
				return fmt.Errorf("cannot delete container %s: it is %s (stop it first or use --force)", id, status)
			}
			if err := killAndWait(c); err != nil {
				return err
			}
		}
		d, err := dialDaemons(ctx)
		if err != nil {
			return err
		}
		defer d.Close()
		return destroyContainer(context.Background(), c, root, d)
	},
}

// killAndWait SIGKILLs a running container and waits for it to stop.
func killAndWait(c *libcontainer.Container) error {
	if err := c.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		return fmt.Errorf("kill container %s: %w", c.ID(), err)
	}
	for i := 0; i < 100; i++ {
		if s, err := c.Status(); err == nil && s == libcontainer.Stopped {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("container %s did not stop after SIGKILL", c.ID())
}

// destroyContainer destroys a stopped or created container and gives back
// its lease, FUSE tree and rootfs mounts.
func destroyContainer(ctx context.Context, c *libcontainer.Container, root string, d *daemons) error {
	log := containerLog(c.ID())
	st, stErr := lifecycle.LoadState(filepath.Join(root, c.ID()))
	destroyErr := c.Destroy()
	if destroyErr != nil {
		destroyErr = fmt.Errorf("destroy container %s: %w", c.ID(), destroyErr)
		// A failing poststop hook fails Destroy after libcontainer removed
		// the container: give back what it held all the same. Only a
		// container that may still run keeps its resources.
		if status, err := c.Status(); err == nil && status != libcontainer.Stopped {
			return destroyErr
		}
	}
	if stErr != nil {
		// Not created by this runtime's lifecycle (or state lost): nothing
		// of ours to give back.
		log.WithError(stErr).Warn("no sysbox state; daemons not told")
		return destroyErr
	}
	if err := lifecycle.Teardown(ctx, st, d.mgr, d.fs); err != nil {
		return errors.Join(destroyErr, fmt.Errorf("container %s deleted, but: %w", c.ID(), err))
	}
	log.Debug("deleted")
	return destroyErr
}
