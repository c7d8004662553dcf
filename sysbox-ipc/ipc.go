// Package ipc holds what the three Sysboxd binaries share about their gRPC
// contract: socket paths, how to dial them and how to report errors so that
// every failure names the daemon and its socket.
//
// The contract itself is the .proto files in sysbox-ipc/proto; the generated
// code lives in sysmgrpb and sysfspb.
package ipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const (
	// RunDir holds the daemons' sockets and pid files.
	RunDir = "/run/sysbox"
	// MgrSocket is sysbox-mgr's gRPC socket.
	MgrSocket = RunDir + "/sysmgr.sock"
	// FsSocket is sysbox-fs's gRPC socket.
	FsSocket = RunDir + "/sysfs.sock"
	// MgrName and FsName are the daemons' names as errors show them.
	MgrName = "sysbox-mgr"
	FsName  = "sysbox-fs"
	// DefaultTimeout bounds every call a runtime makes to a daemon.
	DefaultTimeout = 10 * time.Second
)

// ErrUnreachable is wrapped by errors for a daemon that is down or whose
// socket does not answer.
var ErrUnreachable = errors.New("daemon not reachable")

// Dial returns a client connection to a unix socket. It does not block:
// the first call fails fast when nobody listens.
func Dial(socket string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient("passthrough:///"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", socket, err)
	}
	return conn, nil
}

// CallError turns a gRPC error into one that names the daemon, its socket
// and the call. A daemon that is down yields an error wrapping
// ErrUnreachable.
func CallError(daemon, socket, method string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s (%s) %s: %w", daemon, socket, method, err)
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded:
		return fmt.Errorf("%s is not reachable at %s (%s: %s): %w; is it running? try 'sysboxctl start'",
			daemon, socket, method, st.Message(), ErrUnreachable)
	default:
		return fmt.Errorf("%s %s: %s", daemon, method, st.Message())
	}
}

// Listen opens a daemon's socket: it makes the run directory, removes a
// stale socket file left by a killed predecessor (the caller must hold the
// daemon's pid-file lock) and restricts the socket to root (0600).
func Listen(socket string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", socket, err)
	}
	l, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", socket, err)
	}
	if err := os.Chmod(socket, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod %s: %w", socket, err)
	}
	return l, nil
}
