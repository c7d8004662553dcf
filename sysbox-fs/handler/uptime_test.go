package handler

import (
	"path/filepath"
	"testing"
	"time"
)

func TestUptimeContent(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// 100.509 s after start: printed as 100.50 (truncated like the kernel).
	now := start.Add(100*time.Second + 509*time.Millisecond)

	v1 := func(t *testing.T) CgroupReader {
		return cgroupV1(t, map[string]map[string]string{
			"cpuset":  {"cpuset.effective_cpus": "0-1\n", "cpuset.cpus": "0-3\n"},
			"cpuacct": {"cpuacct.usage": "50256000000\n"},
		})
	}
	tests := []struct {
		name     string
		hostCPUs int
		start    time.Time
		cgroups  func(t *testing.T) CgroupReader
		want     string
	}{
		{
			name:     "v1 cpuset and cpuacct: idle is 2 cpus x uptime minus usage",
			hostCPUs: 8, start: start, cgroups: v1,
			want: "100.50 150.75\n", // 2*100.50 - 50.25
		},
		{
			name:     "v1 empty effective_cpus falls back to cpuset.cpus",
			hostCPUs: 8, start: start,
			cgroups: func(t *testing.T) CgroupReader {
				return cgroupV1(t, map[string]map[string]string{
					"cpuset":  {"cpuset.effective_cpus": "\n", "cpuset.cpus": "0-2,5\n"},
					"cpuacct": {"cpuacct.usage": "1000000000\n"},
				})
			},
			want: "100.50 401.00\n", // 4*100.50 - 1
		},
		{
			name:     "v2 cpuset.cpus.effective and cpu.stat usage_usec",
			hostCPUs: 8, start: start,
			cgroups: func(t *testing.T) CgroupReader {
				return cgroupV2(t, map[string]string{
					"cpuset.cpus.effective": "0,2-3\n",
					"cpu.stat":              "usage_usec 12345678\nuser_usec 10000000\nsystem_usec 2345678\n",
				})
			},
			want: "100.50 289.16\n", // 3*100.50 - 12.34
		},
		{
			name:     "hybrid host: v1 controllers win over the unified dir",
			hostCPUs: 8, start: start,
			cgroups: func(t *testing.T) CgroupReader {
				d := cgroupV1(t, map[string]map[string]string{
					"cpuset":  {"cpuset.effective_cpus": "0-1\n"},
					"cpuacct": {"cpuacct.usage": "50256000000\n"},
				})
				unified := cgroupV2(t, map[string]string{
					"cpuset.cpus.effective": "0-5\n",
					"cpu.stat":              "usage_usec 1\n",
				})
				d[""] = unified[""]
				return d
			},
			want: "100.50 150.75\n",
		},
		{
			name:     "no cpuset controller: host online cpus",
			hostCPUs: 6, start: start,
			cgroups: func(t *testing.T) CgroupReader {
				return cgroupV1(t, map[string]map[string]string{
					"cpuacct": {"cpuacct.usage": "3000000000\n"},
				})
			},
			want: "100.50 600.00\n", // 6*100.50 - 3
		},
		{
			name:     "not registered yet: fully idle on host cpus",
			hostCPUs: 2, start: start,
			cgroups: func(t *testing.T) CgroupReader { return nil },
			want:    "100.50 201.00\n",
		},
		{
			name:     "cgroup dirs gone: fully idle on host cpus",
			hostCPUs: 3, start: start,
			cgroups: func(t *testing.T) CgroupReader {
				gone := filepath.Join(t.TempDir(), "gone")
				return CgroupDirs{"cpuset": gone, "cpuacct": gone}
			},
			want: "100.50 301.50\n",
		},
		{
			name:     "usage above cpus x uptime: idle clamped to zero",
			hostCPUs: 8, start: start,
			cgroups: func(t *testing.T) CgroupReader {
				return cgroupV1(t, map[string]map[string]string{
					"cpuset":  {"cpuset.cpus": "0\n"},
					"cpuacct": {"cpuacct.usage": "500000000000\n"},
				})
			},
			want: "100.50 0.00\n",
		},
		{
			name:     "start after now (clock step): zero uptime",
			hostCPUs: 2, start: now.Add(time.Hour), cgroups: v1,
			want: "0.00 0.00\n",
		},
		{
			name:     "many cpus and years of uptime do not overflow",
			hostCPUs: 2, start: now.Add(-3 * 365 * 24 * time.Hour),
			cgroups: func(t *testing.T) CgroupReader {
				return cgroupV1(t, map[string]map[string]string{
					"cpuset":  {"cpuset.effective_cpus": "0-255\n"},
					"cpuacct": {"cpuacct.usage": "0\n"},
				})
			},
			want: "94608000.00 24219648000.00\n", // 256 * 94608000
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Container{
				ID:        "c1",
				StartTime: tc.start,
				Cgroups:   tc.cgroups(t),
				Host:      fakeHost(t, now, tc.hostCPUs),
			}
			got, err := Uptime{}.Content(c)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUptimeFailsWithoutAnyCPUSource(t *testing.T) {
	c := Container{
		ID:   "c1",
		Host: Host{Now: time.Now, ProcRoot: filepath.Join(t.TempDir(), "noproc")},
	}
	if got, err := (Uptime{}).Content(c); err == nil {
		t.Fatalf("got %q and no error with neither cpuset nor host /proc/stat", got)
	}
}

func BenchmarkUptimeContent(b *testing.B) {
	dirs := cgroupV1(b, map[string]map[string]string{
		"cpuset":  {"cpuset.effective_cpus": "0-1\n"},
		"cpuacct": {"cpuacct.usage": "50256000000\n"},
	})
	files := NewCgroupFiles(dirs)
	defer files.Close()
	for name, cg := range map[string]CgroupReader{"CgroupDirs": dirs, "CgroupFiles": files} {
		c := Container{ID: "c1", StartTime: time.Now().Add(-time.Hour), Cgroups: cg, Host: fakeHost(b, time.Now(), 2)}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := (Uptime{}).Content(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
