package handler

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	mib = 1 << 20
	// v1Unset is what memory.limit_in_bytes reads without a limit.
	v1Unset = "9223372036854771712\n"
)

// memStatV1 is a v1 memory.stat: the plain fields (the cgroup alone) differ
// from the total_* ones (with sub-cgroups), which the handler must use.
const memStatV1 = "cache 1\nrss 1\nshmem 1\nmapped_file 1\ninactive_file 999999999\nactive_file 1\n" +
	"total_cache 41943040\ntotal_rss 52428800\ntotal_rss_huge 2097152\ntotal_shmem 4194304\n" +
	"total_mapped_file 8388608\ntotal_dirty 409600\ntotal_writeback 0\ntotal_swap 1048576\n" +
	"total_swapcached 0\ntotal_inactive_anon 31457280\ntotal_active_anon 20971520\n" +
	"total_inactive_file 16777216\ntotal_active_file 20971520\ntotal_unevictable 0\n"

// memV1 is a v1 memory cgroup: 100 MiB used of 256 MiB, 256 MiB more of
// swap allowed (memsw 512 MiB), 1 MiB swapped; hier is the
// hierarchical_memory_limit line's value.
func memV1(limit, hier, memswLimit string) map[string]string {
	return map[string]string{
		"memory.usage_in_bytes":       "104857600\n",
		"memory.limit_in_bytes":       limit,
		"memory.memsw.limit_in_bytes": memswLimit,
		"memory.memsw.usage_in_bytes": "105906176\n",
		"memory.stat": memStatV1 + "hierarchical_memory_limit " + hier + "\n" +
			"hierarchical_memsw_limit " + strings.TrimSpace(memswLimit) + "\n",
	}
}

// memV2 is the same container on cgroup v2.
func memV2(max, swapMax string) map[string]string {
	return map[string]string{
		"memory.current": "104857600\n",
		"memory.max":     max,
		"memory.stat": "anon 52428800\nfile 41943040\nkernel_stack 0\nshmem 4194304\nfile_mapped 8388608\n" +
			"file_dirty 409600\nfile_writeback 0\nanon_thp 2097152\ninactive_anon 31457280\n" +
			"active_anon 20971520\ninactive_file 16777216\nactive_file 20971520\nunevictable 0\n" +
			"slab_reclaimable 3145728\nslab_unreclaimable 1048576\nslab 4194304\nswapcached 0\n",
		"memory.swap.max":     swapMax,
		"memory.swap.current": "2097152\n",
	}
}

// containerLines are the lines derived from memV1/memV2's stat (kB), the
// same whatever the limit.
var containerLines = map[string]uint64{
	"Buffers": 0, "Cached": 40960, "SwapCached": 0,
	"Active": 40960, "Inactive": 47104, "Active(anon)": 20480, "Inactive(anon)": 30720,
	"Active(file)": 20480, "Inactive(file)": 16384, "Unevictable": 0,
	"Dirty": 400, "Writeback": 0, "AnonPages": 51200, "Mapped": 8192, "Shmem": 4096,
	"AnonHugePages": 2048,
}

// wantMeminfo is host with the lines in repl printed as "%-16s%8d kB", the
// kernel's format written independently of the handler's code.
func wantMeminfo(t *testing.T, host string, repl ...map[string]uint64) string {
	t.Helper()
	all := map[string]uint64{}
	for _, m := range repl {
		for k, v := range m {
			all[k] = v
		}
	}
	var b strings.Builder
	used := 0
	for _, line := range strings.SplitAfter(host, "\n") {
		label, _, _ := strings.Cut(line, ":")
		if v, ok := all[label]; ok {
			fmt.Fprintf(&b, "%-16s%8d kB\n", label+":", v)
			used++
			continue
		}
		b.WriteString(line)
	}
	if used != len(all) {
		t.Fatalf("test bug: some of %v are not lines of the host file", all)
	}
	return b.String()
}

func TestMeminfoContent(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v1Slab := map[string]uint64{"KReclaimable": 0, "Slab": 0, "SReclaimable": 0, "SUnreclaim": 0}
	v2Slab := map[string]uint64{"KReclaimable": 3072, "Slab": 4096, "SReclaimable": 3072, "SUnreclaim": 1024}
	// 256 MiB limit, 100 MiB used of which 16 MiB inactive file cache.
	limited := map[string]uint64{"MemTotal": 262144, "MemFree": 159744, "MemAvailable": 176128}
	v1 := func(files map[string]string) func(*testing.T) CgroupReader {
		return func(t *testing.T) CgroupReader {
			return cgroupV1(t, map[string]map[string]string{"memory": files, "cpuset": {"cpuset.cpus": "0\n"}})
		}
	}
	tests := []struct {
		name    string
		host    string
		cgroups func(*testing.T) CgroupReader
		want    func(t *testing.T) string
	}{
		{
			name: "v1 limit 256M and swap limit: total is the limit, swap the memsw excess, total_* stats",
			host: hostMeminfo, cgroups: v1(memV1("268435456\n", "268435456", "536870912\n")),
			want: func(t *testing.T) string {
				return wantMeminfo(t, hostMeminfo, limited, containerLines, v1Slab,
					map[string]uint64{"SwapTotal": 262144, "SwapFree": 261120})
			},
		},
		{
			name: "v1 no limit: host MemTotal, free from the container's usage, host swap size",
			host: hostMeminfo, cgroups: v1(memV1(v1Unset, "9223372036854771712", v1Unset)),
			want: func(t *testing.T) string {
				return wantMeminfo(t, hostMeminfo, containerLines, v1Slab, map[string]uint64{
					"MemTotal": 2000000, "MemFree": 1897600, "MemAvailable": 1913984,
					"SwapTotal": 1000000, "SwapFree": 998976,
				})
			},
		},
		{
			name: "v1 limit above the host's memory: host MemTotal",
			host: hostMeminfo, cgroups: v1(memV1("4294967296\n", "4294967296", "8589934592\n")),
			want: func(t *testing.T) string {
				return wantMeminfo(t, hostMeminfo, containerLines, v1Slab, map[string]uint64{
					"MemTotal": 2000000, "MemFree": 1897600, "MemAvailable": 1913984,
					"SwapTotal": 1000000, "SwapFree": 998976,
				})
			},
		},
		{
			name: "v1 limit set on a parent only: the hierarchical limit counts",
			host: hostMeminfo, cgroups: v1(memV1(v1Unset, "268435456", "536870912\n")),
			want: func(t *testing.T) string {
				return wantMeminfo(t, hostMeminfo, limited, containerLines, v1Slab,
					map[string]uint64{"SwapTotal": 262144, "SwapFree": 261120})
			},
		},
		{
			name: "v1 memory.stat without hierarchical limits: the limit files",
			host: hostMeminfo,
			cgroups: func(t *testing.T) CgroupReader {
				files := memV1("268435456\n", "", "536870912\n")
				files["memory.stat"] = memStatV1
				return v1(files)(t)
			},
			want: func(t *testing.T) string {
				return wantMeminfo(t, hostMeminfo, limited, containerLines, v1Slab,
					map[string]uint64{"SwapTotal": 262144, "SwapFree": 261120})
			},
		},
		{
			name: "v1 memory-swap equal to memory: no swap",
			host: hostMeminfo, cgroups: v1(memV1("268435456\n", "268435456", "268435456\n")),
			want: func(t *testing.T) string {
				return wantMeminfo(t, hostMeminfo, limited, containerLines, v1Slab,
					map[string]uint64{"SwapTotal": 0, "SwapFree": 0})
			},
		},
		{
			name: "v1 without swap accounting: the host's swap lines",
			host: hostMeminfo,
			cgroups: func(t *testing.T) CgroupReader {
				files := memV1("268435456\n", "268435456", "")
				delete(files, "memory.memsw.limit_in_bytes")
				delete(files, "memory.memsw.usage_in_bytes")
				return v1(files)(t)
			},
			want: func(t *testing.T) string {
				return wantMeminfo(t, hostMeminfo, limited, containerLines, v1Slab)
			},
		},
		{
			name: "host without swap: SwapTotal 0 whatever the container's swap limit",
			host: hostMeminfoNoSwap, cgroups: v1(memV1("268435456\n", "268435456", "536870912\n")),
			want: func(t *testing.T) string {
				return wantMeminfo(t, hostMeminfoNoSwap, limited, map[string]uint64{"SwapTotal": 0, "SwapFree": 0})
			},
		},
		{
			name: "v2 memory.max and memory.swap.max, slab from memory.stat",
			host: hostMeminfo,
			cgroups: func(t *testing.T) CgroupReader {
				return cgroupV2(t, memV2("268435456\n", "134217728\n"))
			},
			want: func(t *testing.T) string {
				return wantMeminfo(t, hostMeminfo, limited, containerLines, v2Slab,
					map[string]uint64{"SwapTotal": 131072, "SwapFree": 129024})
			},
		},
		{
			name: "v2 max: host MemTotal and host swap size",
			host: hostMeminfo,
			cgroups: func(t *testing.T) CgroupReader {
				return cgroupV2(t, memV2("max\n", "max\n"))
			},
			want: func(t *testing.T) string {
				return wantMeminfo(t, hostMeminfo, containerLines, v2Slab, map[string]uint64{
					"MemTotal": 2000000, "MemFree": 1897600, "MemAvailable": 1913984,
					"SwapTotal": 1000000, "SwapFree": 997952,
				})
			},
		},
		{
			name: "hybrid host: v1 memory wins over the unified dir",
			host: hostMeminfo,
			cgroups: func(t *testing.T) CgroupReader {
				d := cgroupV1(t, map[string]map[string]string{"memory": memV1("268435456\n", "268435456", "536870912\n")})
				d[""] = cgroupV2(t, memV2("max\n", "max\n"))[""]
				return d
			},
			want: func(t *testing.T) string {
				return wantMeminfo(t, hostMeminfo, limited, containerLines, v1Slab,
					map[string]uint64{"SwapTotal": 262144, "SwapFree": 261120})
			},
		},
		{
			name: "no memory controller: the host's file",
			host: hostMeminfo,
			cgroups: func(t *testing.T) CgroupReader {
				return cgroupV1(t, map[string]map[string]string{"cpuset": {"cpuset.cpus": "0\n"}})
			},
			want: func(*testing.T) string { return hostMeminfo },
		},
		{
			name: "not registered: the host's file",
			host: hostMeminfo, cgroups: func(*testing.T) CgroupReader { return nil },
			want: func(*testing.T) string { return hostMeminfo },
		},
		{
			name: "cgroup removed: the host's file",
			host: hostMeminfo,
			cgroups: func(t *testing.T) CgroupReader {
				return CgroupDirs{"memory": filepath.Join(t.TempDir(), "gone")}
			},
			want: func(*testing.T) string { return hostMeminfo },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Container{ID: "c1", StartTime: now.Add(-time.Hour), Cgroups: tc.cgroups(t),
				Host: fakeProc(t, now, map[string]string{"meminfo": tc.host})}
			got, err := Meminfo{}.Content(c)
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.want(t); string(got) != want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestMeminfoRejectsGarbageInTheCgroup(t *testing.T) {
	files := memV1("268435456\n", "268435456", "536870912\n")
	files["memory.usage_in_bytes"] = "lots\n"
	c := Container{ID: "c1", Cgroups: cgroupV1(t, map[string]map[string]string{"memory": files}),
		Host: fakeProc(t, time.Now(), map[string]string{"meminfo": hostMeminfo})}
	if got, err := (Meminfo{}).Content(c); err == nil {
		t.Fatalf("got %q and no error for an unparsable usage", got)
	}
}

// kernelMeminfo is a /proc/meminfo printed by kernel 6.18 on our hosts.
const kernelMeminfo = "MemTotal:       24683620 kB\nMemFree:        22821132 kB\nMemAvailable:   24178136 kB\n" +
	"Buffers:           21804 kB\nCached:          1415552 kB\nSwapCached:            0 kB\n" +
	"Active(anon):       1544 kB\nInactive(file):   457200 kB\nSwapTotal:             0 kB\n" +
	"Committed_AS:     944164 kB\nVmallocTotal:   34359738367 kB\nShmemPmdMapped:        0 kB\n" +
	"DirectMap2M:    25137152 kB\n"

// TestMeminfoLineLayoutIsTheKernels re-prints every "kB" line of a kernel
// meminfo (the fixture and, when there is one, this host's) and expects the
// same bytes.
func TestMeminfoLineLayoutIsTheKernels(t *testing.T) {
	sources := map[string]string{"kernel 6.18 fixture": kernelMeminfo}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		sources["this host"] = string(b)
	}
	for name, src := range sources {
		for _, line := range strings.SplitAfter(src, "\n") {
			if !strings.HasSuffix(line, " kB\n") {
				continue
			}
			label, rest, _ := strings.Cut(line, ":")
			v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", name, line, err)
			}
			if got := string(appendMeminfoLine(nil, []byte(label), v)); got != line {
				t.Errorf("%s: re-printed %q as %q", name, line, got)
			}
		}
	}
}

// parseMeminfo reads a meminfo the way procps' library does: "Key: value"
// per line, value in kB.
func parseMeminfo(t *testing.T, b []byte) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var key string
		var v int64
		if _, err := fmt.Sscanf(sc.Text(), "%s %d", &key, &v); err != nil {
			t.Fatalf("line %q does not parse as \"Key: value\": %v", sc.Text(), err)
		}
		if !strings.HasSuffix(key, ":") {
			t.Fatalf("line %q: key without colon", sc.Text())
		}
		m[strings.TrimSuffix(key, ":")] = v
	}
	return m
}

// TestMeminfoFreeShowsTheContainersUsage parses the output as procps does
// and computes free's columns with procps 4's formula (used = total -
// available) and procps 3's (used = total - free - buffers - cache), for a
// limited container with a page cache.
func TestMeminfoFreeShowsTheContainersUsage(t *testing.T) {
	now := time.Now()
	c := Container{ID: "c1",
		Cgroups: cgroupV1(t, map[string]map[string]string{"memory": memV1("268435456\n", "268435456", "536870912\n")}),
		Host:    fakeProc(t, now, map[string]string{"meminfo": hostMeminfo})}
	b, err := Meminfo{}.Content(c)
	if err != nil {
		t.Fatal(err)
	}
	m := parseMeminfo(t, b)
	const usage, cache, inactiveFile, limit = 100 * 1024, 40 * 1024, 16 * 1024, 256 * 1024 // kB
	if m["MemTotal"] != limit {
		t.Errorf("total %d, want the limit %d", m["MemTotal"], limit)
	}
	if used := m["MemTotal"] - m["MemAvailable"]; used != usage-inactiveFile {
		t.Errorf("procps 4 used %d kB, want the working set %d", used, usage-inactiveFile)
	}
	buffCache := m["Buffers"] + m["Cached"] + m["SReclaimable"]
	if used := m["MemTotal"] - m["MemFree"] - buffCache; used != usage-cache {
		t.Errorf("procps 3 used %d kB, want usage minus cache %d", used, usage-cache)
	}
	if m["MemFree"]+buffCache > m["MemTotal"] || m["MemAvailable"] > m["MemTotal"] || m["MemFree"] > m["MemAvailable"] {
		t.Errorf("inconsistent: %v", m)
	}
	if m["SwapTotal"]-m["SwapFree"] != 1024 {
		t.Errorf("swap used %d kB, want 1024", m["SwapTotal"]-m["SwapFree"])
	}
}

// TestMeminfoReadByProcpsFree bind-mounts the content over /proc/meminfo in
// a private mount namespace and runs the real free(1).
func TestMeminfoReadByProcpsFree(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a mount namespace")
	}
	free, err := exec.LookPath("free")
	if err != nil {
		t.Skip("no free(1)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare(1)")
	}
	c := Container{ID: "c1",
		Cgroups: cgroupV1(t, map[string]map[string]string{"memory": memV1("268435456\n", "268435456", "536870912\n")}),
		Host:    fakeProc(t, time.Now(), map[string]string{"meminfo": hostMeminfo})}
	b, err := Meminfo{}.Content(c)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(p, b, 0o444); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(unshare, "-m", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" /proc/meminfo && exec "$2" -k`, "sh", p, free).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// procps 3 and 4 both print total and free; used differs by version
	// (see TestMeminfoFreeShowsTheContainersUsage).
	var total, used, freeKB int64
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Mem:") {
			fmt.Sscanf(line, "Mem: %d %d %d", &total, &used, &freeKB)
		}
	}
	if total != 262144 || freeKB != 159744 || (used != 86016 && used != 61440) {
		t.Fatalf("free -k shows total %d used %d free %d, want 262144, 86016 (procps 4) or 61440 (procps 3), 159744:\n%s",
			total, used, freeKB, out)
	}
}
