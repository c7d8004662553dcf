package server

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysfspb"
)

func TestValidateID(t *testing.T) {
	tests := map[string]bool{
		"4f2a9c0d1e":             true,
		"my-container_1.2":       true,
		strings.Repeat("a", 255): true,
		"":                       false,
		".":                      false,
		"..":                     false,
		"a..b":                   false,
		"../etc":                 false,
		"a/b":                    false,
		"/abs":                   false,
		"nul\x00":                false,
		strings.Repeat("a", 256): false,
	}
	for id, ok := range tests {
		if err := validateID(id); (err == nil) != ok {
			t.Errorf("validateID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

// fakeClock is a settable clock for handler.Host.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func testLog(t *testing.T) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(testWriter{t})
	l.SetLevel(logrus.DebugLevel)
	return l
}

// fakeHost returns a host with clock and a fake /proc/stat listing cpus CPUs.
func fakeHost(t *testing.T, clock *fakeClock, cpus int) handler.Host {
	t.Helper()
	proc := filepath.Join(t.TempDir(), "proc")
	if err := os.MkdirAll(proc, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := "cpu  1 1 1 1 1 1 1 0 0 0\n"
	for i := range cpus {
		stat += "cpu" + strconv.Itoa(i) + " 1 1 1 1 1 1 1 0 0 0\n"
	}
	if err := os.WriteFile(filepath.Join(proc, "stat"), []byte(stat+"intr 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return handler.Host{Now: clock.Now, ProcRoot: proc}
}

func TestCallsThatNeedNoMount(t *testing.T) {
	clock := newFakeClock(time.Unix(1_700_000_000, 0))
	s, err := New(Config{
		MountRoot: filepath.Join(t.TempDir(), "mnt"),
		Table:     handler.Default(),
		Host:      fakeHost(t, clock, 2),
		Log:       testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	_, err = s.Register(ctx, &pb.RegisterRequest{Id: "ghost", InitPid: 42, StartTimeUnixNano: 1})
	if status.Code(err) != codes.NotFound {
		t.Errorf("Register of an unknown id: %v, want NotFound", err)
	}
	_, err = s.Register(ctx, &pb.RegisterRequest{Id: "ghost", InitPid: 0, StartTimeUnixNano: 1})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("Register without init pid: %v, want InvalidArgument", err)
	}
	if _, err := s.Unregister(ctx, &pb.UnregisterRequest{Id: "ghost"}); err != nil {
		t.Errorf("Unregister of an unknown id: %v, want OK", err)
	}
	for _, id := range []string{"", "..", "a/b", "x..y"} {
		_, err := s.PreRegister(ctx, &pb.PreRegisterRequest{Id: id})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("PreRegister(%q): %v, want InvalidArgument", id, err)
		}
	}
	st, err := s.Status(ctx, &pb.StatusRequest{})
	if err != nil || len(st.GetContainers()) != 0 {
		t.Errorf("Status: %v, %v; want no containers", st, err)
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	_, err := New(Config{MountRoot: t.TempDir(), Table: handler.Default(), Log: testLog(t)})
	if err == nil {
		t.Fatal("New accepted a config without a host clock")
	}
	bad := handler.Table{"/proc/uptime": handler.Uptime{}}
	_, err = New(Config{MountRoot: t.TempDir(), Table: bad, Host: handler.DefaultHost(), Log: testLog(t)})
	if err == nil {
		t.Fatal("New accepted an invalid table")
	}
}
