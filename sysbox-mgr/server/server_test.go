package server

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	"github.com/sysboxd/sysboxd/sysbox-ipc/mgrclient"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysmgrpb"
	"github.com/sysboxd/sysboxd/sysbox-mgr/fdstore"
	"github.com/sysboxd/sysboxd/sysbox-mgr/idpool"
	"github.com/sysboxd/sysboxd/sysbox-mgr/manager"
	"github.com/sysboxd/sysboxd/sysbox-mgr/state"
)

type fixture struct {
	dir    string
	socket string
	cfg    manager.Config
	// noFds serves without an fd store (as a manager that predates the
	// fd rpcs).
	noFds bool
}

func newFixture(t *testing.T) *fixture {
	dir := t.TempDir()
	log := logrus.New()
	log.SetOutput(io.Discard)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o711); err != nil {
		t.Fatal(err)
	}
	return &fixture{
		dir:    dir,
		socket: filepath.Join(dir, "run", "sysmgr.sock"),
		cfg: manager.Config{
			StatePath: filepath.Join(dir, "state", state.FileName),
			DataRoot:  data,
			UIDs:      idpool.Range{Start: 165536, Size: 4 * idpool.BlockSize},
			GIDs:      idpool.Range{Start: 165536, Size: 4 * idpool.BlockSize},
			Log:       log,
		},
	}
}

// start serves a fresh manager on the fixture's socket (as the daemon
// would after a restart) and returns a stop function.
func (f *fixture) start(t *testing.T) (stop func()) {
	t.Helper()
	var fds *fdstore.Store
	cfg := f.cfg
	if !f.noFds {
		fds = fdstore.New(fdstore.Config{Log: cfg.Log})
		t.Cleanup(fds.Close)
		cfg.OnRelease = func(id string) { fds.DropAll(id) } // as the daemon wires it
	}
	m, err := manager.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := ipc.Listen(f.socket)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGRPC(m, fds)
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Serve(lis)
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			g.GracefulStop()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func (f *fixture) client(t *testing.T) *mgrclient.Client {
	t.Helper()
	c, err := mgrclient.New(f.socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// raw gives the generated client, to see status codes (mgrclient turns
// them into text).
func (f *fixture) raw(t *testing.T) pb.SysMgrClient {
	t.Helper()
	conn, err := ipc.Dial(f.socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewSysMgrClient(conn)
}

func TestLifecycleOverSocketAndRestartKeepsLeases(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: ReqMounts chowns the special dirs to the container's root ID")
	}
	f := newFixture(t)
	stop := f.start(t)
	c := f.client(t)
	ctx := context.Background()
	rootfs := t.TempDir()

	if err := c.Register(ctx, "box1", rootfs, "/bundles/box1"); err != nil {
		t.Fatal(err)
	}
	first, err := c.SubidAlloc(ctx, "box1", idpool.BlockSize)
	if err != nil || !first.GetFresh() || first.GetSize() != idpool.BlockSize {
		t.Fatalf("first alloc: %v %v", first, err)
	}
	again, err := c.SubidAlloc(ctx, "box1", idpool.BlockSize)
	if err != nil || again.GetFresh() || again.GetUid() != first.GetUid() || again.GetGid() != first.GetGid() {
		t.Fatalf("second alloc of box1: %v %v, want the block of %v", again, err, first)
	}
	other, err := c.SubidAlloc(ctx, "box2", idpool.BlockSize)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := first, other
	if lo.GetUid() > hi.GetUid() {
		lo, hi = hi, lo
	}
	if lo.GetUid()+lo.GetSize() > hi.GetUid() || lo.GetGid()+lo.GetSize() > hi.GetGid() {
		t.Fatalf("box1 %v and box2 %v overlap", first, other)
	}

	mounts, err := c.ReqMounts(ctx, "box1", rootfs, []string{"/var/lib/kubelet"})
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 6 || mounts[0].GetDestination() != "/var/lib/docker" || mounts[0].GetType() != "bind" ||
		mounts[0].GetSource() != filepath.Join(f.cfg.DataRoot, "docker", "box1") {
		t.Fatalf("mounts: %v", mounts)
	}
	for _, m := range mounts {
		if m.GetDestination() == "/var/lib/kubelet" {
			t.Fatal("special dir made where the user mounts something")
		}
	}

	if err := c.Unregister(ctx, "box1", false); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil || len(st.GetLeases()) != 2 || st.GetPoolStart() != 165536 || st.GetPoolSize() != 4*idpool.BlockSize {
		t.Fatalf("status: %v %v", st, err)
	}
	if b1 := st.GetLeases()[0]; b1.GetId() != "box1" || b1.GetRunning() || b1.GetRootfs() != rootfs || len(b1.GetMounts()) != 6 {
		t.Fatalf("box1 after Unregister(release=false): %v", b1)
	}

	// Restart the daemon on the same state dir.
	stop()
	f.start(t)
	c2 := f.client(t)
	after, err := c2.SubidAlloc(ctx, "box1", idpool.BlockSize)
	if err != nil || after.GetFresh() || after.GetUid() != first.GetUid() {
		t.Fatalf("after restart box1 got %v %v, want block %d", after, err, first.GetUid())
	}
	if err := c2.Unregister(ctx, "box1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(mounts[0].GetSource()); !os.IsNotExist(err) {
		t.Fatalf("special dir survived the release: %v", err)
	}
	st, _ = c2.Status(ctx)
	if len(st.GetLeases()) != 1 || st.GetLeases()[0].GetId() != "box2" {
		t.Fatalf("after release: %v", st.GetLeases())
	}
	// The freed block is handed out again.
	re, err := c2.SubidAlloc(ctx, "box3", idpool.BlockSize)
	if err != nil || !re.GetFresh() || re.GetUid() != first.GetUid() {
		t.Fatalf("box3 got %v %v, want the freed block %d", re, err, first.GetUid())
	}
}

func TestBadInputGetsErrorCodesAndServerStaysUp(t *testing.T) {
	f := newFixture(t)
	f.start(t)
	api := f.raw(t)
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"SubidAlloc empty id", func() error {
			_, err := api.SubidAlloc(ctx, &pb.SubidAllocRequest{Size: idpool.BlockSize})
			return err
		}, codes.InvalidArgument},
		{"SubidAlloc zero size", func() error {
			_, err := api.SubidAlloc(ctx, &pb.SubidAllocRequest{Id: "x"})
			return err
		}, codes.InvalidArgument},
		{"SubidAlloc absurd size", func() error {
			_, err := api.SubidAlloc(ctx, &pb.SubidAllocRequest{Id: "x", Size: 4_000_000_000})
			return err
		}, codes.InvalidArgument},
		{"SubidAlloc not a multiple of 65536", func() error {
			_, err := api.SubidAlloc(ctx, &pb.SubidAllocRequest{Id: "x", Size: 1000})
			return err
		}, codes.InvalidArgument},
		{"Register empty id", func() error {
			_, err := api.Register(ctx, &pb.RegisterRequest{Rootfs: "/x"})
			return err
		}, codes.InvalidArgument},
		{"Register id with a slash", func() error {
			_, err := api.Register(ctx, &pb.RegisterRequest{Id: "a/../../b"})
			return err
		}, codes.InvalidArgument},
		{"Unregister unknown id", func() error {
			_, err := api.Unregister(ctx, &pb.UnregisterRequest{Id: "ghost"})
			return err
		}, codes.NotFound},
		{"Unregister release unknown id", func() error {
			_, err := api.Unregister(ctx, &pb.UnregisterRequest{Id: "ghost", Release: true})
			return err
		}, codes.NotFound},
		{"ReqMounts unknown id", func() error {
			_, err := api.ReqMounts(ctx, &pb.ReqMountsRequest{Id: "ghost"})
			return err
		}, codes.NotFound},
		{"ReqMounts relative rootfs", func() error {
			_, err := api.ReqMounts(ctx, &pb.ReqMountsRequest{Id: "ghost", Rootfs: "rel"})
			return err
		}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := status.Code(tt.call()); got != tt.want {
				t.Fatalf("code %v, want %v", got, tt.want)
			}
		})
	}
	// Exhaustion, then the daemon still serves.
	for _, id := range []string{"a", "b", "c", "d"} {
		if _, err := api.SubidAlloc(ctx, &pb.SubidAllocRequest{Id: id, Size: idpool.BlockSize}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := api.SubidAlloc(ctx, &pb.SubidAllocRequest{Id: "e", Size: idpool.BlockSize})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("exhaustion: %v", err)
	}
	if _, err := api.SubidAlloc(ctx, &pb.SubidAllocRequest{Id: "a", Size: 2 * idpool.BlockSize}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("same id, other size: %v", err)
	}
	st, err := api.Status(ctx, &pb.StatusRequest{})
	if err != nil || len(st.GetLeases()) != 4 {
		t.Fatalf("server not healthy after bad input: %v %v", st, err)
	}
}

func TestConcurrentSubidAllocsOverSocketAreDisjoint(t *testing.T) {
	f := newFixture(t)
	f.cfg.UIDs.Size = 64 * idpool.BlockSize
	f.cfg.GIDs.Size = 64 * idpool.BlockSize
	f.start(t)
	c := f.client(t)
	const n = 50
	got := make([]*pb.SubidAllocResponse, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = c.SubidAlloc(context.Background(), fmt.Sprintf("ctr%02d", i), idpool.BlockSize)
		})
	}
	wg.Wait()
	seen := map[uint32]string{}
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		// Blocks are aligned, so distinct starts mean disjoint blocks.
		if (got[i].GetUid()-165536)%idpool.BlockSize != 0 || got[i].GetUid()-165536 != got[i].GetGid()-165536 {
			t.Fatalf("ctr%02d: unaligned block %v", i, got[i])
		}
		if other, dup := seen[got[i].GetUid()]; dup {
			t.Fatalf("ctr%02d and %s share uid %d", i, other, got[i].GetUid())
		}
		seen[got[i].GetUid()] = fmt.Sprintf("ctr%02d", i)
	}
}
