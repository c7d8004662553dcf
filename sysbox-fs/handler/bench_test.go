package handler

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hostContainer is a container over this host's real /proc (held open, as
// the daemon's DefaultHost does) and real v1 cgroup files: this process's
// memory cgroup and Docker's parent cgroups for the other controllers. It
// skips the benchmark on hosts without that layout.
func hostContainer(b *testing.B) Container {
	b.Helper()
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		b.Skip("no /proc/self/cgroup")
	}
	dirs := map[string]string{}
	for _, line := range strings.Split(string(self), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && f[1] == "memory" {
			dirs["memory"] = filepath.Join("/sys/fs/cgroup/memory", f[2])
		}
	}
	for _, c := range []string{"cpuset", "cpuacct", "pids", "blkio"} {
		dirs[c] = filepath.Join("/sys/fs/cgroup", c, "docker")
	}
	for c, d := range dirs {
		if _, err := os.Stat(d); err != nil {
			b.Skipf("no v1 %s cgroup %s", c, d)
		}
	}
	files := NewCgroupFiles(dirs)
	b.Cleanup(func() { files.Close() })
	return Container{ID: "bench", StartTime: time.Now().Add(-time.Hour), InitPid: os.Getpid(), Cgroups: files, Host: DefaultHost()}
}

func benchHandler(b *testing.B, h Handler) {
	run := func(b *testing.B, c Container) {
		b.ReportAllocs()
		// CPU time (user + system) of the process per call, next to the
		// wall time: on a busy machine the wall time mostly measures the
		// wait for a CPU.
		cpu0 := processCPU(b)
		for b.Loop() {
			if _, err := h.Content(c); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	}
	b.Run("fake-v1-tree", func(b *testing.B) { run(b, fullContainer(b, time.Now())) })
	b.Run("this-host", func(b *testing.B) { run(b, hostContainer(b)) })
}

// processCPU is the process's user + system CPU time.
func processCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkMeminfo(b *testing.B)   { benchHandler(b, Meminfo{}) }
func BenchmarkCpuinfo(b *testing.B)   { benchHandler(b, NewCpuinfo("/proc")) }
func BenchmarkStat(b *testing.B)      { benchHandler(b, NewStat("/proc")) }
func BenchmarkLoadavg(b *testing.B)   { benchHandler(b, NewLoadavg()) }
func BenchmarkSwaps(b *testing.B)     { benchHandler(b, Swaps{}) }
func BenchmarkDiskstats(b *testing.B) { benchHandler(b, NewDiskstats("/proc")) }
func BenchmarkCPUOnline(b *testing.B) { benchHandler(b, CPUOnline{}) }
func BenchmarkUptime(b *testing.B)    { benchHandler(b, Uptime{}) }
