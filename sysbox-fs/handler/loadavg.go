package handler

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Load average constants, as the kernel defines them: the averages are
// fixed-point numbers with 11 fractional bits, updated every 5 seconds with
// the factors 2048/exp(5s/1min), 2048/exp(5s/5min) and 2048/exp(5s/15min).
const (
	loadPeriod    = 5 * time.Second
	loadFShift    = 11
	loadFixed1    = 1 << loadFShift
	loadExp1      = 1884
	loadExp5      = 2014
	loadExp15     = 2037
	loadIdleEvict = 15 * time.Minute
	loadSweepGap  = time.Minute
)

// Loadavg is /proc/loadavg for the container:
//
//	<1 min> <5 min> <15 min> <running>/<threads> <last pid>
//
// running/threads counts the container's threads (its cgroup's and its
// sub-cgroups' task lists) in state R, and all of them; the reader of the
// file counts as running (see Container.ReaderTid), as the kernel counts
// the reading task. The last pid is the host's (the field is the last pid
// allocated, which the container's pid namespace does not report).
//
// The averages are the kernel's exponentially decayed averages, with the
// kernel's fixed-point arithmetic, of the container's active threads
// (running + uninterruptible, as the kernel's load counts), sampled every 5
// seconds from the container's start. Loadavg keeps one sampler per
// container and samples when the file is read, not in the background: the
// 5-second periods since the previous read are all applied with the count
// seen at this read, as the kernel does for periods a tickless CPU missed.
// So a reader polling every few seconds (top, uptime in a loop, monitoring
// agents) gets the kernel's figures, and a first read after a while reports
// the average a constant load since the last read would have. A sampler
// unused for 15 minutes is dropped; one for the same id with another start
// time is reset.
//
// The thread counts are refreshed at most once a second (see taskCache).
// Without a task list (not registered, no cgroup) the file is the host's.
type Loadavg struct {
	tasks *taskCache

	mu        sync.Mutex
	samplers  map[string]*loadSampler
	lastSweep time.Time
}

// NewLoadavg returns the handler with no samplers yet.
func NewLoadavg() *Loadavg {
	return &Loadavg{tasks: newTaskCache(), samplers: map[string]*loadSampler{}}
}

// loadSampler is one container's averages.
type loadSampler struct {
	start    time.Time // the container's start: period k ends at start+k*5s
	periods  int64     // periods applied so far
	avg      [3]uint64 // 1, 5 and 15 minutes, fixed point
	lastRead time.Time
}

// Content implements Handler.
func (l *Loadavg) Content(c Container) ([]byte, error) {
	host, err := c.Host.readProc("loadavg")
	if err != nil {
		return nil, fmt.Errorf("loadavg: %w", err)
	}
	n, err := l.tasks.get(c)
	if err != nil {
		if cgroupMissing(err) {
			return host, nil
		}
		return nil, fmt.Errorf("loadavg: %w", err)
	}
	f := bytes.Fields(host)
	if len(f) < 5 {
		return nil, fmt.Errorf("loadavg: host line %q has %d fields, want 5", host, len(f))
	}
	lastPid := f[4]

	avg := l.sample(c.ID, c.StartTime, c.Host.Now(), uint64(n.running+n.blocked))
	out := make([]byte, 0, 64)
	for i, a := range avg {
		if i > 0 {
			out = append(out, ' ')
		}
		out = appendLoad(out, a)
	}
	out = append(out, ' ')
	out = strconv.AppendInt(out, int64(n.running), 10)
	out = append(out, '/')
	out = strconv.AppendInt(out, int64(n.total), 10)
	out = append(out, ' ')
	out = append(out, lastPid...)
	return append(out, '\n'), nil
}

// sample brings the container's averages up to now with active threads and
// returns them.
func (l *Loadavg) sample(id string, start, now time.Time, active uint64) [3]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= loadSweepGap || now.Before(l.lastSweep) {
		for k, s := range l.samplers {
			if now.Sub(s.lastRead) > loadIdleEvict {
				delete(l.samplers, k)
			}
		}
		l.lastSweep = now
	}
	s := l.samplers[id]
	if s == nil || !s.start.Equal(start) {
		s = &loadSampler{start: start}
		l.samplers[id] = s
	}
	s.lastRead = now
	s.advance(now, active)
	return s.avg
}

// advance applies the periods that ended by now, each with active threads.
func (s *loadSampler) advance(now time.Time, active uint64) {
	due := int64(now.Sub(s.start) / loadPeriod)
	n := due - s.periods
	if n <= 0 {
		return
	}
	s.periods = due
	a := active * loadFixed1
	for i, exp := range [3]uint64{loadExp1, loadExp5, loadExp15} {
		s.avg[i] = decayLoad(s.avg[i], exp, a, n)
	}
}

// decayLoad applies n periods of the kernel's update
//
//	load = (load*exp + active*(1-exp)) / 1, rounded up while rising,
//
// in fixed point. It stops early once load reaches active, its fixed point,
// so a read after a long time costs at most a few thousand steps.
func decayLoad(load, exp, active uint64, n int64) uint64 {
	for ; n > 0; n-- {
		next := load*exp + active*(loadFixed1-exp)
		if active >= load {
			next += loadFixed1 - 1
		}
		next /= loadFixed1
		if next == load {
			break
		}
		load = next
	}
	return load
}

// appendLoad appends a fixed-point average with two decimals, rounded to
// the nearest hundredth as the kernel prints it.
func appendLoad(b []byte, a uint64) []byte {
	a += loadFixed1 / 200
	b = strconv.AppendUint(b, a>>loadFShift, 10)
	b = append(b, '.')
	frac := ((a & (loadFixed1 - 1)) * 100) >> loadFShift
	if frac < 10 {
		b = append(b, '0')
	}
	return strconv.AppendUint(b, frac, 10)
}
