package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/urfave/cli/v2"
)

var listCommand = &cli.Command{
	Name:  "list",
	Usage: "list the containers under --root",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print ids only"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 0, true); err != nil {
			return err
		}
		root, err := stateRoot(ctx)
		if err != nil {
			return err
		}
		entries, err := os.ReadDir(root)
		// No default root yet only means no container was made; a --root
		// given and missing is an error (a typo must not read as "none"),
		// as with runc.
		if err != nil && (!errors.Is(err, os.ErrNotExist) || ctx.IsSet("root")) {
			return fmt.Errorf("--root %s: %w", root, err)
		}
		var states []*containerState
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			c, err := libcontainer.Load(root, e.Name())
			if err != nil {
				containerLog(e.Name()).WithError(err).Debug("list: skip unloadable state")
				continue
			}
			cs, err := describe(c)
			if err != nil {
				continue
			}
			states = append(states, cs)
		}
		switch ctx.String("format") {
		case "json":
			if states == nil {
				states = []*containerState{}
			}
			return json.NewEncoder(os.Stdout).Encode(states)
		case "table":
			if ctx.Bool("quiet") {
				for _, s := range states {
					fmt.Println(s.ID)
				}
				return nil
			}
			w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
			fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
			for _, s := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
			}
			return w.Flush()
		default:
			return fmt.Errorf("--format %q: want table or json", ctx.String("format"))
		}
	},
}
