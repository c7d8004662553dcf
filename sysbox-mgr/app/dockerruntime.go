package app

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sysboxd/sysboxd/sysbox-mgr/dockercfg"
)

// dockerRuntimeCommand is "sysbox-mgr docker-runtime add|remove": the one
// implementation of the daemon.json edit, used by scripts/docker-runtime.sh
// and by the Debian package's maintainer scripts. It only edits the file;
// the caller has dockerd reload it.
func dockerRuntimeCommand() *cli.Command {
	flags := func(withPath bool) []cli.Flag {
		f := []cli.Flag{
			&cli.StringFlag{Name: "config", Value: dockercfg.DefaultPath, Usage: "Docker daemon configuration file"},
			&cli.StringFlag{Name: "name", Value: "sysbox-runc", Usage: "runtime name (docker run --runtime=NAME)"},
		}
		if withPath {
			f = append(f, &cli.StringFlag{Name: "path", Required: true, Usage: "absolute path of the sysbox-runc binary"})
		}
		return f
	}
	return &cli.Command{
		Name:  "docker-runtime",
		Usage: "register or unregister sysbox-runc in Docker's daemon.json (every other setting kept; dockerd must then be reloaded)",
		Subcommands: []*cli.Command{{
			Name:         "add",
			Usage:        "set runtimes.NAME.path to --path",
			Flags:        flags(true),
			Action:       dockerRuntimeAction,
			OnUsageError: usageError,
		}, {
			Name:         "remove",
			Usage:        "delete runtimes.NAME",
			Flags:        flags(false),
			Action:       dockerRuntimeAction,
			OnUsageError: usageError,
		}},
		OnUsageError: usageError,
	}
}

func dockerRuntimeAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see '%s --help')", c.Args().First(), c.Command.HelpName)
	}
	config, name := c.String("config"), c.String("name")
	var (
		res dockercfg.Result
		err error
	)
	if c.Command.Name == "add" {
		res, err = dockercfg.AddRuntime(config, name, c.String("path"))
	} else {
		res, err = dockercfg.RemoveRuntime(config, name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s: runtime %s %s\n", config, name, res)
	return nil
}
