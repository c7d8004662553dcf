package server

import (
	"context"
	"os"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysmgrpb"
	"github.com/sysboxd/sysboxd/sysbox-mgr/fdstore"
	"github.com/sysboxd/sysboxd/sysbox-mgr/fdstore/fdstoretest"
	"github.com/sysboxd/sysboxd/sysbox-mgr/idpool"
)

func TestMain(m *testing.M) {
	fdstoretest.MaybeChild()
	os.Exit(m.Run())
}

// kept lists the manager's copies as "id/tag" strings.
func kept(t *testing.T, api pb.SysMgrClient) (pid int32, out []string) {
	t.Helper()
	resp, err := api.KeptFds(context.Background(), &pb.KeptFdsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range resp.GetFds() {
		out = append(out, k.GetId()+"/"+k.GetTag())
	}
	return resp.GetPid(), out
}

// The manager copies a notify fd out of another process; a third party
// (here the test, standing for a restarted sysbox-fs) takes the copy back
// from the manager's pid with pidfd_getfd after the original is gone.
func TestKeptNotifyFdCanBeTakenBackFromTheManager(t *testing.T) {
	f := newFixture(t)
	f.start(t)
	c := f.client(t)
	ctx := context.Background()
	child := fdstoretest.Start(t)
	if err := c.KeepFd(ctx, "box1", child.Pid, child.Fd, "t1"); err != nil {
		t.Fatal(err)
	}
	resp, err := c.KeptFds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetPid() != int32(os.Getpid()) || len(resp.GetFds()) != 1 {
		t.Fatalf("KeptFds = %v, want pid %d and one fd", resp, os.Getpid())
	}
	k := resp.GetFds()[0]
	if k.GetId() != "box1" || k.GetTag() != "t1" {
		t.Fatalf("kept %v, want box1/t1", k)
	}
	back, err := fdstore.Getfd(int(resp.GetPid()), int(k.GetFd()))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(back)
	if err := fdstore.IsNotifyFd(back); err != nil {
		t.Fatalf("the fd taken back: %v", err)
	}
	if err := c.DropFd(ctx, "box1", "t1"); err != nil {
		t.Fatal(err)
	}
	if _, left := kept(t, f.raw(t)); len(left) != 0 {
		t.Fatalf("kept after DropFd: %v", left)
	}
	// Dropping what is not kept is fine (closed on POLLHUP meanwhile).
	if err := c.DropFd(ctx, "box1", "t1"); err != nil {
		t.Fatalf("second DropFd: %v", err)
	}
}

func TestKeptFdsAreClosedOnReleaseAndWhenTheirProcessesAreGone(t *testing.T) {
	f := newFixture(t)
	f.start(t)
	c := f.client(t)
	api := f.raw(t)
	ctx := context.Background()
	rootfs := t.TempDir()
	if err := c.Register(ctx, "box1", rootfs, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubidAlloc(ctx, "box1", idpool.BlockSize); err != nil {
		t.Fatal(err)
	}
	ch1, ch2, ch3 := fdstoretest.Start(t), fdstoretest.Start(t), fdstoretest.Start(t)
	for _, k := range []struct {
		id, tag string
		ch      *fdstoretest.Child
	}{{"box1", "a", ch1}, {"box1", "b", ch2}, {"box2", "a", ch3}} {
		if err := c.KeepFd(ctx, k.id, k.ch.Pid, k.ch.Fd, k.tag); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Unregister(ctx, "box1", false); err != nil {
		t.Fatal(err)
	}
	if _, got := kept(t, api); len(got) != 3 {
		t.Fatalf("kept after a stop (lease kept): %v, want all 3", got)
	}
	if err := c.Unregister(ctx, "box1", true); err != nil {
		t.Fatal(err)
	}
	if _, got := kept(t, api); len(got) != 1 || got[0] != "box2/a" {
		t.Fatalf("kept after box1's release: %v, want [box2/a]", got)
	}
	ch3.Exit(t)
	if _, got := kept(t, api); len(got) != 0 {
		t.Fatalf("kept after box2's process exited: %v, want none", got)
	}
}

func TestFdRpcsRefuseBadRequests(t *testing.T) {
	f := newFixture(t)
	f.start(t)
	api := f.raw(t)
	ctx := context.Background()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	pid := int32(os.Getpid())
	tests := []struct {
		name string
		req  *pb.KeepFdRequest
	}{
		{"not a notify fd", &pb.KeepFdRequest{Id: "box1", Tag: "t", Pid: pid, Fd: int32(r.Fd())}},
		{"empty id", &pb.KeepFdRequest{Tag: "t", Pid: pid, Fd: int32(r.Fd())}},
		{"empty tag", &pb.KeepFdRequest{Id: "box1", Pid: pid, Fd: int32(r.Fd())}},
		{"no pid", &pb.KeepFdRequest{Id: "box1", Tag: "t", Fd: int32(r.Fd())}},
		{"fd not open", &pb.KeepFdRequest{Id: "box1", Tag: "t", Pid: pid, Fd: 1 << 20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := api.KeepFd(ctx, tc.req); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("KeepFd: %v, want InvalidArgument", err)
			}
		})
	}
	if _, got := kept(t, api); len(got) != 0 {
		t.Fatalf("kept after bad requests: %v", got)
	}
}

// A manager without an fd store answers as one that predates the fd
// rpcs: Unimplemented, which sysbox-fs takes as "no copies kept".
func TestFdRpcsAreUnimplementedWithoutAStore(t *testing.T) {
	f := newFixture(t)
	f.noFds = true
	f.start(t)
	api := f.raw(t)
	ctx := context.Background()
	_, errKeep := api.KeepFd(ctx, &pb.KeepFdRequest{Id: "box1", Tag: "t", Pid: int32(os.Getpid()), Fd: 0})
	_, errDrop := api.DropFd(ctx, &pb.DropFdRequest{Id: "box1", Tag: "t"})
	_, errList := api.KeptFds(ctx, &pb.KeptFdsRequest{})
	for name, err := range map[string]error{"KeepFd": errKeep, "DropFd": errDrop, "KeptFds": errList} {
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("%s: %v, want Unimplemented", name, err)
		}
	}
}
