package runtest

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	"github.com/sysboxd/sysboxd/sysbox-fs/seccomp"
)

// fixedSysinfo answers 1 TiB of memory, none free (busybox free subtracts the host's Cached
// from /proc/meminfo: its "used" stays positive), and 42 minutes of uptime.
type fixedSysinfo struct{}

func (fixedSysinfo) Info(handler.Container) (unix.Sysinfo_t, error) {
	return unix.Sysinfo_t{Uptime: 42 * 60, Totalram: 1 << 40, Freeram: 0, Procs: 1, Unit: 1}, nil
}

// startAgent serves sysbox-fs's seccomp agent on socket for the container "runtest" until
// the test ends, and returns the socket.
func startAgent(t *testing.T, socket string) string {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	a, err := seccomp.New(seccomp.Config{
		Lookup:  func(id string) (handler.Container, bool) { return handler.Container{ID: id}, id == "runtest" },
		Sysinfo: fixedSysinfo{},
		Log:     log,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	return socket
}
