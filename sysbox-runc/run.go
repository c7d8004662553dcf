package main

import (
	"github.com/urfave/cli/v2"
)

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "create and start a system container; in the foreground unless --detach",
	ArgsUsage: "<container-id>",
	Flags: append(createFlags(),
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "detach from the container's process"},
		&cli.BoolFlag{Name: "no-subreaper", Usage: "no effect: the container's init always has a pid namespace of its own, which reaps the container's orphans, so sysbox-runc never becomes a subreaper"},
		&cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits: it stays stopped, holding its uid range and FUSE tree, until 'delete' (a detached container is never deleted by run)"},
	),
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, true); err != nil {
			return err
		}
		sc, err := newSysContainer(ctx, ctx.Args().First(), ctx.Bool("detach"))
		if err != nil {
			return err
		}
		sc.keep = ctx.Bool("keep")
		defer sc.close()
		if err := sc.start(ctx); err != nil {
			return err
		}
		if ctx.Bool("detach") {
			if err := sc.c.Exec(); err != nil {
				return err
			}
		}
		return nil
	},
}
