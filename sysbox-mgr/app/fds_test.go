package app

import (
	"context"
	"os"
	"testing"

	"github.com/sysboxd/sysboxd/sysbox-ipc/mgrclient"
	"github.com/sysboxd/sysboxd/sysbox-mgr/fdstore/fdstoretest"
)

func TestMain(m *testing.M) {
	fdstoretest.MaybeChild()
	os.Exit(m.Run())
}

// The daemon keeps notify fds and closes a container's on its release.
func TestDaemonKeepsNotifyFdsUntilTheContainerIsReleased(t *testing.T) {
	o := testOptions(t)
	startDaemon(t, o)
	c, err := mgrclient.New(o.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	rootfs := t.TempDir()
	if err := c.Register(ctx, "box1", rootfs, ""); err != nil {
		t.Fatal(err)
	}
	child := fdstoretest.Start(t)
	if err := c.KeepFd(ctx, "box1", child.Pid, child.Fd, "t1"); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		resp, err := c.KeptFds(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetPid() != int32(os.Getpid()) {
			t.Fatalf("KeptFds pid %d, want the daemon's %d", resp.GetPid(), os.Getpid())
		}
		return len(resp.GetFds())
	}
	if n := count(); n != 1 {
		t.Fatalf("kept %d, want 1", n)
	}
	if err := c.Unregister(ctx, "box1", true); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("kept %d after the release, want 0", n)
	}
}
