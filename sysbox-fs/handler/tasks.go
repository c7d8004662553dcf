package handler

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// taskCounts counts the container's threads by scheduler state.
type taskCounts struct {
	// running is the threads in state R (and the reader, see
	// Container.ReaderTid); blocked those in state D (uninterruptible
	// sleep); total all of them.
	running, blocked, total int
}

// tasks counts the threads of the container's cgroup and of its
// sub-cgroups (Docker or systemd inside the container create them), reading
// each thread's state from <ProcRoot>/<tid>/stat. Threads that exit while
// being counted are left out. It fails with ErrNoController when no task
// list can be read.
func (c Container) tasks() (taskCounts, error) {
	// Any v1 hierarchy lists every task of the container (pids first: it
	// is the one meant for counting tasks), then the v2 directory.
	sources := [...]struct{ controller, file string }{
		{"pids", "tasks"},
		{"cpuacct", "tasks"},
		{"cpu", "tasks"},
		{"memory", "tasks"},
		{"cpuset", "tasks"},
		{"freezer", "tasks"},
		{"blkio", "tasks"},
		{"", "cgroup.threads"},
	}
	var errs []error
	for _, s := range sources {
		top, err := c.readCgroup(s.controller, s.file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var n taskCounts
		var buf [512]byte
		listed := c.countTasks(&n, top, buf[:])
		if c.noSubTasks(s.controller, listed) {
			return n, nil
		}
		if d, ok := c.Cgroups.(cgroupDirer); ok {
			dir, err := d.Dir(s.controller)
			if err != nil {
				return taskCounts{}, err
			}
			if err := c.countSubTasks(&n, dir, s.file, buf[:]); err != nil {
				return taskCounts{}, fmt.Errorf("tasks of container %s: %w", c.ID, err)
			}
		}
		return n, nil
	}
	return taskCounts{}, fmt.Errorf("tasks of container %s: %w", c.ID, errors.Join(errs...))
}

// countSubTasks adds the threads listed in file in every cgroup below dir.
// A sub-cgroup removed while being walked is skipped.
func (c Container) countSubTasks(n *taskCounts, dir, file string, buf []byte) error {
	pending := []string{dir}
	for len(pending) > 0 {
		d := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		f, err := os.Open(d)
		if err != nil {
			if d != dir && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("list cgroup %s: %w", d, err)
		}
		ents, err := f.ReadDir(-1)
		f.Close()
		if err != nil && d == dir {
			return fmt.Errorf("list cgroup %s: %w", d, err)
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			sub := filepath.Join(d, e.Name())
			pending = append(pending, sub)
			if b, err := os.ReadFile(filepath.Join(sub, file)); err == nil {
				c.countTasks(n, b, buf)
			}
		}
	}
	return nil
}

// noSubTasks tells, from one cheap read, that the cgroup's sub-cgroups hold
// no task, which saves walking them: on v1, the pids controller's
// pids.current (the tasks of the whole subtree) is not above the listed
// count; on v2, cgroup.stat counts no descendant cgroup.
func (c Container) noSubTasks(controller string, listed int) bool {
	if controller != "" {
		n, err := c.readCgroupUint("pids", "pids.current")
		return err == nil && n <= uint64(listed)
	}
	b, err := c.readCgroup("", "cgroup.stat")
	if err != nil {
		return false
	}
	none := false
	forEachStat(b, func(k []byte, v uint64) {
		if string(k) == "nr_descendants" {
			none = v == 0
		}
	})
	return none
}

// countTasks adds the threads of one task list (one id a line) and returns
// how many ids it lists.
func (c Container) countTasks(n *taskCounts, list, buf []byte) int {
	listed := 0
	path := make([]byte, 0, len(c.Host.ProcRoot)+32)
	for len(list) > 0 {
		var line []byte
		line, list = cutLine(list)
		line = trimNewline(line)
		tid, ok := parseUint(line)
		if !ok {
			continue
		}
		listed++
		path = append(path[:0], c.Host.ProcRoot...)
		path = append(path, '/')
		path = strconv.AppendUint(path, tid, 10)
		path = append(path, "/stat"...)
		state, ok := taskState(string(path), buf)
		if !ok {
			continue // exited
		}
		n.total++
		switch {
		case c.ReaderTid > 0 && tid == uint64(c.ReaderTid):
			n.running++
		case state == 'R':
			n.running++
		case state == 'D':
			n.blocked++
		}
	}
	return listed
}

// taskState returns the state letter of a /proc/<tid>/stat file: the field
// after the command name, which is in parentheses and may itself hold
// parentheses and spaces.
func taskState(path string, buf []byte) (byte, bool) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	n, err := unix.Read(fd, buf)
	unix.Close(fd)
	if err != nil || n <= 0 {
		return 0, false
	}
	i := bytes.LastIndexByte(buf[:n], ')')
	if i < 0 || i+2 >= n {
		return 0, false
	}
	return buf[i+2], true
}

// taskCacheTTL is how long a container's task counts are reused. Counting
// reads one /proc/<tid>/stat per thread (three syscalls each), the bulk of
// a /proc/loadavg or /proc/stat read for a container with many threads; the
// load averages themselves only move every 5 seconds.
const taskCacheTTL = time.Second

// taskCache keeps each container's last task counts for taskCacheTTL (by
// the container's clock), so that a burst of reads (top, monitoring agents,
// a benchmark) scans the container's threads once per second. Entries of
// containers not read for loadIdleEvict are dropped.
type taskCache struct {
	mu        sync.Mutex
	entries   map[string]cachedTasks
	lastSweep time.Time
}

type cachedTasks struct {
	start, at time.Time
	n         taskCounts
	err       error
}

func newTaskCache() *taskCache {
	return &taskCache{entries: map[string]cachedTasks{}}
}

// get returns the container's task counts, counted at most taskCacheTTL ago.
func (tc *taskCache) get(c Container) (taskCounts, error) {
	now := c.Host.Now()
	tc.mu.Lock()
	e, ok := tc.entries[c.ID]
	tc.mu.Unlock()
	if ok && e.start.Equal(c.StartTime) && !now.Before(e.at) && now.Sub(e.at) < taskCacheTTL {
		return e.n, e.err
	}
	n, err := c.tasks()
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if now.Sub(tc.lastSweep) >= loadSweepGap || now.Before(tc.lastSweep) {
		for id, e := range tc.entries {
			if now.Sub(e.at) > loadIdleEvict {
				delete(tc.entries, id)
			}
		}
		tc.lastSweep = now
	}
	tc.entries[c.ID] = cachedTasks{start: c.StartTime, at: now, n: n, err: err}
	return n, err
}
