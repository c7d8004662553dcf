package app

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sysboxd/sysboxd/sysbox-fs/seccomp"
	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	"github.com/sysboxd/sysboxd/sysbox-ipc/mgrclient"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysmgrpb"
)

// fakeMgr answers the fd rpcs: KeepFd refuses fd 0, KeptFds lists one
// copy; DropFd is left unimplemented (as in a sysbox-mgr without it).
type fakeMgr struct {
	pb.UnimplementedSysMgrServer
}

func (fakeMgr) KeepFd(_ context.Context, r *pb.KeepFdRequest) (*pb.KeepFdResponse, error) {
	if r.GetFd() == 0 {
		return nil, status.Error(codes.InvalidArgument, "fd is \"pipe:[1]\", not a seccomp notify fd")
	}
	return &pb.KeepFdResponse{}, nil
}

func (fakeMgr) KeptFds(context.Context, *pb.KeptFdsRequest) (*pb.KeptFdsResponse, error) {
	return &pb.KeptFdsResponse{Pid: 42, Fds: []*pb.KeptFd{{Id: "c1", Tag: "s#1-2-3", Fd: 7}}}, nil
}

func TestMgrKeeperMapsTheManagersAnswers(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "mgr.sock")
	l, err := ipc.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	pb.RegisterSysMgrServer(g, fakeMgr{})
	go g.Serve(l)
	defer g.Stop()
	c, err := mgrclient.New(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var k seccomp.Keeper = mgrKeeper{c}
	ctx := context.Background()

	if err := k.KeepFd(ctx, "c1", 1, 5, "s#1"); err != nil {
		t.Errorf("KeepFd accepted: %v", err)
	}
	if err := k.KeepFd(ctx, "c1", 1, 0, "s#1"); !errors.Is(err, seccomp.ErrRefused) {
		t.Errorf("KeepFd refused: %v, want seccomp.ErrRefused", err)
	}
	if err := k.DropFd(ctx, "c1", "s#1"); err == nil || errors.Is(err, seccomp.ErrRefused) {
		t.Errorf("DropFd unimplemented: %v, want a plain error", err)
	}
	pid, fds, err := k.KeptFds(ctx)
	if err != nil || pid != 42 || len(fds) != 1 || fds[0] != (seccomp.KeptFd{ID: "c1", Tag: "s#1-2-3", Fd: 7}) {
		t.Errorf("KeptFds = %d, %+v, %v", pid, fds, err)
	}
	g.Stop()
	if _, _, err := k.KeptFds(ctx); !errors.Is(err, ipc.ErrUnreachable) {
		t.Errorf("KeptFds with the manager down: %v, want ErrUnreachable", err)
	}
}
