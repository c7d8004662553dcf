package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	"github.com/sysboxd/sysboxd/sysbox-fs/seccomp"
	"github.com/sysboxd/sysboxd/sysbox-fs/server"
	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
)

// startSeccompAgent listens on socket and serves the notify fds the
// runtime sends there until ctx is cancelled. The returned wait blocks
// until the agent has closed every fd and removed its socket.
func startSeccompAgent(ctx context.Context, socket string, srv *server.Server, table handler.Table, log logrus.FieldLogger) (wait func() error, err error) {
	agent, err := seccomp.New(seccomp.Config{
		Lookup:  srv.Container,
		Sysinfo: handler.NewSysinfo(table),
		Log:     log,
	})
	if err != nil {
		return nil, err
	}
	l, err := ipc.Listen(socket)
	if err != nil {
		return nil, err
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		return nil, fmt.Errorf("seccomp socket %s: not a unix socket listener", socket)
	}
	done := make(chan error, 1)
	go func() { done <- agent.Serve(ctx, ul) }()
	return func() error {
		err := <-done
		if rmErr := os.Remove(socket); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			log.WithError(rmErr).Warn("remove seccomp socket")
		}
		return err
	}, nil
}
