package handler

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sysinfoContainer is a v1 container limited to 256 MiB (100 MiB used, 4 MiB
// shmem, 256 MiB of swap with 1 MiB used) with the threads of taskStates,
// one minute and a half second after its start.
func sysinfoContainer(t *testing.T) (Container, time.Time) {
	t.Helper()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := &clock{now: start.Add(time.Minute + 500*time.Millisecond)}
	h := fakeProc(t, clk.now, withTasks(map[string]string{"meminfo": hostMeminfo, "loadavg": hostLoadavg}, taskStates))
	h.Now = clk.Now
	cg := cgroupV1(t, map[string]map[string]string{
		"memory": memV1("268435456\n", "268435456", "536870912\n"),
		"pids":   {"tasks": "101\n102\n103\n104\n105\n106\n", "inner/tasks": "201\n202\n"},
	})
	return Container{ID: "c1", StartTime: start, Cgroups: cg, Host: h}, start
}

// loadOf is a sysinfo load as a float.
func loadOf(v uint64) float64 { return float64(v) / (1 << 16) }

func TestSysinfoAgreesWithTheContainersMeminfoUptimeAndLoadavg(t *testing.T) {
	c, _ := sysinfoContainer(t)
	tbl := Default()
	tbl["proc/loadavg"] = NewLoadavg()
	si, err := NewSysinfo(tbl).Info(c)
	if err != nil {
		t.Fatal(err)
	}
	// Figures of TestMeminfoContent's "v1 limit 256M" case, in bytes.
	want := unix.Sysinfo_t{
		Uptime:    61, // 60.5 s, rounded up as the kernel does
		Totalram:  262144 * 1024,
		Freeram:   159744 * 1024,
		Sharedram: 4096 * 1024,
		Bufferram: 0,
		Totalswap: 262144 * 1024,
		Freeswap:  261120 * 1024,
		Procs:     7,
		Unit:      1,
	}
	got := si
	got.Loads = [3]uint64{}
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// 4 active threads for a minute: /proc/loadavg's "2.53 0.73 0.25".
	for i, w := range []float64{2.53, 0.73, 0.25} {
		if l := loadOf(si.Loads[i]); math.Abs(l-w) > 0.005 {
			t.Errorf("load %d = %.4f, want %.2f", i, l, w)
		}
	}
	// The same sampler serves the file: it prints the same averages.
	b, err := tbl["proc/loadavg"].Content(c)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range strings.Fields(string(b))[:3] {
		v, _ := strconv.ParseFloat(f, 64)
		if l := loadOf(si.Loads[i]); math.Abs(l-v) > 0.005 {
			t.Errorf("load %d: sysinfo %.4f, /proc/loadavg %s", i, l, f)
		}
	}
}

func TestSysinfoCountsTheCallerAsRunning(t *testing.T) {
	c, _ := sysinfoContainer(t)
	c.ReaderTid = 104 // sleeping in the trapped call, as the agent sees it
	si, err := NewSysinfo(Table{"proc/loadavg": NewLoadavg()}).Info(c)
	if err != nil {
		t.Fatal(err)
	}
	// 5 active threads for a minute: 5*(1-e^-1) = 3.16 (the kernel's
	// fixed point gives 3.17, as TestLoadavgContent shows).
	if l := loadOf(si.Loads[0]); math.Abs(l-3.17) > 0.005 {
		t.Fatalf("1-minute load %.4f, want 3.17", l)
	}
}

func TestSysinfoFallsBackToTheHost(t *testing.T) {
	c, start := sysinfoContainer(t)
	hostLoad := [3]uint64{117309, 148767, 194642} // 1.79 2.27 2.97 in 1<<16
	hostMem := unix.Sysinfo_t{
		Totalram: 2000000 * 1024, Freeram: 1500000 * 1024, Sharedram: 9000 * 1024,
		Bufferram: 10000 * 1024, Totalswap: 1000000 * 1024, Freeswap: 900000 * 1024,
	}
	tests := []struct {
		name string
		s    *Sysinfo
		c    func() Container
		want unix.Sysinfo_t
	}{
		{
			name: "not registered: the host's memory, loads and threads, the container's uptime",
			s:    NewSysinfo(Table{"proc/loadavg": NewLoadavg()}),
			c: func() Container {
				return Container{ID: "c1", StartTime: start, Host: c.Host}
			},
			want: func() unix.Sysinfo_t {
				w := hostMem
				w.Uptime, w.Loads, w.Procs, w.Unit = 61, hostLoad, 143, 1
				return w
			}(),
		},
		{
			name: "no loadavg handler: the container's memory, the host's loads and threads",
			s:    NewSysinfo(Table{"proc/meminfo": Meminfo{}}),
			c:    func() Container { return c },
			want: unix.Sysinfo_t{
				Uptime: 61, Loads: hostLoad, Totalram: 262144 * 1024, Freeram: 159744 * 1024,
				Sharedram: 4096 * 1024, Totalswap: 262144 * 1024, Freeswap: 261120 * 1024, Procs: 143, Unit: 1,
			},
		},
		{
			name: "started in the future (clock step): uptime 0",
			s:    NewSysinfo(Table{}),
			c: func() Container {
				return Container{ID: "c1", StartTime: start.Add(time.Hour), Host: c.Host}
			},
			want: func() unix.Sysinfo_t {
				w := hostMem
				w.Loads, w.Procs, w.Unit = hostLoad, 143, 1
				return w
			}(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.Info(tc.c())
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestSysinfoFailsOnGarbage(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		cg    map[string]map[string]string
	}{
		{"unparsable memory usage", map[string]string{"meminfo": hostMeminfo, "loadavg": hostLoadavg},
			map[string]map[string]string{"memory": func() map[string]string {
				f := memV1("268435456\n", "268435456", "536870912\n")
				f["memory.usage_in_bytes"] = "lots\n"
				return f
			}()}},
		{"host meminfo without MemTotal", map[string]string{"meminfo": "MemFree: 1 kB\n", "loadavg": hostLoadavg}, nil},
		{"host loadavg truncated", map[string]string{"meminfo": hostMeminfo, "loadavg": "1.0 2.0\n"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Container{ID: "c1", StartTime: time.Now(), Host: fakeProc(t, time.Now(), tc.files)}
			if tc.cg != nil {
				c.Cgroups = cgroupV1(t, tc.cg)
			}
			if got, err := NewSysinfo(Table{}).Info(c); err == nil {
				t.Fatalf("got %+v and no error", got)
			}
		})
	}
}

// BenchmarkSysinfo is the agent's cost per trapped sysinfo, without the
// seccomp round trip.
func BenchmarkSysinfo(b *testing.B) {
	s := NewSysinfo(Table{"proc/loadavg": NewLoadavg()})
	benchHandler(b, Func(func(c Container) ([]byte, error) {
		_, err := s.Info(c)
		return nil, err
	}))
}
