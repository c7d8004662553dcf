package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/internal/daemon"
	"github.com/sysboxd/sysboxd/sysbox-ipc/mgrclient"
)

func ext4(string, *unix.Statfs_t) error { return nil }

func testOptions(t *testing.T) Options {
	dir := t.TempDir()
	subid := filepath.Join(dir, "subid")
	if err := os.WriteFile(subid, []byte("other:100000:65536\nsysbox:165536:262144\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return Options{
		Socket:       filepath.Join(dir, "run", "mgr.sock"),
		PidFile:      filepath.Join(dir, "run", "mgr.pid"),
		StateDir:     filepath.Join(dir, "state"),
		DataRoot:     filepath.Join(dir, "data"),
		SubidUser:    "sysbox",
		SubuidFile:   subid,
		SubgidFile:   subid,
		ReapInterval: 50 * time.Millisecond,
		Statfs:       ext4,
	}
}

func quietLog() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// startDaemon runs Run in the background and waits until it serves.
func startDaemon(t *testing.T, o Options) (stop func() error) {
	t.Helper()
	ready := make(chan struct{})
	o.Ready = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o, quietLog()) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("daemon not ready after 10s")
	}
	stopped := false
	var stopErr error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			stopErr = <-done
		}
		return stopErr
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestDaemonServesStopsCleanlyAndRefusesSecondInstance(t *testing.T) {
	o := testOptions(t)
	stop := startDaemon(t, o)

	if err := Run(context.Background(), o, quietLog()); !errors.Is(err, daemon.ErrAlreadyRunning) {
		t.Fatalf("second instance: %v, want ErrAlreadyRunning", err)
	}
	if _, err := os.Stat(o.Socket); err != nil {
		t.Fatalf("the refused instance broke the first one's socket: %v", err)
	}

	c, err := mgrclient.New(o.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Docker's overlay2 layout: <layer>/merged, the layer removed at rm.
	layer := filepath.Join(t.TempDir(), "layer")
	rootfs := filepath.Join(layer, "merged")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Register(ctx, "c1", rootfs, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubidAlloc(ctx, "c1", 65536); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := NewApp(&out, io.Discard).Run([]string{"sysbox-mgr", "status", "--socket", o.Socket}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"uids 165536-427679", "1 containers, 1 running", "ID", "c1", "165536-231071", "true", rootfs} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}

	// The global --socket works for the subcommand too.
	out.Reset()
	if err := NewApp(&out, io.Discard).Run([]string{"sysbox-mgr", "--socket", o.Socket, "status"}); err != nil || !strings.Contains(out.String(), "c1") {
		t.Fatalf("status via the global --socket: %v\n%s", err, out.String())
	}
	// release frees a lease by hand.
	if _, err := c.SubidAlloc(ctx, "leaked", 65536); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := NewApp(&out, io.Discard).Run([]string{"sysbox-mgr", "release", "--socket", o.Socket, "leaked"}); err != nil || out.String() != "released leaked\n" {
		t.Fatalf("release: %v %q", err, out.String())
	}
	if st, _ := c.Status(ctx); len(st.GetLeases()) != 1 {
		t.Fatalf("after release: %v", st.GetLeases())
	}
	if err := NewApp(io.Discard, io.Discard).Run([]string{"sysbox-mgr", "release", "--socket", o.Socket, "leaked"}); err == nil ||
		!strings.Contains(err.Error(), "unknown container") {
		t.Fatalf("release of an unknown id: %v", err)
	}

	// The reaper notices the engine removing the container's layer.
	if err := os.RemoveAll(layer); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.GetLeases()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("reaper did not release the removed container")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for _, p := range []string{o.Socket, o.PidFile} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after stop: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(o.StateDir, "state.json")); err != nil {
		t.Errorf("state not on disk after stop: %v", err)
	}
}

func TestDaemonRefusesToStart(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(o *Options)
		wantErr string
	}{
		{"data root on tmpfs", func(o *Options) {
			o.Statfs = func(_ string, st *unix.Statfs_t) error { st.Type = unix.TMPFS_MAGIC; return nil }
		}, "tmpfs"},
		{"data root on overlayfs", func(o *Options) {
			o.Statfs = func(_ string, st *unix.Statfs_t) error { st.Type = unix.OVERLAYFS_SUPER_MAGIC; return nil }
		}, "overlayfs"},
		{"no subuid entry", func(o *Options) { o.SubidUser = "nobody-here" }, "no subordinate id entry"},
		{"missing subgid file", func(o *Options) { o.SubgidFile = "/nonexistent/subgid" }, "/nonexistent/subgid"},
		{"corrupt state", func(o *Options) {
			os.MkdirAll(o.StateDir, 0o700)
			os.WriteFile(filepath.Join(o.StateDir, "state.json"), []byte("{"), 0o600)
		}, "state.json is corrupt"},
		{"zero reap interval", func(o *Options) { o.ReapInterval = 0 }, "--reap-interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t)
			tt.edit(&o)
			err := Run(context.Background(), o, quietLog())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
			if _, err := os.Stat(o.Socket); !os.IsNotExist(err) {
				t.Errorf("socket exists after a refused start")
			}
			if _, err := os.Stat(o.PidFile); !os.IsNotExist(err) {
				t.Errorf("pid file left after a refused start")
			}
		})
	}
}

func TestCLIErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"status", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"extra-arg"}, `unexpected argument "extra-arg"`},
		{[]string{"--log-format", "xml", "--pid-file", "/nonexistent/x"}, `--log-format "xml"`},
		{[]string{"status", "--socket", "/nonexistent/mgr.sock"}, "not reachable at /nonexistent/mgr.sock"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := NewApp(io.Discard, io.Discard).Run(append([]string{"sysbox-mgr"}, tt.args...))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
	var out bytes.Buffer
	if err := NewApp(&out, io.Discard).Run([]string{"sysbox-mgr", "--version"}); err != nil || !strings.HasPrefix(out.String(), "sysbox-mgr version ") {
		t.Fatalf("--version: %q %v", out.String(), err)
	}
}
