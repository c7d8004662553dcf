package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sysboxd/sysboxd/internal/daemon"
	"github.com/sysboxd/sysboxd/internal/version"
	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	"github.com/sysboxd/sysboxd/sysbox-ipc/mgrclient"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysmgrpb"
)

const name = "sysbox-mgr"

// Main runs the command line and returns the exit code.
func Main(args []string) int {
	if err := NewApp(os.Stdout, os.Stderr).Run(args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// NewApp builds the CLI writing to stdout and stderr.
func NewApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:        name,
		Usage:       "Sysboxd manager: exclusive uid/gid ranges and host-backed special dirs for system containers",
		HideVersion: true,
		Writer:      stdout,
		ErrWriter:   stderr,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version and exit"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
			&cli.StringFlag{Name: "log-file", Usage: "log to this file instead of stderr"},
			&cli.StringFlag{Name: "socket", Value: ipc.MgrSocket, Usage: "gRPC unix socket"},
			&cli.StringFlag{Name: "pid-file", Value: ipc.RunDir + "/sysbox-mgr.pid", Usage: "pid file (single-instance lock)"},
			&cli.StringFlag{Name: "state-dir", Value: "/var/lib/sysbox/mgr", Usage: "where the lease state is kept"},
			&cli.StringFlag{Name: "data-root", Value: "/var/lib/sysbox", Usage: "host dir for special dirs (not overlayfs or tmpfs)"},
			&cli.StringFlag{Name: "subid-user", Value: "sysbox", Usage: "user whose /etc/subuid and /etc/subgid entries are the id pool"},
			&cli.StringFlag{Name: "subuid-file", Value: "/etc/subuid", Usage: "subordinate uid file"},
			&cli.StringFlag{Name: "subgid-file", Value: "/etc/subgid", Usage: "subordinate gid file"},
			&cli.DurationFlag{Name: "reap-interval", Value: defaultReapInterval, Usage: "how often to look for removed containers"},
			&cli.BoolFlag{Name: "no-copy-out", Usage: "do not copy special dirs into a stopped container's Docker layer (docker commit then misses /var/lib/docker etc.)"},
			&cli.StringFlag{Name: "apparmor-profile", Value: DefaultAppArmorProfileFile, Usage: "AppArmor profile for system containers, loaded at start where AppArmor is on (empty: do not load)"},
		},
		Action: runAction,
		Commands: []*cli.Command{{
			Name:  "status",
			Usage: "show the leases of the running sysbox-mgr",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "socket", Value: ipc.MgrSocket, Usage: "gRPC unix socket"},
				&cli.BoolFlag{Name: "json", Usage: "print the raw status as JSON"},
			},
			Action:       statusAction,
			OnUsageError: usageError,
		}, {
			Name:      "release",
			Usage:     "free a container's id range and delete its special dirs now (for a container that is gone but whose lease was kept)",
			ArgsUsage: "CONTAINER-ID...",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "socket", Value: ipc.MgrSocket, Usage: "gRPC unix socket"},
			},
			Action:       releaseAction,
			OnUsageError: usageError,
		}, dockerRuntimeCommand(), checkCommand()},
		OnUsageError: usageError,
	}
}

func usageError(c *cli.Context, err error, _ bool) error {
	return fmt.Errorf("%w (see '%s --help')", err, c.Command.HelpName)
}

func runAction(c *cli.Context) error {
	if c.Bool("version") {
		fmt.Fprintln(c.App.Writer, version.String(name))
		return nil
	}
	if c.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see '%s --help')", c.Args().First(), name)
	}
	log, closer, err := logSetup(c.String("log-level"), c.String("log-format"), c.String("log-file"))
	if err != nil {
		return err
	}
	defer closer.Close()
	ctx, cancel := daemon.SignalContext()
	defer cancel()
	err = Run(ctx, Options{
		Socket:       c.String("socket"),
		PidFile:      c.String("pid-file"),
		StateDir:     c.String("state-dir"),
		DataRoot:     c.String("data-root"),
		SubidUser:    c.String("subid-user"),
		SubuidFile:   c.String("subuid-file"),
		SubgidFile:   c.String("subgid-file"),
		ReapInterval: c.Duration("reap-interval"),
		NoCopyOut:    c.Bool("no-copy-out"),

		AppArmorProfileFile: c.String("apparmor-profile"),
	}, log)
	if err != nil {
		log.WithError(err).Error("sysbox-mgr failed")
		return err
	}
	log.Info("sysbox-mgr stopped")
	return nil
}

// socketOf is the subcommand's --socket, or the global one when only that
// is given ("sysbox-mgr --socket S status").
func socketOf(c *cli.Context) string {
	if !c.IsSet("socket") && len(c.Lineage()) > 1 && c.Lineage()[1].IsSet("socket") {
		return c.Lineage()[1].String("socket")
	}
	return c.String("socket")
}

func releaseAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return fmt.Errorf("release: no container id given (see '%s --help')", c.Command.HelpName)
	}
	cl, err := mgrclient.New(socketOf(c))
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, id := range c.Args().Slice() {
		if err := cl.Unregister(context.Background(), id, true); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "released %s\n", id)
	}
	return nil
}

func statusAction(c *cli.Context) error {
	cl, err := mgrclient.New(socketOf(c))
	if err != nil {
		return err
	}
	defer cl.Close()
	st, err := cl.Status(context.Background())
	if err != nil {
		return err
	}
	if c.Bool("json") {
		out, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true}.Marshal(st)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.App.Writer, string(out))
		return nil
	}
	return printStatus(c.App.Writer, st)
}

func idRange(start, size uint32) string {
	if size == 0 {
		return "-"
	}
	return fmt.Sprintf("%d-%d", start, uint64(start)+uint64(size)-1)
}

// printStatus writes the status as a table, one lease per line.
func printStatus(w io.Writer, st *pb.StatusResponse) error {
	running := 0
	for _, l := range st.GetLeases() {
		if l.GetRunning() {
			running++
		}
	}
	fmt.Fprintf(w, "pool: uids %s (%d ids, %d blocks of 65536); %d containers, %d running\n",
		idRange(st.GetPoolStart(), st.GetPoolSize()), st.GetPoolSize(), st.GetPoolSize()/65536,
		len(st.GetLeases()), running)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUIDS\tGIDS\tRUNNING\tROOTFS")
	for _, l := range st.GetLeases() {
		rootfs := l.GetRootfs()
		if rootfs == "" {
			rootfs = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", l.GetId(), idRange(l.GetUid(), l.GetSize()),
			idRange(l.GetGid(), l.GetSize()), l.GetRunning(), rootfs)
	}
	return tw.Flush()
}
