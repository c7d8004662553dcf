// Command sysbox-fs is the Sysboxd daemon that serves each system
// container's virtual /proc and /sys files from a FUSE tree mounted at
// <mount-root>/<id>, driven over gRPC by sysbox-runc.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/sysboxd/sysboxd/internal/daemon"
	"github.com/sysboxd/sysboxd/internal/version"
	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	"github.com/sysboxd/sysboxd/sysbox-fs/seccomp"
	"github.com/sysboxd/sysboxd/sysbox-fs/server"
	"github.com/sysboxd/sysboxd/sysbox-fs/sysctl"
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

func main() {
	// The seccomp agent re-executes this binary to make procfs mounts on
	// kernels before 6.17 (see seccomp.ProcfsHelperArg).
	seccomp.RunProcfsHelperIfAsked(os.Args)
	app := &cli.App{
		Name:        name,
		Usage:       "serve system containers' virtual /proc and /sys files",
		HideVersion: true, // --version prints version.String, below
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
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

func run(cx *cli.Context) error {
	if cx.Bool("version") {
		fmt.Println(version.String(name))
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
	onCount := func(int) {}
	if memLimit != nil {
		memLimit.apply(0)
		onCount = memLimit.apply
	}
	log, logCloser, err := daemon.NewLogger(daemon.LogConfig{
		Level: cx.String("log-level"), Format: cx.String("log-format"), File: cx.String("log-file"),
	})
	if err != nil {
		return err
	}
	defer logCloser.Close()

	pid, err := daemon.AcquirePidFile(cx.String("pid-file"))
	if err != nil {
		return err
	}
	defer pid.Release()
	ctx, stop := daemon.SignalContext()
	defer stop()

	proc, err := sysctl.OpenProc("/proc")
	if err != nil {
		return err
	}
	defer proc.Close()
	table := handler.Default()
	srv, err := server.New(server.Config{
		MountRoot: cx.String("mount-root"),
		Table:     table,
		Host:      handler.DefaultHost(),
		Sys: &server.Sys{
			Proc: proc, ProcDir: "/proc", Host: sysctl.Host{Dir: "/proc/sys"}, SysDir: "/sys",
		},
		StateDir: cx.String("state-dir"),
		OnCount:  onCount,
		Log:      log,
	})
	if err != nil {
		return err
	}
	socket := cx.String("socket")
	l, err := ipc.Listen(socket)
	if err != nil {
		return err
	}
	defer func() {
		if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.WithError(err).Warn("remove socket")
		}
	}()
	waitAgent, err := startSeccompAgent(ctx, cx.String("seccomp-socket"), cx.String("mgr-socket"), srv, table, log)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	if err := daemon.NotifyReady(); err != nil {
		log.WithError(err).Warn("readiness notification failed")
	}
	log.WithFields(map[string]any{"socket": socket, "mount_root": srv.MountRoot(), "version": version.Version, "gomaxprocs": runtime.GOMAXPROCS(0)}).Info("sysbox-fs ready")

	err = errors.Join(<-served, waitAgent())
	if err != nil {
		log.WithError(err).Error("stopped with errors")
		return err
	}
	log.Info("sysbox-fs stopped")
	return nil
}
