package manager

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sysboxd/sysboxd/sysbox-mgr/idpool"
	"github.com/sysboxd/sysboxd/sysbox-mgr/state"
)

// benchLeases is how many leases BenchmarkLeases10000 allocates and
// releases per iteration.
const benchLeases = 10000

// BenchmarkLeases10000 leases 10000 blocks one by one, then releases them,
// through the Manager with its real state file (every change persisted
// with fsync) in a temp dir. ns/op is one whole round; alloc-ns/lease and
// release-ns/lease are the mean cost of one call.
func BenchmarkLeases10000(b *testing.B) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		data := filepath.Join(dir, "data")
		if err := os.MkdirAll(data, 0o711); err != nil {
			b.Fatal(err)
		}
		m, err := New(Config{
			StatePath: filepath.Join(dir, "state", state.FileName),
			DataRoot:  data,
			UIDs:      idpool.Range{Start: 1 << 20, Size: benchLeases * blk},
			GIDs:      idpool.Range{Start: 1 << 20, Size: benchLeases * blk},
			Log:       log,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for i := range benchLeases {
			if _, _, err := m.SubidAlloc(fmt.Sprintf("c%05d", i), blk); err != nil {
				b.Fatal(err)
			}
		}
		allocated := time.Now()
		for i := range benchLeases {
			if err := m.Unregister(fmt.Sprintf("c%05d", i), true); err != nil {
				b.Fatal(err)
			}
		}
		released := time.Now()
		b.ReportMetric(float64(allocated.Sub(start).Nanoseconds())/benchLeases, "alloc-ns/lease")
		b.ReportMetric(float64(released.Sub(allocated).Nanoseconds())/benchLeases, "release-ns/lease")
	}
}
