package handler

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// fullContainer is a registered v1 container over fake trees with every
// host file the handlers read, reading its cgroup files through the
// daemon's CgroupFiles (held open, pread).
func fullContainer(t testing.TB, now time.Time) Container {
	t.Helper()
	var cpuinfo string
	for i := range 4 {
		cpuinfo += cpuinfoBlock(i)
	}
	mem := memV1("268435456\n", "268435456", "536870912\n")
	dirs := cgroupV1(t, map[string]map[string]string{
		"memory": mem,
		"cpuset": {"cpuset.effective_cpus": "1,3\n"},
		"cpuacct": {
			"cpuacct.usage_percpu_user": "1000000000 2000000000 3000000000 4000000000 \n",
			"cpuacct.usage_percpu_sys":  "500000000 600000000 700000000 800000000 \n",
			"cpuacct.usage":             "10000000000\n",
		},
		"pids": {"tasks": "101\n102\n103\n104\n105\n106\n", "inner/tasks": "201\n202\n"},
		"blkio": {
			"blkio.throttle.io_service_bytes_recursive": blkioBytesV1,
			"blkio.throttle.io_serviced_recursive":      blkioOpsV1,
		},
	})
	files := NewCgroupFiles(dirs)
	t.Cleanup(func() { files.Close() })
	h := fakeProc(t, now, withTasks(map[string]string{
		"meminfo": hostMeminfo, "cpuinfo": cpuinfo, "stat": hostStat, "loadavg": hostLoadavg,
		"swaps": hostSwaps, "diskstats": hostDiskstats,
	}, taskStates))
	// Host files held open and re-read with pread, as DefaultHost does.
	h.proc = NewCgroupFiles(map[string]string{"": h.ProcRoot})
	t.Cleanup(func() { h.proc.Close() })
	return Container{ID: "c1", StartTime: now.Add(-time.Hour), InitPid: 101, Cgroups: files, Host: h}
}

// TestHandlersGiveConsistentContentUnderConcurrentReads runs 8 goroutines x
// 1000 reads of every file of the default table on one container (shared
// handlers, shared held-open cgroup files) and expects every read to give
// the same, non-empty text (the clock is fixed). Run it with -race.
func TestHandlersGiveConsistentContentUnderConcurrentReads(t *testing.T) {
	const goroutines, reads = 8, 1000
	c := fullContainer(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	tab := Default()
	for _, p := range tab.Paths() {
		t.Run(p, func(t *testing.T) {
			h := tab[p]
			want, err := h.Content(c)
			if err != nil || len(want) == 0 {
				t.Fatalf("first read: %q, %v", want, err)
			}
			var wg sync.WaitGroup
			errs := make(chan string, goroutines)
			for range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range reads {
						got, err := h.Content(c)
						if err != nil || !bytes.Equal(got, want) {
							errs <- string(got)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for got := range errs {
				t.Errorf("a concurrent read gave %q, want %q", got, want)
			}
		})
	}
}
