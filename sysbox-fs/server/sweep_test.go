package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysfspb"
)

// writeFakeStat writes <proc>/<pid>/stat with starttime ticks.
func writeFakeStat(t *testing.T, proc string, pid int, ticks uint64) {
	t.Helper()
	dir := filepath.Join(proc, fmt.Sprint(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := fmt.Sprintf("%d (sh) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 1000 10", pid, ticks)
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSweepDropsTreesNobodyWillUnregister(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount fuse")
	}
	base := t.TempDir()
	proc, stateDir := filepath.Join(base, "proc"), filepath.Join(base, "state")
	clock := newFakeClock(time.Unix(1_700_000_000, 0))
	s, err := New(Config{MountRoot: filepath.Join(base, "mnt"), StateDir: stateDir, ProcDir: proc,
		Table: handler.Default(), Host: fakeHost(t, clock, 2), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.unmountAll() })
	ctx := context.Background()
	preRegister := func(id string) {
		t.Helper()
		if _, err := s.PreRegister(ctx, &pb.PreRegisterRequest{Id: id, Uid: 165536, Gid: 165536, Size: 65536}); err != nil {
			t.Fatal(err)
		}
	}
	register := func(id string, pid int) {
		t.Helper()
		if _, err := s.Register(ctx, &pb.RegisterRequest{Id: id, InitPid: int32(pid), StartTimeUnixNano: clock.Now().UnixNano()}); err != nil {
			t.Fatal(err)
		}
	}

	preRegister("failed-create") // never registered
	clock.Advance(preRegisterTTL + time.Second)
	preRegister("being-created") // registered any moment now
	writeFakeStat(t, proc, 100, 5000)
	preRegister("running")
	register("running", 100)
	writeFakeStat(t, proc, 101, 6000)
	preRegister("ended")
	register("ended", 101)
	os.RemoveAll(filepath.Join(proc, "101"))
	writeFakeStat(t, proc, 102, 7000)
	preRegister("pid-reused")
	register("pid-reused", 102)
	writeFakeStat(t, proc, 102, 9999) // another process got the pid

	s.sweep()

	st, err := s.Status(ctx, &pb.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range st.GetContainers() {
		ids = append(ids, c.GetId())
	}
	if want := []string{"being-created", "running"}; !slices.Equal(ids, want) {
		t.Fatalf("after the sweep the daemon keeps %v, want %v", ids, want)
	}
	for _, id := range []string{"failed-create", "ended", "pid-reused"} {
		if _, err := os.Stat(filepath.Join(stateDir, id+".json")); !os.IsNotExist(err) {
			t.Errorf("record of swept %s: %v, want it removed", id, err)
		}
		if _, err := os.Stat(filepath.Join(base, "mnt", id)); !os.IsNotExist(err) {
			t.Errorf("mountpoint of swept %s: %v, want it removed", id, err)
		}
	}
}
