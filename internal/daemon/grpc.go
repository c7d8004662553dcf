package daemon

import (
	"time"

	"google.golang.org/grpc"
)

// StopGRPC stops g gracefully: calls under way may finish for up to
// timeout, then the rest are cut off. It reports whether calls had to be cut.
func StopGRPC(g *grpc.Server, timeout time.Duration) (cut bool) {
	stopped := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
		return false
	case <-time.After(timeout):
		g.Stop()
		<-stopped
		return true
	}
}
