package fdstore

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/sysbox-mgr/fdstore/fdstoretest"
)

func TestMain(m *testing.M) {
	fdstoretest.MaybeChild()
	os.Exit(m.Run())
}

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// pipeStore accepts any fd, so plain pipes stand in for notify fds: a read
// end polls POLLHUP once every write end is closed, as a notify fd does
// once every process behind it is gone.
func pipeStore() *Store {
	return New(Config{Check: func(int) error { return nil }, Log: quietLog()})
}

// pipe returns both ends, closed at the end of the test.
func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// readerLeft reports whether some read end of w's pipe is still open: the
// original read end must be closed, so that only the store's copy counts.
func readerLeft(t *testing.T, w *os.File) bool {
	t.Helper()
	_, err := w.Write([]byte{1})
	if errors.Is(err, syscall.EPIPE) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// openFds counts this process's open fds.
func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestKeepHoldsACopyOfARealNotifyFdUntilItsProcessIsGone(t *testing.T) {
	s := New(Config{Log: quietLog()})
	defer s.Close()
	c := fdstoretest.Start(t)
	if err := s.Keep("c1", "t1", c.Pid, c.Fd); err != nil {
		t.Fatal(err)
	}
	kept := s.List()
	if len(kept) != 1 || kept[0].ID != "c1" || kept[0].Tag != "t1" {
		t.Fatalf("List = %+v, want c1/t1", kept)
	}
	if err := IsNotifyFd(kept[0].Fd); err != nil {
		t.Fatalf("the copy: %v", err)
	}
	flags, err := unix.FcntlInt(uintptr(kept[0].Fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("the copy's fd flags %#x (%v), want FD_CLOEXEC", flags, err)
	}
	if n := s.Sweep(); n != 0 || s.Len() != 1 {
		t.Fatalf("sweep closed %d while the child runs, %d left", n, s.Len())
	}
	c.Exit(t)
	if n := s.Sweep(); n != 1 || s.Len() != 0 {
		t.Fatalf("sweep after the child exited closed %d, %d left; want 1, 0", n, s.Len())
	}
}

func TestKeepRefusesFdsThatAreNotNotifyFds(t *testing.T) {
	s := New(Config{Log: quietLog()})
	defer s.Close()
	r, _ := pipe(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sock)
	tests := []struct {
		name string
		fd   int
	}{
		{"pipe", int(r.Fd())},
		{"regular file", int(f.Fd())},
		{"socket", sock},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := openFds(t)
			err := s.Keep("c1", "t1", os.Getpid(), tc.fd)
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("Keep = %v, want ErrInvalidArgument", err)
			}
			if after := openFds(t); after != before {
				t.Errorf("%d fds open after the refusal, %d before: the copy leaked", after, before)
			}
			if s.Len() != 0 {
				t.Errorf("store holds %d", s.Len())
			}
		})
	}
}

func TestKeepRejectsBadRequests(t *testing.T) {
	s := pipeStore()
	defer s.Close()
	r, _ := pipe(t)
	fd := int(r.Fd())
	long := strings.Repeat("x", maxKey+1)
	tests := []struct {
		name    string
		id, tag string
		pid, fd int
	}{
		{"empty id", "", "t", os.Getpid(), fd},
		{"empty tag", "c1", "", os.Getpid(), fd},
		{"id too long", long, "t", os.Getpid(), fd},
		{"tag too long", "c1", long, os.Getpid(), fd},
		{"no pid", "c1", "t", 0, fd},
		{"negative fd", "c1", "t", os.Getpid(), -1},
		{"fd not open in the caller", "c1", "t", os.Getpid(), 1 << 20},
		{"process gone", "c1", "t", deadPid(t), fd},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Keep(tc.id, tc.tag, tc.pid, tc.fd); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("Keep = %v, want ErrInvalidArgument", err)
			}
			if s.Len() != 0 {
				t.Fatalf("store holds %d", s.Len())
			}
		})
	}
}

// deadPid is the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	return p.Pid
}

func TestDropClosesTheCopy(t *testing.T) {
	s := pipeStore()
	defer s.Close()
	r, w := pipe(t)
	if err := s.Keep("c1", "t1", os.Getpid(), int(r.Fd())); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if !readerLeft(t, w) {
		t.Fatal("the store holds no copy of the read end")
	}
	if !s.Drop("c1", "t1") {
		t.Fatal("Drop found nothing")
	}
	if readerLeft(t, w) {
		t.Fatal("the copy is still open after Drop")
	}
	if s.Drop("c1", "t1") {
		t.Fatal("a second Drop found something")
	}
}

func TestKeepingTheSameKeyAgainReplacesTheCopy(t *testing.T) {
	s := pipeStore()
	defer s.Close()
	r1, w1 := pipe(t)
	r2, w2 := pipe(t)
	for _, r := range []*os.File{r1, r2} {
		if err := s.Keep("c1", "t1", os.Getpid(), int(r.Fd())); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	if s.Len() != 1 {
		t.Fatalf("store holds %d, want 1", s.Len())
	}
	if readerLeft(t, w1) {
		t.Error("the replaced copy is still open")
	}
	if !readerLeft(t, w2) {
		t.Error("the new copy is not held")
	}
}

func TestDropAllClosesEveryCopyOfTheContainerOnly(t *testing.T) {
	s := pipeStore()
	defer s.Close()
	r, _ := pipe(t)
	for _, k := range []Kept{{ID: "c1", Tag: "a"}, {ID: "c1", Tag: "b"}, {ID: "c2", Tag: "a"}} {
		if err := s.Keep(k.ID, k.Tag, os.Getpid(), int(r.Fd())); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.DropAll("c1"); n != 2 {
		t.Fatalf("DropAll(c1) = %d, want 2", n)
	}
	if got := s.List(); len(got) != 1 || got[0].ID != "c2" || got[0].Tag != "a" {
		t.Fatalf("left: %+v, want c2/a", got)
	}
	if n := s.DropAll("c1"); n != 0 {
		t.Fatalf("second DropAll(c1) = %d", n)
	}
}

func TestSweepClosesOnlyCopiesThatPollHangup(t *testing.T) {
	s := pipeStore()
	defer s.Close()
	rGone, wGone := pipe(t)
	rLive, _ := pipe(t)
	if err := s.Keep("c1", "gone", os.Getpid(), int(rGone.Fd())); err != nil {
		t.Fatal(err)
	}
	if err := s.Keep("c1", "live", os.Getpid(), int(rLive.Fd())); err != nil {
		t.Fatal(err)
	}
	if n := s.Sweep(); n != 0 {
		t.Fatalf("sweep with every writer open closed %d", n)
	}
	wGone.Close()
	// List sweeps first.
	got := s.List()
	if len(got) != 1 || got[0].Tag != "live" {
		t.Fatalf("List after the writer closed: %+v, want only c1/live", got)
	}
}

func TestRunSweepsPeriodically(t *testing.T) {
	s := pipeStore()
	defer s.Close()
	r, w := pipe(t)
	if err := s.Keep("c1", "t1", os.Getpid(), int(r.Fd())); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, 10*time.Millisecond) }()
	defer func() { cancel(); <-done }()
	w.Close()
	for deadline := time.Now().Add(5 * time.Second); s.Len() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the periodic sweep did not close the hung-up copy")
		}
	}
}

func TestCloseClosesEveryCopyAndRefusesNewOnes(t *testing.T) {
	s := pipeStore()
	r, w := pipe(t)
	if err := s.Keep("c1", "t1", os.Getpid(), int(r.Fd())); err != nil {
		t.Fatal(err)
	}
	before := openFds(t)
	s.Close()
	if s.Len() != 0 {
		t.Fatalf("store holds %d after Close", s.Len())
	}
	if after := openFds(t); after != before-1 {
		t.Fatalf("%d fds open after Close, %d before: want one fewer", after, before)
	}
	if err := s.Keep("c1", "t2", os.Getpid(), int(r.Fd())); !errors.Is(err, ErrClosed) {
		t.Fatalf("Keep after Close = %v, want ErrClosed", err)
	}
	if after := openFds(t); after != before-1 {
		t.Fatalf("the refused copy leaked")
	}
	r.Close()
	if readerLeft(t, w) {
		t.Fatal("a copy is still open after Close")
	}
}
