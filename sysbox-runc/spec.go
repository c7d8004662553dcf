package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

var specCommand = &cli.Command{
	Name:  "spec",
	Usage: "write a config.json for a system container into the bundle",
	Description: `The spec runs /bin/sh as root with a terminal, rootfs "rootfs". At create,
sysbox-runc adds the user, cgroup and time namespaces with the container's
exclusive id range, gives root all capabilities inside its user namespace and
presents the rootfs ID-mapped, so the bundle needs no uid mappings of its own.`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "bundle directory (default: current directory)"},
		&cli.BoolFlag{Name: "rootless", Usage: "refused: system containers are created by root (each gets a user namespace of its own)"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 0, true); err != nil {
			return err
		}
		if ctx.Bool("rootless") {
			return errors.New("--rootless: sysbox-runc creates system containers as root only; the spec it writes " +
				"needs no uid mappings (create gives the container a user namespace with an exclusive id range)")
		}
		path := filepath.Join(ctx.String("bundle"), "config.json")
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s already exists; remove it first", path)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		b, err := json.MarshalIndent(systemContainerSpec(), "", "\t")
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	},
}

// systemContainerSpec is the starting point for a hand-made bundle: the
// library's example spec with a hostname and a writable cgroup mount.
func systemContainerSpec() *specs.Spec {
	s := specconv.Example()
	s.Hostname = "syscont"
	s.Root.Readonly = false
	for i, m := range s.Mounts {
		if m.Destination == "/sys/fs/cgroup" {
			s.Mounts[i].Options = []string{"nosuid", "noexec", "nodev", "relatime", "rw"}
		}
	}
	return s
}
