package server

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	"github.com/sysboxd/sysboxd/sysbox-ipc/fsclient"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysfspb"
)

func mountsUnder(t *testing.T, root string) []string {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(root))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		if m.Mountpoint != root {
			out = append(out, m.Mountpoint)
		}
	}
	return out
}

// daemon runs the real server on a socket in a temp dir.
type testDaemon struct {
	root   string // mount root
	socket string
	clock  *fakeClock
	client *fsclient.Client
	raw    pb.SysFsClient // for status codes, which fsclient folds into text
	cancel context.CancelFunc
	served chan error
}

func startDaemon(t *testing.T, clock *fakeClock, hostCPUs int) *testDaemon {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount fuse")
	}
	base := t.TempDir()
	d := &testDaemon{root: filepath.Join(base, "mnt"), socket: filepath.Join(base, "sysfs.sock"), clock: clock}
	srv, err := New(Config{MountRoot: d.root, Table: handler.Default(), Host: fakeHost(t, clock, hostCPUs), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ipc.Listen(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.served = cancel, make(chan error, 1)
	go func() { d.served <- srv.Serve(ctx, l) }()
	if d.client, err = fsclient.New(d.socket); err != nil {
		t.Fatal(err)
	}
	conn, err := ipc.Dial(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	d.raw = pb.NewSysFsClient(conn)
	t.Cleanup(func() {
		d.client.Close()
		conn.Close()
		d.stop(t)
	})
	return d
}

// stop shuts the daemon down as SIGTERM does (idempotent).
func (d *testDaemon) stop(t *testing.T) {
	t.Helper()
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	select {
	case err := <-d.served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

// readFile reads p as the test containers' root: only a container's ids
// get its tree's content.
func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := readAsContainerRoot(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cgroupDir makes a fake cgroup dir holding files.
func cgroupDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDaemonServesPerContainerUptimeAndCleansUp(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clock := newFakeClock(t0)
	d := startDaemon(t, clock, 2)
	ctx := context.Background()

	var resp = map[string]*pb.PreRegisterResponse{}
	for _, id := range []string{"c1", "c2"} {
		r, err := d.client.PreRegister(ctx, &pb.PreRegisterRequest{Id: id, Uid: 165536, Gid: 165536, Size: 65536})
		if err != nil {
			t.Fatal(err)
		}
		mp := filepath.Join(d.root, id)
		if r.GetMountpoint() != mp || len(r.GetFiles()) != len(handler.Default()) ||
			uptimeSource(r) != mp+"/proc/uptime" {
			t.Fatalf("PreRegister(%s) = %v", id, r)
		}
		resp[id] = r
	}
	// Idempotent: the same answer and no second mount.
	again, err := d.client.PreRegister(ctx, &pb.PreRegisterRequest{Id: "c1", Uid: 165536, Gid: 165536, Size: 65536})
	if err != nil || again.GetMountpoint() != resp["c1"].GetMountpoint() || len(again.GetFiles()) != len(resp["c1"].GetFiles()) {
		t.Fatalf("second PreRegister(c1) = %v, %v", again, err)
	}
	if ms := mountsUnder(t, d.root); len(ms) != 2 {
		t.Fatalf("mounts under root: %q, want 2", ms)
	}
	_, err = d.raw.PreRegister(ctx, &pb.PreRegisterRequest{Id: "../evil"})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("PreRegister(../evil): %v, want InvalidArgument", err)
	}

	// Before Register, uptime counts from PreRegister on the host's CPUs.
	clock.Advance(3 * time.Second)
	c1File, c2File := uptimeSource(resp["c1"]), uptimeSource(resp["c2"])
	if got := readFile(t, c1File); got != "3.00 6.00\n" {
		t.Fatalf("c1 before Register: %q", got)
	}
	// PreRegister's range reaches the tree: host root is not in it.
	if _, err := os.ReadFile(c1File); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("host root read of c1's uptime: %v, want EACCES", err)
	}

	now := clock.Now()
	err = d.client.Register(ctx, &pb.RegisterRequest{
		Id: "c1", InitPid: 4242, StartTimeUnixNano: now.Add(-1000 * time.Second).UnixNano(),
		CgroupPaths: map[string]string{
			"cpuset":  cgroupDir(t, map[string]string{"cpuset.effective_cpus": "0\n"}),
			"cpuacct": cgroupDir(t, map[string]string{"cpuacct.usage": "250000000000\n"}),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = d.client.Register(ctx, &pb.RegisterRequest{
		Id: "c2", InitPid: 4343, StartTimeUnixNano: now.Add(-5 * time.Second).UnixNano(),
		CgroupPaths: map[string]string{
			"": cgroupDir(t, map[string]string{"cpuset.cpus.effective": "0-1\n", "cpu.stat": "usage_usec 1000000\n"}),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.raw.Register(ctx, &pb.RegisterRequest{Id: "nope", InitPid: 1, StartTimeUnixNano: 1})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("Register(nope): %v, want NotFound", err)
	}

	if got := readFile(t, c1File); got != "1000.00 750.00\n" {
		t.Fatalf("c1 uptime %q", got)
	}
	if got := readFile(t, c2File); got != "5.00 9.00\n" {
		t.Fatalf("c2 uptime %q", got)
	}

	// procps keeps the file open and re-reads after seeking to 0.
	f, err := openAsContainerRoot(c1File)
	if err != nil {
		t.Fatal(err)
	}
	var first, second []byte
	err = asContainerRoot(func() error {
		first, _ = io.ReadAll(f)
		clock.Advance(1500 * time.Millisecond)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		second, _ = io.ReadAll(f)
		return nil
	})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if string(first) != "1000.00 750.00\n" || string(second) != "1001.50 751.50\n" {
		t.Fatalf("read, seek(0), read: %q then %q", first, second)
	}

	// A container uid (not the mounter's) reads the file: allow_other.
	// The reader reopens an O_PATH fd, as a process inside the container
	// reaches the file through a bind mount without walking the host path.
	opath, err := os.OpenFile(c2File, unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer opath.Close()
	cmd := exec.Command("/bin/sh", "-c", "id -u; cat /proc/self/fd/3")
	cmd.ExtraFiles = []*os.File{opath}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 165536, Gid: 165536}}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "165536\n6.50 12.00\n" {
		t.Fatalf("read as uid 165536: %q, %v", out, err)
	}

	st, err := d.client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cs := st.GetContainers(); len(cs) != 2 || cs[0].GetId() != "c1" || cs[0].GetInitPid() != 4242 ||
		cs[0].GetStartTimeUnixNano() != now.Add(-1000*time.Second).UnixNano() ||
		cs[1].GetId() != "c2" || cs[1].GetMountpoint() != filepath.Join(d.root, "c2") {
		t.Fatalf("Status: %v", st)
	}

	for _, id := range []string{"c1", "c2", "never-created"} {
		if err := d.client.Unregister(ctx, id); err != nil {
			t.Fatalf("Unregister(%s): %v", id, err)
		}
	}
	if ms := mountsUnder(t, d.root); len(ms) != 0 {
		t.Fatalf("still mounted after Unregister: %q", ms)
	}
	if ents, err := os.ReadDir(d.root); err != nil || len(ents) != 0 {
		t.Fatalf("mount root after Unregister: %v, %v", ents, err)
	}
	if _, err := os.Stat(c1File); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("c1 file after Unregister: %v", err)
	}
}

func TestDaemonShutdownUnmountsEveryTree(t *testing.T) {
	d := startDaemon(t, newFakeClock(time.Now()), 2)
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		if _, err := d.client.PreRegister(ctx, &pb.PreRegisterRequest{Id: id}); err != nil {
			t.Fatal(err)
		}
	}
	// One tree is busy: shutdown still detaches it. (O_PATH: a tree
	// pre-registered without ids gives no one its content.)
	f, err := os.OpenFile(filepath.Join(d.root, "b", "proc", "uptime"), unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d.stop(t)
	if ms := mountsUnder(t, d.root); len(ms) != 0 {
		t.Fatalf("still mounted after shutdown: %q", ms)
	}
	if ents, err := os.ReadDir(d.root); err != nil || len(ents) != 0 {
		t.Fatalf("mount root after shutdown: %v, %v", ents, err)
	}
	if _, err := os.Stat(d.socket); err == nil {
		t.Errorf("socket %s left after shutdown", d.socket)
	}
}

// uptimeSource is where PreRegister says /proc/uptime is served.
func uptimeSource(r *pb.PreRegisterResponse) string {
	for _, f := range r.GetFiles() {
		if f.GetDestination() == "/proc/uptime" {
			return f.GetSource()
		}
	}
	return ""
}
