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
	// SeccompSocket is where sysbox-fs's seccomp agent takes the notify fds
	// libcontainer hands over (the listenerPath of every system container's
	// seccomp profile). Not gRPC: libcontainer's own SCM_RIGHTS protocol.
	SeccompSocket = RunDir + "/sysfs-seccomp.sock"
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
// ErrUnreachable; the gRPC status stays reachable (status.Code works on the
// result), so callers can tell NotFound from other failures.
func CallError(daemon, socket, method string, err error) error {
	if err == nil {
		return nil
	}
	return &callError{daemon: daemon, socket: socket, method: method, err: err}
}

type callError struct {
	daemon, socket, method string
	err                    error
}

func (e *callError) unreachable() bool {
	c := status.Code(e.err)
	return c == codes.Unavailable || c == codes.DeadlineExceeded
}

func (e *callError) Error() string {
	st, ok := status.FromError(e.err)
	switch {
	case !ok:
		return fmt.Sprintf("%s (%s) %s: %v", e.daemon, e.socket, e.method, e.err)
	case e.unreachable():
		return fmt.Sprintf("%s is not reachable at %s (%s: %s); is it running? try 'sysboxctl start'",
			e.daemon, e.socket, e.method, st.Message())
	default:
		return fmt.Sprintf("%s %s: %s", e.daemon, e.method, st.Message())
	}
}

// Unwrap exposes the gRPC error and, for a daemon that is down,
// ErrUnreachable.
func (e *callError) Unwrap() []error {
	if e.unreachable() {
		return []error{e.err, ErrUnreachable}
	}
	return []error{e.err}
}

// GRPCStatus lets status.Code and status.FromError see through the wrapper.
func (e *callError) GRPCStatus() *status.Status {
	st, _ := status.FromError(e.err)
	return st
}

// IsNotFound reports whether a daemon answered that it does not know the
// container.
func IsNotFound(err error) bool {
	return status.Code(err) == codes.NotFound
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
