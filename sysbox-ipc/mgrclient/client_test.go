package mgrclient

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysmgrpb"
)

// slowMgr answers every call after delay.
type slowMgr struct {
	pb.UnimplementedSysMgrServer
	delay time.Duration
}

func (m slowMgr) ReqMounts(ctx context.Context, _ *pb.ReqMountsRequest) (*pb.ReqMountsResponse, error) {
	time.Sleep(m.delay)
	return &pb.ReqMountsResponse{Mounts: []*pb.Mount{{Destination: "/var/lib/docker"}}}, nil
}

func (m slowMgr) Register(ctx context.Context, _ *pb.RegisterRequest) (*pb.RegisterResponse, error) {
	time.Sleep(m.delay)
	return &pb.RegisterResponse{}, nil
}

func serveSlowMgr(t *testing.T, delay time.Duration) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "mgr.sock")
	l, err := ipc.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	pb.RegisterSysMgrServer(g, slowMgr{delay: delay})
	go g.Serve(l)
	t.Cleanup(g.Stop)
	return socket
}

// ReqMounts copies the image's special-dir content: it gets CopyTimeout,
// every other call the short Timeout.
func TestReqMountsMayOutlastTheOtherCallsTimeout(t *testing.T) {
	socket := serveSlowMgr(t, 300*time.Millisecond)
	c, err := New(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Timeout != ipc.DefaultTimeout || c.CopyTimeout != DefaultCopyTimeout || DefaultCopyTimeout <= ipc.DefaultTimeout {
		t.Fatalf("timeouts %v / %v, want %v and a longer copy timeout", c.Timeout, c.CopyTimeout, ipc.DefaultTimeout)
	}
	c.Timeout, c.CopyTimeout = 100*time.Millisecond, 5*time.Second

	err = c.Register(context.Background(), "c1", "/rootfs", "/bundle")
	if err == nil || !strings.Contains(err.Error(), "Register") {
		t.Fatalf("Register slower than Timeout: %v, want a deadline error naming the call", err)
	}
	mounts, err := c.ReqMounts(context.Background(), "c1", "/rootfs", nil)
	if err != nil || len(mounts) != 1 {
		t.Fatalf("ReqMounts slower than Timeout but within CopyTimeout: %v, %v", mounts, err)
	}
}
