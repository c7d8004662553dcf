package handler

import (
	"testing"
	"time"
)

func TestTasksCountsStatesAcrossSubCgroups(t *testing.T) {
	tests := []struct {
		name    string
		cgroups CgroupReader
		reader  int
		want    taskCounts
	}{
		{
			name:    "v1 without pids.current: sub-cgroups walked",
			cgroups: taskCgroupV1(t),
			want:    taskCounts{running: 3, blocked: 1, total: 7},
		},
		{
			name: "v1 pids.current above the top list: sub-cgroups walked",
			cgroups: cgroupV1(t, map[string]map[string]string{"pids": {
				"tasks": "101\n102\n103\n104\n105\n106\n", "inner/tasks": "201\n202\n", "pids.current": "8\n"}}),
			want: taskCounts{running: 3, blocked: 1, total: 7},
		},
		{
			// The fixture's inner list contradicts pids.current on purpose:
			// the result shows the walk was skipped.
			name: "v1 pids.current equal to the top list: no walk",
			cgroups: cgroupV1(t, map[string]map[string]string{"pids": {
				"tasks": "101\n102\n103\n104\n105\n106\n", "inner/tasks": "201\n202\n", "pids.current": "6\n"}}),
			want: taskCounts{running: 2, blocked: 1, total: 5},
		},
		{
			name: "v1 without pids: the next hierarchy's task list",
			cgroups: cgroupV1(t, map[string]map[string]string{"cpuacct": {
				"tasks": "101\n103\n", "sub/tasks": "201\n"}}),
			want: taskCounts{running: 2, blocked: 1, total: 3},
		},
		{
			name: "v2 cgroup.stat with descendants: walked",
			cgroups: cgroupV2(t, map[string]string{"cgroup.threads": "101\n102\n103\n104\n105\n106\n",
				"inner/cgroup.threads": "201\n202\n", "cgroup.stat": "nr_descendants 1\nnr_dying_descendants 0\n"}),
			want: taskCounts{running: 3, blocked: 1, total: 7},
		},
		{
			name: "v2 cgroup.stat without descendants: no walk",
			cgroups: cgroupV2(t, map[string]string{"cgroup.threads": "101\n102\n103\n104\n105\n106\n",
				"inner/cgroup.threads": "201\n202\n", "cgroup.stat": "nr_descendants 0\nnr_dying_descendants 0\n"}),
			want: taskCounts{running: 2, blocked: 1, total: 5},
		},
		{
			name:    "the reader counts as running whatever its state",
			cgroups: taskCgroupV1(t),
			reader:  103,
			want:    taskCounts{running: 4, blocked: 0, total: 7},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Container{ID: "c1", Cgroups: tc.cgroups, ReaderTid: tc.reader,
				Host: fakeProc(t, time.Now(), withTasks(map[string]string{}, taskStates))}
			got, err := c.tasks()
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestTaskStateReadsPastParenthesesInTheName(t *testing.T) {
	h := fakeProc(t, time.Now(), map[string]string{"7/stat": "7 (a) b (c) D 1 2 3\n", "8/stat": "8 (x"})
	buf := make([]byte, 512)
	if st, ok := taskState(h.ProcRoot+"/7/stat", buf); !ok || st != 'D' {
		t.Fatalf("got %q, %v; want 'D'", st, ok)
	}
	if _, ok := taskState(h.ProcRoot+"/8/stat", buf); ok {
		t.Fatal("a truncated stat line gave a state")
	}
	if _, ok := taskState(h.ProcRoot+"/9/stat", buf); ok {
		t.Fatal("an exited task gave a state")
	}
}

func TestTaskCacheRecountsAfterASecondOrARestart(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := &clock{now: start}
	h := fakeProc(t, start, withTasks(map[string]string{}, taskStates))
	h.Now = clk.Now
	c := Container{ID: "c1", StartTime: start, Cgroups: taskCgroupV1(t), Host: h}
	tc := newTaskCache()
	get := func() taskCounts {
		t.Helper()
		n, err := tc.get(c)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	first := taskCounts{running: 3, blocked: 1, total: 7}
	if n := get(); n != first {
		t.Fatalf("first count %+v", n)
	}
	writeTree(t, h.ProcRoot, map[string]string{"104/stat": taskStat(104, 'R')})
	clk.now = start.Add(taskCacheTTL - time.Millisecond)
	if n := get(); n != first {
		t.Fatalf("within the TTL: %+v, want the cached %+v", n, first)
	}
	clk.now = start.Add(taskCacheTTL)
	if n, want := get(), (taskCounts{running: 4, blocked: 1, total: 7}); n != want {
		t.Fatalf("after the TTL: %+v, want %+v", n, want)
	}
	writeTree(t, h.ProcRoot, map[string]string{"104/stat": taskStat(104, 'S')})
	c.StartTime = clk.now // the same id started again
	if n := get(); n != first {
		t.Fatalf("after a restart: %+v, want a fresh count %+v", n, first)
	}
}
