package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysfspb"
)

// fusectl is where the kernel lists FUSE connections; writing to a
// connection's abort file does what the death of its daemon does.
const fusectl = "/sys/fs/fuse/connections"

func mountFusectl(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(fusectl, ".")); err == nil {
		if entries, _ := os.ReadDir(fusectl); len(entries) > 0 {
			return // mounted (a connection is listed)
		}
	}
	if err := unix.Mount("none", fusectl, "fusectl", 0, ""); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return
		}
		t.Skipf("cannot mount fusectl: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(fusectl, 0) })
}

// abortTree kills the FUSE connection serving dir, as the death of the
// daemon does.
func abortTree(t *testing.T, dir string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(fusectl, strconv.FormatUint(st.Dev, 10), "abort")
	if err := os.WriteFile(p, []byte("1"), 0o200); err != nil {
		t.Fatalf("abort connection: %v", err)
	}
}

// containerStandIn starts a process in a mount namespace of its own with
// the tree's proc/uptime bound on target, as the runtime binds it into a
// container, and returns its pid.
func containerStandIn(t *testing.T, tree, target string) int {
	t.Helper()
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		fmt.Sprintf("mount --bind %s/proc/uptime %s && mount -o remount,bind,ro,nosuid %s && echo ready && exec sleep 600",
			tree, target, target))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("stand-in did not start: %q %v", line, err)
	}
	return cmd.Process.Pid
}

func newRestoringServer(t *testing.T, root, stateDir string, clock *fakeClock) *Server {
	t.Helper()
	s, err := New(Config{MountRoot: root, StateDir: stateDir, Table: handler.Default(), Host: fakeHost(t, clock, 2), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.unmountAll(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestRestartedDaemonTakesOverARunningContainersFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount fuse")
	}
	mountFusectl(t)
	base := t.TempDir()
	root, stateDir := filepath.Join(base, "mnt"), filepath.Join(base, "state")
	clock := newFakeClock(time.Unix(1_700_000_000, 0))
	ctx := context.Background()

	first := newRestoringServer(t, root, stateDir, clock)
	pre, err := first.PreRegister(ctx, &pb.PreRegisterRequest{Id: "c1", Uid: containerRoot, Gid: containerRoot, Size: 65536})
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(base, "uptime")
	pid := containerStandIn(t, pre.GetMountpoint(), target)
	start := clock.Now().Add(-90 * time.Second)
	if _, err := first.Register(ctx, &pb.RegisterRequest{Id: "c1", InitPid: int32(pid), StartTimeUnixNano: start.UnixNano()}); err != nil {
		t.Fatal(err)
	}
	inside := fmt.Sprintf("/proc/%d/root%s", pid, target)
	if got := readFile(t, inside); !strings.HasPrefix(got, "90.00 ") {
		t.Fatalf("before the restart the container reads %q, want an uptime of 90.00", got)
	}

	// The daemon dies: its connection is aborted, the container's file is dead.
	abortTree(t, pre.GetMountpoint())
	if _, err := os.ReadFile(inside); !errors.Is(err, unix.ENOTCONN) {
		t.Fatalf("after the daemon's death the read gave %v, want ENOTCONN", err)
	}

	// A new daemon on the same state dir takes the container over.
	second := newRestoringServer(t, root, stateDir, clock)
	if got := readFile(t, inside); !strings.HasPrefix(got, "90.00 ") {
		t.Fatalf("after the restart the container reads %q, want an uptime of 90.00", got)
	}
	st, err := second.Status(ctx, &pb.StatusRequest{})
	if err != nil || len(st.GetContainers()) != 1 || st.GetContainers()[0].GetInitPid() != int32(pid) {
		t.Fatalf("status after the take-over: %v, %v; want c1 with init %d", st, err, pid)
	}
	ms, err := processMounts("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		if m.Mountpoint == target {
			n++
			if !strings.Contains(","+m.Options+",", ",ro,") || !strings.Contains(m.Options, "nosuid") {
				t.Errorf("replaced mount has options %q, want the old ro,nosuid kept", m.Options)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d mounts on %s in the container, want 1 (the dead one unmounted)", n, target)
	}

	// Unregister drops the record: a third daemon has nothing to take over.
	if _, err := second.Unregister(ctx, &pb.UnregisterRequest{Id: "c1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "c1.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("record after Unregister: %v, want none", err)
	}
}

func TestRestoreDropsRecordsOfEndedOrFailedContainersAndUnreadableFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount fuse")
	}
	base := t.TempDir()
	root, stateDir := filepath.Join(base, "mnt"), filepath.Join(base, "state")
	clock := newFakeClock(time.Unix(1_700_000_000, 0))
	ctx := context.Background()

	first := newRestoringServer(t, root, stateDir, clock)
	// An ended process: its pid is not running any more.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"failed-create", "ended", "created"} {
		if _, err := first.PreRegister(ctx, &pb.PreRegisterRequest{Id: id, Uid: containerRoot, Gid: containerRoot, Size: 65536}); err != nil {
			t.Fatal(err)
		}
		if id == "failed-create" { // pre-registered long before the restart, never registered
			clock.Advance(preRegisterTTL + time.Second)
		}
	}
	if _, err := first.Register(ctx, &pb.RegisterRequest{Id: "ended", InitPid: int32(gone.Process.Pid), StartTimeUnixNano: 1}); err != nil {
		t.Fatal(err)
	}
	if err := first.unmountAll(); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"junk.json": "{not json", "other.json": `{"version":99,"id":"other"}`} {
		if err := os.WriteFile(filepath.Join(stateDir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	second := newRestoringServer(t, root, stateDir, clock)
	st, err := second.Status(ctx, &pb.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range st.GetContainers() {
		ids = append(ids, c.GetId())
	}
	if strings.Join(ids, ",") != "created" {
		t.Errorf("taken over %v, want only the pre-registered container", ids)
	}
	entries, _ := os.ReadDir(stateDir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if strings.Join(left, ",") != "created.json" {
		t.Errorf("state dir holds %v, want only created.json", left)
	}
}

func TestProcessStartTicksReadsField22PastACommandWithSpaces(t *testing.T) {
	proc := t.TempDir()
	stat := "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10"
	if err := os.MkdirAll(filepath.Join(proc, "42"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "42", "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := processStartTicks(proc, 42)
	if err != nil || got != 123456 {
		t.Fatalf("got %d, %v; want 123456", got, err)
	}
	if _, err := processStartTicks(proc, 43); err == nil {
		t.Fatal("a missing process gave no error")
	}
}

func TestMountFlagsKeepsOnlyPerMountAttributes(t *testing.T) {
	for _, tc := range []struct {
		options string
		want    uint64
	}{
		{"rw,relatime", 0},
		{"ro,nosuid,nodev,noexec,relatime", unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC},
		{"rw,nosuid,nodev,relatime", unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV},
	} {
		if got := mountFlags(tc.options); got != tc.want {
			t.Errorf("mountFlags(%q) = %#x, want %#x", tc.options, got, tc.want)
		}
	}
}
