package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysfspb"
)

func TestContainerFollowsPreRegisterRegisterAndUnregister(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount fuse")
	}
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clock := newFakeClock(t0)
	s, err := New(Config{MountRoot: filepath.Join(t.TempDir(), "mnt"), Table: handler.Default(),
		Host: fakeHost(t, clock, 2), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Cleanup(func() {
		if err := s.unmountAll(); err != nil {
			t.Error(err)
		}
	})
	if _, ok := s.Container("c1"); ok {
		t.Fatal("unknown id found")
	}
	if _, err := s.PreRegister(ctx, &pb.PreRegisterRequest{Id: "c1", Uid: 165536, Gid: 165536, Size: 65536}); err != nil {
		t.Fatal(err)
	}
	c, ok := s.Container("c1")
	if !ok || c.ID != "c1" || !c.StartTime.Equal(t0) || c.InitPid != 0 || c.Cgroups != nil {
		t.Fatalf("after PreRegister: %+v, %v; want c1 started at %v, not registered", c, ok, t0)
	}
	started := t0.Add(time.Second)
	if _, err := s.Register(ctx, &pb.RegisterRequest{Id: "c1", InitPid: 4242, StartTimeUnixNano: started.UnixNano(),
		CgroupPaths: map[string]string{"memory": t.TempDir()}}); err != nil {
		t.Fatal(err)
	}
	c, ok = s.Container("c1")
	if !ok || c.InitPid != 4242 || !c.StartTime.Equal(started) || c.Cgroups == nil {
		t.Fatalf("after Register: %+v, %v; want init 4242 started at %v with cgroups", c, ok, started)
	}
	if _, err := s.Unregister(ctx, &pb.UnregisterRequest{Id: "c1"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Container("c1"); ok {
		t.Fatal("found after Unregister")
	}
}
