package app

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/sysboxd/sysboxd/internal/daemon"
	"github.com/sysboxd/sysboxd/internal/version"
	"github.com/sysboxd/sysboxd/sysbox-fs/seccomp"
	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
)

const name = "sysbox-fs"

// defaultMaxProcs is the daemon's GOMAXPROCS. FUSE reads are short round
// trips; with one P the reply is written from the CPU that took the request
// instead of waking another one. Measured on our 2-vCPU VMs (open+read+close
// of /proc/uptime from another process, 8 interleaved rounds of 5000): median
// 64-126 us (p10 56-61 us) with 1, against 101-145 us (p10 62-101 us) with
// Go's default of 2; p99 is 0.36-0.56 ms against 0.31-0.38 ms. A single P
// still computes tens of thousands of virtual files per second, and
// goroutines blocked reading /dev/fuse do not hold it.
const defaultMaxProcs = 1

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
		Usage:       "serve system containers' virtual /proc and /sys files",
		HideVersion: true, // --version prints version.String, in runAction
		Writer:      stdout,
		ErrWriter:   stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
			&cli.StringFlag{Name: "log-file", Usage: "log to this file instead of stderr"},
			&cli.StringFlag{Name: "socket", Value: ipc.FsSocket, Usage: "gRPC unix socket"},
			&cli.StringFlag{Name: "seccomp-socket", Value: seccomp.DefaultSocket, Usage: "unix socket where the runtime sends seccomp notify fds"},
			&cli.StringFlag{Name: "mgr-socket", Value: ipc.MgrSocket, Usage: "sysbox-mgr's socket; it keeps copies of the seccomp notify fds across restarts of sysbox-fs (empty: none)"},
			&cli.StringFlag{Name: "pid-file", Value: ipc.RunDir + "/sysbox-fs.pid", Usage: "pid file (single-instance lock)"},
			&cli.StringFlag{Name: "mount-root", Value: "/var/lib/sysboxfs", Usage: "directory holding one FUSE mount per container"},
			&cli.StringFlag{Name: "state-dir", Value: ipc.RunDir + "/sysbox-fs",
				Usage: "directory recording the registered containers, from which a restarted daemon takes them over (empty: none)"},
			&cli.IntFlag{Name: "memory-limit-base", Value: int(defaultMemoryLimit.base >> 20),
				Usage: "soft memory limit of the daemon in MiB with no container, raised by 192 KiB per container; 0: none (Go's default)"},
			&cli.IntFlag{Name: "gomaxprocs", Value: defaultMaxProcs,
				Usage: "CPUs the daemon's Go code runs on at once (GOMAXPROCS); 0 keeps Go's default"},
			&cli.BoolFlag{Name: "version", Usage: "print the version and exit"},
		},
		Action: runAction,
	}
}

func runAction(cx *cli.Context) error {
	if cx.Bool("version") {
		fmt.Fprintln(cx.App.Writer, version.String(name))
		return nil
	}
	if cx.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", cx.Args().Slice())
	}
	if n := cx.Int("gomaxprocs"); n > 0 {
		runtime.GOMAXPROCS(n)
	} else if n < 0 {
		return fmt.Errorf("--gomaxprocs %d: want 0 or more", n)
	}
	memLimit, err := parseMemoryLimitMB(cx.Int("memory-limit-base"))
	if err != nil {
		return err
	}
	log, logCloser, err := daemon.NewLogger(daemon.LogConfig{
		Level: cx.String("log-level"), Format: cx.String("log-format"), File: cx.String("log-file"),
	})
	if err != nil {
		return err
	}
	defer logCloser.Close()
	ctx, stop := daemon.SignalContext()
	defer stop()
	return Run(ctx, Options{
		Socket:        cx.String("socket"),
		SeccompSocket: cx.String("seccomp-socket"),
		MgrSocket:     cx.String("mgr-socket"),
		PidFile:       cx.String("pid-file"),
		MountRoot:     cx.String("mount-root"),
		StateDir:      cx.String("state-dir"),
		MemoryLimit:   memLimit,
	}, log)
}
