package fusefs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
)

// logBuffer is a logger writing to a buffer the test inspects.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

// count is the number of lines holding s.
func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

func newLogBuffer() (*logBuffer, logrus.FieldLogger) {
	lb := &logBuffer{}
	l := logrus.New()
	l.SetOutput(lb)
	l.SetLevel(logrus.DebugLevel)
	return lb, l.WithField("id", "c1")
}

// gate is a generation that blocks while closed.
type gate struct {
	open  chan struct{}
	calls atomic.Int32
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) gen() ([]byte, error) {
	g.calls.Add(1)
	<-g.open
	return []byte("late\n"), nil
}

// waitUnstuck waits for the file's stuck generation to end.
func waitUnstuck(t *testing.T, b *bound) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); b.stuck.Load() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("stuck generation never ended")
		}
	}
}

func TestGenerateReturnsAFastGenerationsResultAndError(t *testing.T) {
	_, log := newLogBuffer()
	tr := &tree{log: log, watchdog: newWatchdog(time.Second, log)}
	var b bound
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		data []byte
		err  error
	}{{"content", []byte("1 2\n"), nil}, {"failure", nil, boom}} {
		got, err := tr.generate(&b, "proc/uptime", func() ([]byte, error) { return tc.data, tc.err })
		if string(got) != string(tc.data) || !errors.Is(err, tc.err) {
			t.Errorf("%s: generate = %q, %v; want %q, %v", tc.name, got, err, tc.data, tc.err)
		}
	}
	if n := b.stuck.Load(); n != 0 {
		t.Errorf("%d stuck after fast generations", n)
	}
}

func TestGenerateTimesOutFailsFastWhileStuckAndRecovers(t *testing.T) {
	logs, log := newLogBuffer()
	const timeout = time.Second // "at once" must hold under -race on a loaded machine
	tr := &tree{log: log, watchdog: newWatchdog(timeout, log)}
	var b bound
	g := newGate()

	start := time.Now()
	if _, err := tr.generate(&b, "proc/meminfo", g.gen); !errors.Is(err, errTimedOut) {
		t.Fatalf("slow generation: %v, want errTimedOut", err)
	}
	if d := time.Since(start); d < timeout || d > timeout+3*time.Second {
		t.Errorf("timed out after %v, want about %v", d, timeout)
	}
	// While it is stuck, requests fail at once and start nothing.
	for i := 0; i < 100; i++ {
		start := time.Now()
		if _, err := tr.generate(&b, "proc/meminfo", g.gen); !errors.Is(err, errStuck) {
			t.Fatalf("request %d while stuck: %v, want errStuck", i, err)
		}
		if d := time.Since(start); d >= timeout {
			t.Fatalf("request %d while stuck took %v: it waited", i, d)
		}
	}
	if n := g.calls.Load(); n != 1 {
		t.Errorf("%d generations started, want 1: a stuck file must not pile up goroutines", n)
	}
	if n := logs.count("not generated in time"); n != 1 {
		t.Errorf("%d timeout warnings, want 1", n)
	}
	if !strings.Contains(logs.buf.String(), "id=c1") || !strings.Contains(logs.buf.String(), "file=proc/meminfo") {
		t.Errorf("warning lacks the container id or file: %s", logs.buf.String())
	}

	close(g.open) // the handler is fast again
	waitUnstuck(t, &b)
	if got, err := tr.generate(&b, "proc/meminfo", g.gen); err != nil || string(got) != "late\n" {
		t.Fatalf("after the stuck generation ended: %q, %v", got, err)
	}
}

// stuckMount mounts a tree with a short timeout serving a handler file and
// an emulated-style value file whose generations block on g.
func stuckMount(t *testing.T, g *gate, timeout time.Duration) (dir string, lines *logBuffer) {
	t.Helper()
	needRoot(t)
	lines, log := newLogBuffer()
	dir = filepath.Join(t.TempDir(), "c1")
	view := func() handler.Container { return handler.Container{ID: "c1"} }
	h := handler.Func(func(handler.Container) ([]byte, error) { return g.gen() })
	write := func([]byte) error { _, err := g.gen(); return err }
	knob := ValueFile("proc/sys/kernel/panic", 0o644, testOwner, g.gen, write)
	m, err := New(dir, handler.Table{"proc/meminfo": h}, view, log, Options{Callers: testCallers, Timeout: timeout}, knob)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-g.open:
		default:
			close(g.open)
		}
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	})
	reachable(t, dir)
	return dir, lines
}

// readWhenUnstuck reads p as the container's root until the stuck
// generation has ended (EIO until then).
func readWhenUnstuck(t *testing.T, p string) ([]byte, error) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b, err := readC(p)
		if !errors.Is(err, syscall.EIO) || time.Now().After(deadline) {
			return b, err
		}
	}
}

func TestSlowHandlerReadAnswersEIOAndLaterReadsWork(t *testing.T) {
	g := newGate()
	// Long enough that "at once" (well under it) holds under -race on a
	// loaded 2-core machine, where a 300 ms timeout was seen exceeded.
	const timeout = 2 * time.Second
	dir, logs := stuckMount(t, g, timeout)
	p := filepath.Join(dir, "proc/meminfo")

	start := time.Now()
	if _, err := readC(p); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of a stuck handler: %v, want EIO", err)
	}
	if d := time.Since(start); d < timeout || d > timeout+3*time.Second {
		t.Errorf("answered after %v, want about %v", d, timeout)
	}
	// More readers while it is stuck: each fails at once, none starts
	// another generation.
	for i := 0; i < 20; i++ {
		start := time.Now()
		if _, err := readC(p); !errors.Is(err, syscall.EIO) {
			t.Fatalf("read %d while stuck: %v, want EIO", i, err)
		}
		if d := time.Since(start); d >= timeout {
			t.Fatalf("read %d while stuck took %v: it waited", i, d)
		}
	}
	if n := g.calls.Load(); n != 1 {
		t.Errorf("%d generations started, want 1", n)
	}
	if n := logs.count("not generated in time"); n != 1 {
		t.Errorf("%d timeout warnings, want 1", n)
	}

	close(g.open)
	if b, err := readWhenUnstuck(t, p); err != nil || string(b) != "late\n" {
		t.Fatalf("read once the handler is fast again: %q, %v", b, err)
	}
}

func TestSlowValueReadAndWriteAnswerEIO(t *testing.T) {
	g := newGate()
	// Long enough that "at once" (well under it) holds under -race on a
	// loaded 2-core machine, where a 300 ms timeout was seen exceeded.
	const timeout = 2 * time.Second
	dir, _ := stuckMount(t, g, timeout)
	p := filepath.Join(dir, "proc/sys/kernel/panic")
	start := time.Now()
	err := asCaller(testOwner.UID, testOwner.GID, func() error { return os.WriteFile(p, []byte("1\n"), 0) })
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("write of a stuck value: %v, want EIO", err)
	}
	if d := time.Since(start); d < timeout || d > timeout+3*time.Second {
		t.Errorf("write answered after %v, want about %v", d, timeout)
	}
	// The write is still stuck: a read fails at once.
	start = time.Now()
	if _, err := readC(p); !errors.Is(err, syscall.EIO) {
		t.Errorf("read of a stuck value: %v, want EIO", err)
	}
	if d := time.Since(start); d >= timeout {
		t.Errorf("read while stuck took %v: it waited", d)
	}
	if n := g.calls.Load(); n != 1 {
		t.Errorf("%d generations started, want 1", n)
	}
	close(g.open)
	if b, err := readWhenUnstuck(t, p); err != nil || string(b) != "late\n" {
		t.Fatalf("read once the value is fast again: %q, %v", b, err)
	}
}

func TestWatchdogAnswersNoEarlierThanTheTimeoutAndStopsWhenIdle(t *testing.T) {
	_, log := newLogBuffer()
	const timeout = 80 * time.Millisecond
	w := newWatchdog(timeout, log)
	tr := &tree{log: log, watchdog: w}
	for round := 0; round < 3; round++ {
		var b bound
		g := newGate()
		start := time.Now()
		if _, err := tr.generate(&b, "proc/stat", g.gen); !errors.Is(err, errTimedOut) {
			t.Fatalf("round %d: %v, want errTimedOut", round, err)
		}
		// The watchdog ticks 8 times per timeout: the answer comes one to
		// two ticks after the deadline at most (more only on a loaded
		// machine).
		if d := time.Since(start); d < timeout || d > 2*timeout {
			t.Errorf("round %d: answered after %v, want [%v, %v]", round, d, timeout, 2*timeout)
		}
		close(g.open)
		waitUnstuck(t, &b)
	}
	// Without generations the watchdog goroutine ends after a timeout.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		w.mu.Lock()
		active, head := w.active, w.head
		w.mu.Unlock()
		if head != nil {
			t.Fatal("finished generations still listed")
		}
		if !active {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle watchdog still running")
		}
	}
	// And starts again for the next one.
	if got, err := tr.generate(&bound{}, "proc/stat", func() ([]byte, error) { return []byte("ok"), nil }); err != nil || string(got) != "ok" {
		t.Fatalf("after the watchdog stopped: %q, %v", got, err)
	}
}

func TestConcurrentGenerationsEachGetTheirOwnResult(t *testing.T) {
	_, log := newLogBuffer()
	tr := &tree{log: log, watchdog: newWatchdog(time.Second, log)}
	var b bound
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := []byte(strings.Repeat("x", i))
			for range 500 {
				got, err := tr.generate(&b, "proc/loadavg", func() ([]byte, error) { return want, nil })
				if err != nil || string(got) != string(want) {
					errs <- fmt.Errorf("goroutine %d: %q, %v", i, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	tr.watchdog.mu.Lock()
	defer tr.watchdog.mu.Unlock()
	if tr.watchdog.head != nil || b.stuck.Load() != 0 {
		t.Errorf("after all returned: listed %v, stuck %d", tr.watchdog.head != nil, b.stuck.Load())
	}
}
