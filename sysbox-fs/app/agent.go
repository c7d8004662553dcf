package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	"github.com/sysboxd/sysboxd/sysbox-fs/seccomp"
	"github.com/sysboxd/sysboxd/sysbox-fs/server"
	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	"github.com/sysboxd/sysboxd/sysbox-ipc/mgrclient"
)

// startSeccompAgent listens on socket and serves the notify fds the
// runtime sends there until ctx is cancelled. When mgrSocket is set,
// sysbox-mgr there keeps copies of the fds, so that they survive a restart
// of sysbox-fs (the agent takes them back at start). The returned wait
// blocks until the agent has closed every fd and removed its socket.
func startSeccompAgent(ctx context.Context, socket, mgrSocket string, srv *server.Server, table handler.Table, log logrus.FieldLogger) (wait func() error, err error) {
	cfg := seccomp.Config{
		Lookup:  srv.Container,
		Sysinfo: handler.NewSysinfo(table),
		Files: func(id string) ([]seccomp.VirtualFile, bool) {
			files, ok := srv.Files(id)
			out := make([]seccomp.VirtualFile, 0, len(files))
			for _, f := range files {
				out = append(out, seccomp.VirtualFile{Destination: f.GetDestination(), Source: f.GetSource()})
			}
			return out, ok
		},
		Log: log,
	}
	var mgr *mgrclient.Client
	if mgrSocket != "" {
		// Connects lazily: a sysbox-mgr that is down is only logged.
		if mgr, err = mgrclient.New(mgrSocket); err != nil {
			return nil, err
		}
		// The seccomp socket names this daemon: a test instance with its
		// own socket never touches the copies of the real one.
		cfg.Keeper, cfg.Owner = mgrKeeper{mgr}, socket
	}
	closeMgr := func() {
		if mgr != nil {
			mgr.Close()
		}
	}
	agent, err := seccomp.New(cfg)
	if err != nil {
		closeMgr()
		return nil, err
	}
	l, err := ipc.Listen(socket)
	if err != nil {
		closeMgr()
		return nil, err
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		closeMgr()
		return nil, fmt.Errorf("seccomp socket %s: not a unix socket listener", socket)
	}
	done := make(chan error, 1)
	go func() { done <- agent.Serve(ctx, ul) }()
	return func() error {
		err := <-done
		closeMgr()
		if rmErr := os.Remove(socket); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			log.WithError(rmErr).Warn("remove seccomp socket")
		}
		return err
	}, nil
}

// mgrKeeper is sysbox-mgr as the agent's fd keeper.
type mgrKeeper struct{ c *mgrclient.Client }

// KeepFd implements seccomp.Keeper; an fd sysbox-mgr refuses
// (InvalidArgument) is seccomp.ErrRefused.
func (k mgrKeeper) KeepFd(ctx context.Context, id string, pid, fd int, tag string) error {
	err := k.c.KeepFd(ctx, id, pid, fd, tag)
	if status.Code(err) == codes.InvalidArgument {
		return fmt.Errorf("%w: %w", seccomp.ErrRefused, err)
	}
	return err
}

// DropFd implements seccomp.Keeper.
func (k mgrKeeper) DropFd(ctx context.Context, id, tag string) error {
	return k.c.DropFd(ctx, id, tag)
}

// KeptFds implements seccomp.Keeper.
func (k mgrKeeper) KeptFds(ctx context.Context) (int, []seccomp.KeptFd, error) {
	resp, err := k.c.KeptFds(ctx)
	if err != nil {
		return 0, nil, err
	}
	out := make([]seccomp.KeptFd, 0, len(resp.GetFds()))
	for _, f := range resp.GetFds() {
		out = append(out, seccomp.KeptFd{ID: f.GetId(), Tag: f.GetTag(), Fd: int(f.GetFd())})
	}
	return int(resp.GetPid()), out, nil
}
