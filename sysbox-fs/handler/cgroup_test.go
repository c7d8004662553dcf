package handler

import (
	"errors"
	"testing"
	"time"
)

func TestCountCPUList(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"0\n", 1, false},
		{"0-3\n", 4, false},
		{"0-3,8,10-11", 7, false},
		{"", 0, false},
		{"\n", 0, false},
		{"3-1", 0, true},
		{"a", 0, true},
		{"0-", 0, true},
		{"-1", 0, true},
	}
	for _, tc := range tests {
		got, err := CountCPUList(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("CountCPUList(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestCPUUsageReadsV1ThenV2(t *testing.T) {
	tests := []struct {
		name    string
		cgroups CgroupReader
		want    time.Duration
		wantErr error
	}{
		{
			name:    "v1 cpuacct.usage in ns",
			cgroups: cgroupV1(t, map[string]map[string]string{"cpuacct": {"cpuacct.usage": "1234567890\n"}}),
			want:    1234567890,
		},
		{
			name:    "v2 cpu.stat usage_usec",
			cgroups: cgroupV2(t, map[string]string{"cpu.stat": "usage_usec 1500\nuser_usec 1000\n"}),
			want:    1500 * time.Microsecond,
		},
		{
			name:    "neither",
			cgroups: CgroupDirs{},
			wantErr: ErrNoController,
		},
		{
			name:    "not registered",
			cgroups: nil,
			wantErr: ErrNoController,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Container{ID: "c1", Cgroups: tc.cgroups}.CPUUsage()
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestCPUUsageRejectsGarbage(t *testing.T) {
	for name, cg := range map[string]CgroupReader{
		"v1": cgroupV1(t, map[string]map[string]string{"cpuacct": {"cpuacct.usage": "lots\n"}}),
		"v2": cgroupV2(t, map[string]string{"cpu.stat": "user_usec 1000\n"}),
	} {
		if got, err := (Container{ID: "c1", Cgroups: cg}).CPUUsage(); err == nil {
			t.Errorf("%s: got %v, want an error", name, got)
		}
	}
}

func TestHostOnlineCPUsCountsCPULines(t *testing.T) {
	h := fakeHost(t, time.Now(), 12)
	n, err := h.OnlineCPUs()
	if err != nil || n != 12 {
		t.Fatalf("got %d, %v; want 12", n, err)
	}
}
