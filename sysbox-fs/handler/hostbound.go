package handler

import (
	"os"
	"sync"
	"time"
)

// hostBound computes a SizeBound for a virtual file whose content is never
// longer than a host /proc file (cpuinfo, stat, diskstats: the container's
// version is a subset of the host's lines with numbers of no more digits):
// the host file's length plus a quarter for growth, rounded up to a page,
// at least a page. The FUSE layer asks on every stat, so the host file is
// read at most once per refresh interval.
type hostBound struct {
	path    string // the host file, "/proc/cpuinfo"
	refresh time.Duration

	mu    sync.Mutex
	bound uint64
	at    time.Time
}

// get returns the bound, re-reading the host file when it is older than
// the refresh interval.
func (h *hostBound) get() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if h.bound != 0 && now.Sub(h.at) < h.refresh && !now.Before(h.at) {
		return h.bound
	}
	const page = 4096
	n := 0
	if b, err := os.ReadFile(h.path); err == nil {
		n = len(b)
	}
	h.bound = uint64((n+n/4)/page+1) * page
	h.at = now
	return h.bound
}
