package main

import (
	"testing"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestApplyResourcesChangesOnlyWhatIsSet(t *testing.T) {
	limit, quota, pids := int64(512<<20), int64(50000), int64(100)
	shares := uint64(512)
	tests := []struct {
		name string
		in   specs.LinuxResources
		want cgroups.Resources
	}{
		{"nothing set keeps everything", specs.LinuxResources{},
			cgroups.Resources{Memory: 256 << 20, CpuShares: 1024}},
		{"memory limit", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}},
			cgroups.Resources{Memory: 512 << 20, CpuShares: 1024}},
		{"cpu and pids", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &quota, Shares: &shares, Cpus: "0"}, Pids: &specs.LinuxPids{Limit: &pids}},
			cgroups.Resources{Memory: 256 << 20, CpuShares: 512, CpuQuota: 50000, CpusetCpus: "0", PidsLimit: &pids}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cgroups.Resources{Memory: 256 << 20, CpuShares: 1024}
			if err := applyResources(&got, &tt.in); err != nil {
				t.Fatal(err)
			}
			if got.Memory != tt.want.Memory || got.CpuShares != tt.want.CpuShares || got.CpuQuota != tt.want.CpuQuota ||
				got.CpusetCpus != tt.want.CpusetCpus || (got.PidsLimit == nil) != (tt.want.PidsLimit == nil) ||
				(got.PidsLimit != nil && *got.PidsLimit != *tt.want.PidsLimit) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
