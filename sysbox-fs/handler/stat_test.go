package handler

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// statTail is hostStat after the cpu lines with the container's btime
// (start = now - 100 s) and the given procs_running/procs_blocked.
func statTail(running, blocked int) string {
	return "intr 6900274 0 0 1 8\nctxt 16101166\nbtime 1767322945\nprocesses 103547\n" +
		fmt.Sprintf("procs_running %d\nprocs_blocked %d\n", running, blocked) +
		"softirq 1732815 0 191841 295\n"
}

func TestStatContent(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	start := now.Add(-100 * time.Second) // 10000 ticks
	withTasksV1 := func(files map[string]map[string]string) map[string]map[string]string {
		files["pids"] = map[string]string{"tasks": "101\n102\n103\n104\n105\n106\n", "inner/tasks": "201\n202\n"}
		return files
	}
	tests := []struct {
		name    string
		host    string
		cgroups func(t *testing.T) CgroupReader
		reader  int
		want    string
	}{
		{
			name: "v1 per-cpu user and sys of the cpuset's CPUs, renumbered; tasks from the task lists",
			host: hostStat,
			cgroups: func(t *testing.T) CgroupReader {
				return cgroupV1(t, withTasksV1(map[string]map[string]string{
					"cpuset": {"cpuset.effective_cpus": "1,3\n"},
					"cpuacct": {
						"cpuacct.usage_percpu_user": "1000000000 2000000000 3000000000 4000000000 \n",
						"cpuacct.usage_percpu_sys":  "500000000 600000000 700000000 800000000 \n",
						"cpuacct.usage_percpu":      "1 1 1 1 \n",
						"cpuacct.usage":             "4\n",
					},
				}))
			},
			want: "cpu  600 0 140 19260 0 0 0 0 0 0\n" +
				"cpu0 200 0 60 9740 0 0 0 0 0 0\n" +
				"cpu1 400 0 80 9520 0 0 0 0 0 0\n" + statTail(3, 1),
		},
		{
			name: "v1 usage_percpu split in cpuacct.stat's user/system ratio",
			host: hostStat,
			cgroups: func(t *testing.T) CgroupReader {
				return cgroupV1(t, withTasksV1(map[string]map[string]string{
					"cpuset": {"cpuset.effective_cpus": "1,3\n"},
					"cpuacct": {
						"cpuacct.usage_percpu": "1000000000 2000000000 3000000000 4000000000 \n",
						"cpuacct.stat":         "user 300\nsystem 100\n",
					},
				}))
			},
			want: "cpu  450 0 150 19400 0 0 0 0 0 0\n" +
				"cpu0 150 0 50 9800 0 0 0 0 0 0\n" +
				"cpu1 300 0 100 9600 0 0 0 0 0 0\n" + statTail(3, 1),
		},
		{
			name: "v1 cpuacct.usage only: spread evenly",
			host: hostStat,
			cgroups: func(t *testing.T) CgroupReader {
				return cgroupV1(t, withTasksV1(map[string]map[string]string{
					"cpuset":  {"cpuset.effective_cpus": "1,3\n"},
					"cpuacct": {"cpuacct.usage": "6000000000\n", "cpuacct.stat": "user 300\nsystem 100\n"},
				}))
			},
			want: "cpu  450 0 150 19400 0 0 0 0 0 0\n" +
				"cpu0 225 0 75 9700 0 0 0 0 0 0\n" +
				"cpu1 225 0 75 9700 0 0 0 0 0 0\n" + statTail(3, 1),
		},
		{
			name: "v2 cpu.stat user_usec/system_usec spread evenly, remainder on the first CPUs",
			host: hostStat,
			cgroups: func(t *testing.T) CgroupReader {
				return cgroupV2(t, map[string]string{
					"cpuset.cpus.effective": "0-2\n",
					"cpu.stat":              "usage_usec 4010000\nuser_usec 3000000\nsystem_usec 1010000\n",
					"cgroup.threads":        "101\n102\n103\n104\n105\n106\n", "inner/cgroup.threads": "201\n202\n",
				})
			},
			want: "cpu  300 0 101 29599 0 0 0 0 0 0\n" +
				"cpu0 100 0 34 9866 0 0 0 0 0 0\n" +
				"cpu1 100 0 34 9866 0 0 0 0 0 0\n" +
				"cpu2 100 0 33 9867 0 0 0 0 0 0\n" + statTail(3, 1),
		},
		{
			name: "the reader counts as running",
			host: hostStat,
			cgroups: func(t *testing.T) CgroupReader {
				return cgroupV1(t, withTasksV1(map[string]map[string]string{"cpuset": {"cpuset.cpus": "0\n"}}))
			},
			reader: 105,
			want:   "cpu  0 0 0 10000 0 0 0 0 0 0\ncpu0 0 0 0 10000 0 0 0 0 0 0\n" + statTail(4, 1),
		},
		{
			name:    "not registered: all host CPUs, fully idle, host task counts",
			host:    hostStat,
			cgroups: func(*testing.T) CgroupReader { return nil },
			want: "cpu  0 0 0 40000 0 0 0 0 0 0\n" +
				"cpu0 0 0 0 10000 0 0 0 0 0 0\n" +
				"cpu1 0 0 0 10000 0 0 0 0 0 0\n" +
				"cpu2 0 0 0 10000 0 0 0 0 0 0\n" +
				"cpu3 0 0 0 10000 0 0 0 0 0 0\n" + statTail(3, 1),
		},
		{
			name: "host cpu lines with 8 fields (older kernel): as many in ours",
			host: "cpu  1 2 3 4 5 6 7 8\ncpu0 1 2 3 4 5 6 7 8\nintr 1\nbtime 1\n",
			cgroups: func(t *testing.T) CgroupReader {
				return cgroupV2(t, map[string]string{"cpuset.cpus.effective": "0\n", "cpu.stat": "user_usec 10000\nsystem_usec 20000\n"})
			},
			want: "cpu  1 0 2 9997 0 0 0 0\ncpu0 1 0 2 9997 0 0 0 0\nintr 1\nbtime 1767322945\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := fakeProc(t, now, withTasks(map[string]string{"stat": tc.host}, taskStates))
			c := Container{ID: "c1", StartTime: start, Cgroups: tc.cgroups(t), Host: h, ReaderTid: tc.reader}
			got, err := NewStat("/proc").Content(c)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestStatIdleMatchesUptime reads /proc/stat and /proc/uptime for the same
// container: the "cpu" line's idle (1/100 s) is uptime's idle, and btime +
// uptime is now.
func TestStatIdleMatchesUptime(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	start := now.Add(-1234567 * time.Millisecond)
	cg := cgroupV1(t, map[string]map[string]string{
		"cpuset": {"cpuset.effective_cpus": "0-1\n"},
		"cpuacct": {
			"cpuacct.usage_percpu_user": "100000000000 200000000000 \n",
			"cpuacct.usage_percpu_sys":  "30000000000 40000000000 \n",
			"cpuacct.usage":             "370000000000\n",
		},
	})
	c := Container{ID: "c1", StartTime: start, Cgroups: cg, Host: fakeProc(t, now, map[string]string{"stat": hostStat})}
	st, err := NewStat("/proc").Content(c)
	if err != nil {
		t.Fatal(err)
	}
	up, err := Uptime{}.Content(c)
	if err != nil {
		t.Fatal(err)
	}
	var user, nice, system, idle, btime int64
	fmt.Sscanf(string(st), "cpu  %d %d %d %d", &user, &nice, &system, &idle)
	for _, line := range strings.Split(string(st), "\n") {
		fmt.Sscanf(line, "btime %d", &btime)
	}
	var upS, idleS float64
	fmt.Sscanf(string(up), "%f %f", &upS, &idleS)
	if got := float64(idle) / userHZ; got != idleS {
		t.Errorf("stat idle %.2f s, uptime idle %.2f s", got, idleS)
	}
	if user+system+idle != 2*int64(upS*userHZ+0.5) {
		t.Errorf("user+system+idle = %d, want 2 CPUs x %.2f s", user+system+idle, upS)
	}
	// btime is whole seconds, as the kernel's: btime + uptime is now
	// within a second.
	if d := float64(now.Unix()) - (float64(btime) + upS); d < 0 || d >= 1 {
		t.Errorf("btime %d + uptime %.2f is %.2f s from now %d", btime, upS, d, now.Unix())
	}
}

func TestStatSizeBoundCoversTheHostFile(t *testing.T) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Skip("no /proc/stat")
	}
	if sb := NewStat("/proc").SizeBound(); sb < uint64(len(b)) || sb%4096 != 0 {
		t.Fatalf("bound %d for a host /proc/stat of %d bytes", sb, len(b))
	}
}
