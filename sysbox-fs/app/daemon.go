// Package app is sysbox-fs's command line (cli.go) and the wiring of the
// daemon: the FUSE server, its gRPC socket and the seccomp agent.
package app

import (
	"context"
	"errors"
	"os"
	"runtime"

	"github.com/sirupsen/logrus"

	"github.com/sysboxd/sysboxd/internal/daemon"
	"github.com/sysboxd/sysboxd/internal/version"
	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	"github.com/sysboxd/sysboxd/sysbox-fs/server"
	"github.com/sysboxd/sysboxd/sysbox-fs/sysctl"
	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
)

// Options configure the daemon (the CLI flags).
type Options struct {
	// Socket is the gRPC unix socket sysbox-runc calls.
	Socket string
	// SeccompSocket is where the runtime sends seccomp notify fds.
	SeccompSocket string
	// MgrSocket is sysbox-mgr's socket, which keeps copies of the notify
	// fds across restarts of sysbox-fs; empty: none.
	MgrSocket string
	PidFile   string
	// MountRoot holds one FUSE mount per container.
	MountRoot string
	// StateDir records the registered containers for a restarted daemon;
	// empty: none.
	StateDir string
	// MemoryLimit, when set, sizes the Go runtime's soft memory limit to
	// the containers served.
	MemoryLimit *memoryLimit
}

// Run runs the daemon until ctx ends: pid file, FUSE server, gRPC socket,
// seccomp agent. On return the socket is gone and the agent has closed
// every notify fd.
func Run(ctx context.Context, o Options, log *logrus.Logger) error {
	onCount := func(int) {}
	if o.MemoryLimit != nil {
		o.MemoryLimit.apply(0)
		onCount = o.MemoryLimit.apply
	}
	pid, err := daemon.AcquirePidFile(o.PidFile)
	if err != nil {
		return err
	}
	defer pid.Release()

	proc, err := sysctl.OpenProc("/proc")
	if err != nil {
		return err
	}
	defer proc.Close()
	table := handler.Default()
	srv, err := server.New(server.Config{
		MountRoot: o.MountRoot,
		Table:     table,
		Host:      handler.DefaultHost(),
		SysFiles: &server.SysFilesConfig{
			Proc: proc, ProcDir: "/proc", Host: sysctl.Host{Dir: "/proc/sys"}, SysDir: "/sys",
		},
		StateDir: o.StateDir,
		OnCount:  onCount,
		Log:      log,
	})
	if err != nil {
		return err
	}
	l, err := ipc.Listen(o.Socket)
	if err != nil {
		return err
	}
	defer func() {
		if err := os.Remove(o.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.WithError(err).Warn("remove socket")
		}
	}()
	waitAgent, err := startSeccompAgent(ctx, o.SeccompSocket, o.MgrSocket, srv, table, log)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	if err := daemon.NotifyReady(); err != nil {
		log.WithError(err).Warn("readiness notification failed")
	}
	log.WithFields(map[string]any{"socket": o.Socket, "mount_root": srv.MountRoot(), "version": version.Version, "gomaxprocs": runtime.GOMAXPROCS(0)}).Info("sysbox-fs ready")

	err = errors.Join(<-served, waitAgent())
	if err != nil {
		log.WithError(err).Error("stopped with errors")
		return err
	}
	log.Info("sysbox-fs stopped")
	return nil
}
