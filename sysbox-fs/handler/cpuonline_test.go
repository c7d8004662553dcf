package handler

import (
	"testing"
	"time"
)

func TestCPUOnlineContent(t *testing.T) {
	tests := []struct {
		name    string
		cgroups CgroupReader
		want    string
	}{
		{"v1 four cpus", cgroupV1(t, map[string]map[string]string{"cpuset": {"cpuset.effective_cpus": "4-7\n"}}), "0-3\n"},
		{"v1 one cpu, not cpu 0", cgroupV1(t, map[string]map[string]string{"cpuset": {"cpuset.cpus": "2\n"}}), "0\n"},
		{"v1 sparse list renumbered", cgroupV1(t, map[string]map[string]string{"cpuset": {"cpuset.effective_cpus": "0,2-3\n"}}), "0-2\n"},
		{"v2 cpuset.cpus.effective", cgroupV2(t, map[string]string{"cpuset.cpus.effective": "1,3\n"}), "0-1\n"},
		{"no cpuset: host online cpus", cgroupV1(t, map[string]map[string]string{"memory": {}}), "0-3\n"},
		{"not registered: host online cpus", nil, "0-3\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Container{ID: "c1", Cgroups: tc.cgroups, Host: fakeProc(t, time.Now(), map[string]string{"stat": hostStat})}
			got, err := CPUOnline{}.Content(c)
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{"0\n", []int{0}, false},
		{"3,0-1\n", []int{0, 1, 3}, false},
		{"0-2,1-3", []int{0, 1, 2, 3}, false},
		{"", nil, false},
		{"3-1", nil, true},
		{"0-100000", nil, true},
		{"x", nil, true},
	}
	for _, tc := range tests {
		got, err := ParseCPUList(tc.in)
		if (err != nil) != tc.wantErr || len(got) != len(tc.want) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ParseCPUList(%q) = %v, want %v", tc.in, got, tc.want)
			}
		}
	}
}
