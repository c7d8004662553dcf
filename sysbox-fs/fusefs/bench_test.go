package fusefs

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
)

// BenchmarkOpenReadClose times what a reader of a virtual file pays: open,
// read to EOF, close, from a thread with a container uid (the FUSE round
// trips OPEN, READ, READ at EOF; RELEASE is asynchronous). The handler is
// trivial, so the figure is the tree's own cost.
func BenchmarkOpenReadClose(b *testing.B) {
	needRoot(b)
	content := []byte("12345.67 23456.78\n")
	table := handler.Table{"proc/uptime": handler.Func(func(handler.Container) ([]byte, error) { return content, nil })}
	p := filepath.Join(benchMount(b, table), "proc/uptime")
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	err := asCaller(testOwner.UID, testOwner.GID, func() error {
		for range b.N {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			n, err := io.ReadFull(f, buf)
			f.Close()
			if err != io.ErrUnexpectedEOF || n != len(content) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	// CPU time (user + system, reader and server together) next to the
	// wall time: on a busy machine the wall time mostly measures waits.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchMount(b *testing.B, table handler.Table) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "c1")
	view := func() handler.Container { return handler.Container{ID: "c1"} }
	m, err := New(dir, table, view, testLog(b), Options{Callers: testCallers})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			b.Error(err)
		}
	})
	reachable(b, dir)
	return m.Dir()
}

// BenchmarkGenerate is the deadline's own cost per generation: the
// same trivial content, called directly and through tree.generate.
func BenchmarkGenerate(b *testing.B) {
	content := []byte("12345.67 23456.78\n")
	gen := func() ([]byte, error) { return content, nil }
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := gen(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bounded", func(b *testing.B) {
		tr := &tree{log: testLog(b), watchdog: newWatchdog(DefaultTimeout, testLog(b))}
		var bd bound
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tr.generate(&bd, "proc/uptime", gen); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFromContainer is the caller check's cost per request.
func BenchmarkFromContainer(b *testing.B) {
	tr := &tree{callers: testCallers}
	ctx := &fuse.Context{Caller: fuse.Caller{Owner: fuse.Owner{Uid: testOwner.UID, Gid: testOwner.GID}}}
	for b.Loop() {
		if !tr.fromContainer(ctx) {
			b.Fatal("refused")
		}
	}
}
