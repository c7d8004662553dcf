// Package app is sysbox-mgr's command line: the daemon (default action)
// and the status subcommand.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/internal/daemon"
	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	"github.com/sysboxd/sysboxd/sysbox-mgr/fdstore"
	"github.com/sysboxd/sysboxd/sysbox-mgr/idpool"
	"github.com/sysboxd/sysboxd/sysbox-mgr/manager"
	"github.com/sysboxd/sysboxd/sysbox-mgr/server"
	"github.com/sysboxd/sysboxd/sysbox-mgr/specialdir"
	"github.com/sysboxd/sysboxd/sysbox-mgr/state"
)

// Options configure the daemon (the CLI flags).
type Options struct {
	Socket       string
	PidFile      string
	StateDir     string
	DataRoot     string
	SubidUser    string
	SubuidFile   string
	SubgidFile   string
	ReapInterval time.Duration
	// NoCopyOut: see manager.Config.
	NoCopyOut bool
	// StopTimeout bounds the graceful stop; then calls are cut off.
	StopTimeout time.Duration
	// Statfs checks the data root's filesystem; nil means unix.Statfs.
	Statfs specialdir.Statfs
	// Ready, when set, is called once the socket serves.
	Ready func()
	// AppArmorProfileFile is loaded into the kernel at start where AppArmor is on ("" =
	// leave AppArmor alone).
	AppArmorProfileFile string
	// AppArmor loads it; the zero value means apparmor_parser on the real host.
	AppArmor appArmorLoader
}

// Run runs the daemon until ctx ends: pid file, state, reconcile, serve.
// On return the socket and pid file are gone and the state is on disk.
func Run(ctx context.Context, o Options, log *logrus.Logger) error {
	if o.ReapInterval <= 0 {
		return fmt.Errorf("--reap-interval %v: must be positive", o.ReapInterval)
	}
	if o.Statfs == nil {
		o.Statfs = unix.Statfs
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 10 * time.Second
	}
	pid, err := daemon.AcquirePidFile(o.PidFile)
	if err != nil {
		return err
	}
	defer pid.Release()

	uids, err := idpool.ReadSubidFile(o.SubuidFile, o.SubidUser)
	if err != nil {
		return fmt.Errorf("uid pool: %w", err)
	}
	gids, err := idpool.ReadSubidFile(o.SubgidFile, o.SubidUser)
	if err != nil {
		return fmt.Errorf("gid pool: %w", err)
	}
	if err := specialdir.PrepareDataRoot(o.DataRoot, o.Statfs); err != nil {
		return err
	}
	if o.AppArmorProfileFile != "" {
		if o.AppArmor.Parser == nil {
			o.AppArmor = defaultAppArmorLoader()
		}
		// Not fatal: without the profile, system containers keep the engine's default
		// profile and sysbox-runc logs why inner Docker and systemd are restricted.
		switch err := o.AppArmor.load(ctx, o.AppArmorProfileFile); {
		case errors.Is(err, errAppArmorOff):
		case err != nil:
			log.WithError(err).Error("could not load the system-container AppArmor profile")
		default:
			log.WithField("file", o.AppArmorProfileFile).Debug("AppArmor profile loaded")
		}
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	// sysbox-fs's seccomp notify fds, kept across its restarts (in
	// memory: lost when this daemon stops).
	fds := fdstore.New(fdstore.Config{Log: log})
	defer fds.Close()
	m, err := manager.New(manager.Config{
		StatePath: filepath.Join(o.StateDir, state.FileName),
		DataRoot:  o.DataRoot,
		UIDs:      uids,
		GIDs:      gids,
		NoCopyOut: o.NoCopyOut,
		OnRelease: func(id string) { fds.DropAll(id) },
		Log:       log,
	})
	if err != nil {
		return err
	}
	if err := m.Reconcile(); err != nil {
		log.WithError(err).Warn("reconcile at start incomplete")
	}

	lis, err := ipc.Listen(o.Socket)
	if err != nil {
		return err
	}
	defer os.Remove(o.Socket)
	g := server.NewGRPC(m, fds)
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()

	reapCtx, stopReaper := context.WithCancel(ctx)
	reaperDone := make(chan struct{})
	go func() {
		defer close(reaperDone)
		m.RunReaper(reapCtx, o.ReapInterval)
	}()
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		fds.Run(reapCtx, fdSweepInterval)
	}()

	if err := daemon.NotifyReady(); err != nil {
		log.WithError(err).Warn("readiness notification failed")
	}
	log.WithFields(logrus.Fields{
		"socket": o.Socket, "uids": uids.String(), "gids": gids.String(),
		"leases": len(m.Leases()), "data-root": o.DataRoot,
	}).Info("sysbox-mgr ready")
	if o.Ready != nil {
		o.Ready()
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case serveErr = <-served:
		serveErr = fmt.Errorf("serve %s: %w", o.Socket, serveErr)
	}
	stopReaper()
	<-reaperDone
	<-sweepDone
	if daemon.StopGRPC(g, o.StopTimeout) {
		log.Warn("calls still running after the stop timeout: cut off")
	}
	if err := m.Flush(); err != nil {
		return errors.Join(serveErr, err)
	}
	return serveErr
}

// logSetup builds the logger; it returns a closer for the log file.
func logSetup(level, format, file string) (*logrus.Logger, io.Closer, error) {
	return daemon.NewLogger(daemon.LogConfig{Level: level, Format: format, File: file})
}

// defaultReapInterval is how often the reaper looks for removed containers.
const defaultReapInterval = 2 * time.Second

// fdSweepInterval is how often kept notify fds whose processes are gone
// are closed.
const fdSweepInterval = 5 * time.Second
