package main

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/sysboxd/sysboxd/internal/version"
)

var versionCommand = &cli.Command{
	Name:  "version",
	Usage: "print the version",
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 0, true); err != nil {
			return err
		}
		fmt.Println(version.String("sysbox-runc"))
		fmt.Println("spec:", specs.Version)
		return nil
	},
}
