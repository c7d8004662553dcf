package daemon

import (
	"context"
	"time"
)

// Every calls fn every interval until ctx ends (not at once: the first
// call comes after one interval).
func Every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
