package fusefs

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// DefaultTimeout bounds the generation of a file's content (a handler's
// Content, an emulated value's read or write) when Options.Timeout is 0.
// Generations take microseconds; one that takes seconds is stuck (a hung
// cgroup or host file), and its reader gets EIO rather than hanging.
const DefaultTimeout = 2 * time.Second

// watchdogTicks is how many times per timeout the watchdog looks at the
// running generations: a reader of a stuck file is answered between the
// timeout and 1+1/watchdogTicks times it.
const watchdogTicks = 8

var (
	// errTimedOut: the generation did not end within the deadline. It
	// goes on in the background; its result is dropped.
	errTimedOut = errors.New("virtual file generation timed out")
	// errStuck: an earlier generation of the same file outlived its
	// deadline and still runs; no other one starts until it ends.
	errStuck = errors.New("virtual file generation still stuck from an earlier request")
)

// timeoutErrno is what a reader (or writer) gets when the content was not
// generated in time: EIO, as for a handler that fails. Not EAGAIN: on a
// blocking regular file EAGAIN says "retry", and readers that retry it
// (stdio, poll loops: a FUSE file always polls readable) would spin on a
// stuck handler instead of reporting an error.
const timeoutErrno = syscall.EIO

// Generation states.
const (
	running uint32 = iota
	finished
	abandoned // past its deadline: the request was answered without it
)

// bound limits the generations of one file. One that outlives its
// deadline is counted stuck until it ends; while any is, the file's
// requests fail at once instead of starting another: a hung handler holds
// at most the goroutines that were waiting on it when it hung, never one
// more per later request.
type bound struct {
	stuck atomic.Int32
}

// generation is one run of a generating function.
type generation struct {
	state atomic.Uint32
	done  chan struct{} // closed once finished or abandoned
	data  []byte
	err   error
	bound *bound // the file's

	// Guarded by the watchdog's mu.
	start      uint64 // the watchdog's tick at registration
	prev, next *generation
	listed     bool
}

// watchdog is a tree's deadline keeper. Each generation runs on its own
// goroutine, so that the request's goroutine can answer while a stuck one
// goes on: go-fuse replies with Read's return value, so Read must return.
// The request waits on the generation's channel alone, without a timer
// of its own: one watchdog goroutine per tree ticks watchdogTicks times per
// timeout while generations run, abandons those past their deadline (which
// answers their requests) and ends after a timeout without any. A
// generation thus costs a goroutine, a channel and two short critical
// sections: 0.55-0.7 us with GOMAXPROCS=1, 0.8-1 us with 2 on our 2-vCPU
// VMs (BenchmarkGenerate), where a timer per read measured 1.2-1.9 us.
type watchdog struct {
	timeout time.Duration
	period  time.Duration
	limit   uint64 // ticks a generation may run: more than timeout/period
	log     logrus.FieldLogger

	mu     sync.Mutex
	tick   uint64
	head   *generation // the running generations
	active bool        // the watchdog goroutine runs
}

func newWatchdog(timeout time.Duration, log logrus.FieldLogger) *watchdog {
	period := max(timeout/watchdogTicks, time.Millisecond)
	// A generation registered just before a tick is seen one tick "old"
	// at once: one tick more keeps every deadline at least timeout.
	limit := uint64((timeout+period-1)/period) + 1
	return &watchdog{timeout: timeout, period: period, limit: limit, log: log}
}

// add lists g as running, starting the watchdog goroutine if needed.
func (w *watchdog) add(g *generation) {
	w.mu.Lock()
	g.start = w.tick
	g.next = w.head
	if w.head != nil {
		w.head.prev = g
	}
	w.head, g.listed = g, true
	if !w.active {
		w.active = true
		go w.loop()
	}
	w.mu.Unlock()
}

// removeLocked unlists g.
func (w *watchdog) removeLocked(g *generation) {
	if !g.listed {
		return
	}
	if g.prev != nil {
		g.prev.next = g.next
	} else {
		w.head = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	}
	g.prev, g.next, g.listed = nil, nil, false
}

func (w *watchdog) loop() {
	t := time.NewTicker(w.period)
	defer t.Stop()
	idle := uint64(0)
	for range t.C {
		w.mu.Lock()
		w.tick++
		var expired []*generation
		for g := w.head; g != nil; g = g.next {
			if w.tick-g.start < w.limit {
				continue
			}
			// A listed generation is running: its goroutine unlists it
			// (under mu) before it looks at the state.
			g.bound.stuck.Add(1)
			g.state.Store(abandoned)
			expired = append(expired, g)
		}
		for _, g := range expired {
			w.removeLocked(g)
		}
		if w.head == nil {
			idle++
		} else {
			idle = 0
		}
		stop := idle >= w.limit
		if stop {
			w.active = false
		}
		w.mu.Unlock()
		for _, g := range expired {
			close(g.done)
		}
		if stop {
			return
		}
	}
}

// generate runs gen for file with the tree's deadline. It returns gen's
// result, errTimedOut when the deadline passed first (logged as one
// warning), or errStuck without running gen when an earlier generation of
// the file is stuck. gen must not use memory the caller reuses after
// generate returns (the request's buffers): it may outlive the call.
func (t *tree) generate(b *bound, file string, gen func() ([]byte, error)) ([]byte, error) {
	if b.stuck.Load() != 0 {
		t.log.WithField("file", file).Debug("earlier generation still stuck: refused at once")
		return nil, errStuck
	}
	g := &generation{done: make(chan struct{}), bound: b}
	t.watchdog.add(g)
	go t.watchdog.run(g, file, gen)
	<-g.done
	if g.state.Load() == abandoned {
		t.log.WithField("file", file).WithField("timeout", t.watchdog.timeout).Warn("virtual file not generated in time: answered EIO")
		return nil, errTimedOut
	}
	return g.data, g.err
}

func (w *watchdog) run(g *generation, file string, gen func() ([]byte, error)) {
	data, err := gen()
	w.mu.Lock()
	w.removeLocked(g)
	w.mu.Unlock()
	// Unlisted, g is out of the watchdog's reach: its state is final.
	if g.state.Load() == running {
		g.data, g.err = data, err
		g.state.Store(finished)
		close(g.done)
		return
	}
	// Abandoned: the file may be generated again.
	g.bound.stuck.Add(-1)
	w.log.WithField("file", file).WithError(err).Info("stuck virtual file generation ended")
}

// genErrno is the errno for a failed generation: timeoutErrno for one not
// done in time, the errno err carries (a knob's EINVAL), EIO otherwise.
func genErrno(err error) syscall.Errno {
	if errors.Is(err, errTimedOut) || errors.Is(err, errStuck) {
		return timeoutErrno
	}
	return toErrno(err)
}
