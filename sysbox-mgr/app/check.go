package app

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sysboxd/sysboxd/sysbox-mgr/preflight"
)

// checkCommand is "sysbox-mgr check", the preflight check (also run by
// "sysboxctl check" and the Debian package's postinst).
func checkCommand() *cli.Command {
	return &cli.Command{
		Name: "check",
		Usage: "check that this host has what Sysboxd needs: prints one line per feature " +
			"(ok, warn or missing, and a detail); exits 1 when a required one is missing",
		Description: "The probes do the real operations (create a user namespace, ID-map a mount of the " +
			"data filesystems, mount an overlay of ID-mapped layers in a private mount namespace) and " +
			"leave nothing behind. Run it as root: without root most probes cannot tell.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-root", Value: "/var/lib/sysbox", Usage: "sysbox-mgr's data root (its filesystem must take ID-mapped mounts)"},
			&cli.StringFlag{Name: "subid-user", Value: "sysbox", Usage: "user whose /etc/subuid and /etc/subgid entries are the id pool"},
			&cli.StringFlag{Name: "subuid-file", Value: "/etc/subuid", Usage: "subordinate uid file"},
			&cli.StringFlag{Name: "subgid-file", Value: "/etc/subgid", Usage: "subordinate gid file"},
		},
		Action:       checkAction,
		OnUsageError: usageError,
	}
}

func checkAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see '%s --help')", c.Args().First(), c.Command.HelpName)
	}
	h := preflight.DefaultHost()
	h.DataRoot = c.String("data-root")
	h.SubidUser = c.String("subid-user")
	h.SubuidFile = c.String("subuid-file")
	h.SubgidFile = c.String("subgid-file")
	outcomes := preflight.Run(h.Checks())
	if err := preflight.Print(c.App.Writer, outcomes); err != nil {
		return err
	}
	if failed := preflight.Failed(outcomes); len(failed) > 0 {
		return fmt.Errorf("check: required features missing: %s", strings.Join(failed, ", "))
	}
	return nil
}
