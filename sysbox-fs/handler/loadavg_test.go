package handler

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// taskTree is a container with threads 101-106 in its cgroup and 201-202 in
// a sub-cgroup: R R D S S (106 exited) and R S, so 3 running, 1 blocked,
// 7 threads.
var taskStates = map[int]byte{101: 'R', 102: 'R', 103: 'D', 104: 'S', 105: 'S', 201: 'R', 202: 'S'}

func taskCgroupV1(t testing.TB) CgroupDirs {
	return cgroupV1(t, map[string]map[string]string{
		"pids":   {"tasks": "101\n102\n103\n104\n105\n106\n", "inner/tasks": "201\n202\n", "inner/deeper/tasks": ""},
		"cpuset": {"cpuset.cpus": "0-1\n"},
	})
}

func taskCgroupV2(t testing.TB) CgroupDirs {
	return cgroupV2(t, map[string]string{
		"cgroup.threads": "101\n102\n103\n104\n105\n106\n", "inner/cgroup.threads": "201\n202\n",
		"cpuset.cpus.effective": "0-1\n",
	})
}

// clock is a settable fake clock.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func loadavgHost(t testing.TB, clk *clock, states map[int]byte) Host {
	h := fakeProc(t, clk.now, withTasks(map[string]string{"loadavg": hostLoadavg, "stat": hostStat}, states))
	h.Now = clk.Now
	return h
}

func TestLoadavgDecaysLikeTheKernel(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := &clock{now: start}
	h := loadavgHost(t, clk, taskStates)
	c := Container{ID: "c1", StartTime: start, Cgroups: taskCgroupV1(t), Host: h}
	l := NewLoadavg()
	read := func(at time.Duration) string {
		t.Helper()
		clk.now = start.Add(at)
		b, err := l.Content(c)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// Expected figures: the kernel's fixed-point update with 4 active
	// threads (3 R + 1 D); 1 period: 4*(1-e^(-5/60)) = 0.32, e^(-5/300)
	// and e^(-5/900) likewise; 12 periods: 4*(1-e^-1) = 2.53.
	steps := []struct {
		at   time.Duration
		want string
	}{
		{2 * time.Second, "0.00 0.00 0.00 3/7 6235\n"},
		{5 * time.Second, "0.32 0.07 0.02 3/7 6235\n"},
		{9 * time.Second, "0.32 0.07 0.02 3/7 6235\n"}, // same period
		{60 * time.Second, "2.53 0.73 0.25 3/7 6235\n"},
	}
	for _, s := range steps {
		if got := read(s.at); got != s.want {
			t.Fatalf("at %v: got %q, want %q", s.at, got, s.want)
		}
	}
	// The container goes idle: one minute later the 1-minute average has
	// decayed by e^-1, an hour later all are 0.
	for tid := range taskStates {
		writeTree(t, h.ProcRoot, map[string]string{strconv.Itoa(tid) + "/stat": taskStat(tid, 'S')})
	}
	if got, want := read(120*time.Second), "0.93 0.59 0.24 0/7 6235\n"; got != want {
		t.Fatalf("a minute idle: got %q, want %q", got, want)
	}
	if got, want := read(time.Hour+time.Minute), "0.00 0.00 0.00 0/7 6235\n"; got != want {
		t.Fatalf("an hour idle: got %q, want %q", got, want)
	}
}

func TestLoadavgCatchUpEqualsPollingEveryPeriod(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := &clock{now: start}
	h := loadavgHost(t, clk, taskStates)
	polled, once := NewLoadavg(), NewLoadavg()
	c := Container{ID: "c1", StartTime: start, Cgroups: taskCgroupV1(t), Host: h}
	var last []byte
	for at := time.Duration(0); at <= 15*time.Minute; at += loadPeriod {
		clk.now = start.Add(at)
		b, err := polled.Content(c)
		if err != nil {
			t.Fatal(err)
		}
		last = b
	}
	got, err := once.Content(c)
	if err != nil || string(got) != string(last) {
		t.Fatalf("one read after 15 min: %q, %v; polled every 5 s: %q", got, err, last)
	}
	// And both follow the continuous formula 4*(1-e^(-t/T)).
	f := strings.Fields(string(got))
	for i, tau := range []float64{60, 300, 900} {
		v, _ := strconv.ParseFloat(f[i], 64)
		if want := 4 * (1 - math.Exp(-900/tau)); math.Abs(v-want) > 0.03 {
			t.Errorf("average %d: %.2f, want %.2f", i, v, want)
		}
	}
}

func TestLoadavgContent(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		cgroups func(t *testing.T) CgroupReader
		reader  int
		want    string
	}{
		{"v1 tasks with a sub-cgroup", func(t *testing.T) CgroupReader { return taskCgroupV1(t) }, 0, "2.53 0.73 0.25 3/7 6235\n"},
		{"v2 cgroup.threads with a sub-cgroup", func(t *testing.T) CgroupReader { return taskCgroupV2(t) }, 0, "2.53 0.73 0.25 3/7 6235\n"},
		// The reader (sleeping in the read, here 'S') counts as running.
		{"the reader counts as running", func(t *testing.T) CgroupReader { return taskCgroupV1(t) }, 104, "3.17 0.91 0.32 4/7 6235\n"},
		// The reader blocked in the FUSE read shows as D: not counted twice.
		{"a reader in state D counts once", func(t *testing.T) CgroupReader { return taskCgroupV1(t) }, 103, "2.53 0.73 0.25 4/7 6235\n"},
		{"not registered: the host's line", func(*testing.T) CgroupReader { return nil }, 0, hostLoadavg},
		{"no task list: the host's line", func(t *testing.T) CgroupReader {
			return cgroupV1(t, map[string]map[string]string{"cpuset": {"cpuset.cpus": "0\n"}})
		}, 0, hostLoadavg},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{now: start.Add(time.Minute)}
			c := Container{ID: "c1", StartTime: start, Cgroups: tc.cgroups(t), Host: loadavgHost(t, clk, taskStates), ReaderTid: tc.reader}
			got, err := NewLoadavg().Content(c)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoadavgSamplerResetsOnRestartAndIsDroppedWhenUnused(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := &clock{now: start.Add(time.Minute)}
	h := loadavgHost(t, clk, taskStates)
	l := NewLoadavg()
	c1 := Container{ID: "c1", StartTime: start, Cgroups: taskCgroupV1(t), Host: h}
	if got, _ := l.Content(c1); string(got) != "2.53 0.73 0.25 3/7 6235\n" {
		t.Fatalf("first container: %q", got)
	}
	// Same id, started again now: the averages start from 0.
	c1.StartTime = clk.now
	if got, _ := l.Content(c1); string(got) != "0.00 0.00 0.00 3/7 6235\n" {
		t.Fatalf("restarted container: %q", got)
	}
	// c1 unread for more than 15 minutes while c2 is read: c1's sampler
	// goes.
	c2 := Container{ID: "c2", StartTime: start, Cgroups: taskCgroupV1(t), Host: h}
	clk.now = clk.now.Add(loadIdleEvict + loadSweepGap)
	if _, err := l.Content(c2); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	_, kept1 := l.samplers["c1"]
	_, kept2 := l.samplers["c2"]
	l.mu.Unlock()
	if kept1 || !kept2 {
		t.Fatalf("after 16 idle minutes: c1 kept %v (want false), c2 kept %v (want true)", kept1, kept2)
	}
}
