package handler

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// renumbered is cpuinfoBlock(host) shown as the container's CPU n.
func renumbered(host, n string) string {
	i, _ := strconv.Atoi(host)
	return strings.Replace(cpuinfoBlock(i), "processor\t: "+host+"\n", "processor\t: "+n+"\n", 1)
}

func TestCpuinfoContent(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	host4 := cpuinfoBlock(0) + cpuinfoBlock(1) + cpuinfoBlock(2) + cpuinfoBlock(3)
	tests := []struct {
		name    string
		host    string
		cgroups CgroupReader
		want    string
	}{
		{
			name:    "v1 cpuset.effective_cpus 1,3: host blocks 1 and 3 as processors 0 and 1",
			host:    host4,
			cgroups: cgroupV1(t, map[string]map[string]string{"cpuset": {"cpuset.effective_cpus": "1,3\n", "cpuset.cpus": "0-3\n"}}),
			want:    renumbered("1", "0") + renumbered("3", "1"),
		},
		{
			name:    "v1 empty effective_cpus: cpuset.cpus",
			host:    host4,
			cgroups: cgroupV1(t, map[string]map[string]string{"cpuset": {"cpuset.effective_cpus": "\n", "cpuset.cpus": "2-3\n"}}),
			want:    renumbered("2", "0") + renumbered("3", "1"),
		},
		{
			name:    "v2 cpuset.cpus.effective",
			host:    host4,
			cgroups: cgroupV2(t, map[string]string{"cpuset.cpus.effective": "2\n"}),
			want:    renumbered("2", "0"),
		},
		{
			name:    "cpuset CPU the host does not list (offline): left out",
			host:    host4,
			cgroups: cgroupV2(t, map[string]string{"cpuset.cpus.effective": "0,3,7\n"}),
			want:    cpuinfoBlock(0) + renumbered("3", "1"),
		},
		{
			name:    "no cpuset controller: every host CPU",
			host:    host4,
			cgroups: cgroupV1(t, map[string]map[string]string{"memory": {"memory.usage_in_bytes": "1\n"}}),
			want:    host4,
		},
		{
			name:    "not registered: every host CPU",
			host:    host4,
			cgroups: nil,
			want:    host4,
		},
		{
			name:    "blocks that are not a CPU's (arm32 Hardware trailer) kept in place",
			host:    cpuinfoBlock(0) + cpuinfoBlock(1) + "Hardware\t: BCM2835\nRevision\t: a02082\n\n",
			cgroups: cgroupV2(t, map[string]string{"cpuset.cpus.effective": "1\n"}),
			want:    renumbered("1", "0") + "Hardware\t: BCM2835\nRevision\t: a02082\n\n",
		},
		{
			name:    "a layout without processor blocks (s390x) is served as is",
			host:    "vendor_id       : IBM/S390\n# processors    : 2\nprocessor 0: version = FF\nprocessor 1: version = FF\n\ncpu number      : 0\n\n",
			cgroups: cgroupV2(t, map[string]string{"cpuset.cpus.effective": "1\n"}),
			want:    "vendor_id       : IBM/S390\n# processors    : 2\nprocessor 0: version = FF\nprocessor 1: version = FF\n\ncpu number      : 0\n\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"cpuinfo": tc.host, "stat": hostStat}
			c := Container{ID: "c1", Cgroups: tc.cgroups, Host: fakeProc(t, now, files)}
			got, err := NewCpuinfo("/proc").Content(c)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestCpuinfoRereadsTheHostFileAfterTheRefreshInterval(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := fakeProc(t, now, map[string]string{"cpuinfo": cpuinfoBlock(0), "stat": hostStat})
	clock := now
	h.Now = func() time.Time { return clock }
	c := Container{ID: "c1", Host: h, Cgroups: cgroupV2(t, map[string]string{"cpuset.cpus.effective": "0-1\n"})}
	ci := NewCpuinfo("/proc")
	read := func() string {
		t.Helper()
		b, err := ci.Content(c)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read(); got != cpuinfoBlock(0) {
		t.Fatalf("first read %q", got)
	}
	writeTree(t, h.ProcRoot, map[string]string{"cpuinfo": cpuinfoBlock(0) + cpuinfoBlock(1)})
	clock = now.Add(cpuinfoRefresh - time.Millisecond)
	if got := read(); got != cpuinfoBlock(0) {
		t.Fatalf("within the interval: %q, want the cached host file", got)
	}
	clock = now.Add(cpuinfoRefresh)
	if got := read(); got != cpuinfoBlock(0)+cpuinfoBlock(1) {
		t.Fatalf("after the interval: %q, want the new host file", got)
	}
}

func TestCpuinfoSizeBoundCoversTheContentOfAManyCPUHost(t *testing.T) {
	var host, stat strings.Builder
	stat.WriteString("cpu  1 1 1 1 0 0 0 0 0 0\n")
	for i := range 64 {
		host.WriteString(cpuinfoBlock(i))
		fmt.Fprintf(&stat, "cpu%d 1 1 1 1 0 0 0 0 0 0\n", i)
	}
	h := fakeProc(t, time.Now(), map[string]string{"cpuinfo": host.String(), "stat": stat.String()})
	ci := NewCpuinfo(h.ProcRoot)
	got, err := ci.Content(Container{ID: "c1", Host: h})
	if err != nil {
		t.Fatal(err)
	}
	bound := ci.SizeBound()
	if len(got) <= 4096 || bound < uint64(len(got)) || bound%4096 != 0 {
		t.Fatalf("content %d bytes, bound %d: want a page multiple covering a content over a page", len(got), bound)
	}
	// The handler in the default table bounds by the real host's cpuinfo.
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if sb := Default()["proc/cpuinfo"].(SizeBounder).SizeBound(); sb < uint64(len(b)) {
			t.Fatalf("default bound %d below this host's cpuinfo %d", sb, len(b))
		}
	}
	// No host file: still a page.
	if sb := NewCpuinfo(filepath.Join(t.TempDir(), "none")).SizeBound(); sb != 4096 {
		t.Fatalf("bound without a host file %d, want 4096", sb)
	}
}
