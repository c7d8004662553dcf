package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer/configs"
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

func TestResourcesFromValuesTakesEveryRuncUpdateFlag(t *testing.T) {
	values := map[string]string{
		"blkio-weight": "300", "cpu-period": "100000", "cpu-quota": "50000", "cpu-burst": "1000",
		"cpu-share": "512", "cpu-rt-period": "1000000", "cpu-rt-runtime": "950000", "cpu-idle": "1",
		"cpuset-cpus": "0-1", "cpuset-mems": "0", "kernel-memory": "10m", "kernel-memory-tcp": "1m",
		"memory": "256m", "memory-reservation": "128m", "memory-swap": "-1", "pids-limit": "42",
	}
	r := &specs.LinuxResources{}
	if err := resourcesFromValues(r, values); err != nil {
		t.Fatal(err)
	}
	dst := cgroups.Resources{}
	if err := applyResources(&dst, r); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		flag      string
		got, want any
	}{
		{"blkio-weight", dst.BlkioWeight, uint16(300)},
		{"cpu-period", dst.CpuPeriod, uint64(100000)},
		{"cpu-quota", dst.CpuQuota, int64(50000)},
		{"cpu-burst", deref(dst.CpuBurst), uint64(1000)},
		{"cpu-share", dst.CpuShares, uint64(512)},
		{"cpu-rt-period", dst.CpuRtPeriod, uint64(1000000)},
		{"cpu-rt-runtime", dst.CpuRtRuntime, int64(950000)},
		{"cpu-idle", deref(dst.CPUIdle), int64(1)},
		{"cpuset-cpus", dst.CpusetCpus, "0-1"},
		{"cpuset-mems", dst.CpusetMems, "0"},
		{"memory", dst.Memory, int64(256 << 20)},
		{"memory-reservation", dst.MemoryReservation, int64(128 << 20)},
		{"memory-swap", dst.MemorySwap, int64(-1)},
		{"pids-limit", deref(dst.PidsLimit), int64(42)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("--%s: got %v, want %v", c.flag, c.got, c.want)
		}
	}
	if r.Memory.Kernel == nil || r.Memory.KernelTCP == nil { //nolint:staticcheck // obsolete, still parsed
		t.Error("--kernel-memory/--kernel-memory-tcp not taken (runc accepts and ignores them)")
	}
}

func TestResourcesFromValuesRejectsBadValues(t *testing.T) {
	for flag, bad := range map[string]string{
		"blkio-weight": "5", "cpu-period": "-3", "cpu-share": "many", "memory": "lots", "pids-limit": "1.5",
	} {
		err := resourcesFromValues(&specs.LinuxResources{}, map[string]string{flag: bad})
		if err == nil || !strings.Contains(err.Error(), "--"+flag) {
			t.Errorf("--%s %q: err = %v, want an error naming the flag", flag, bad, err)
		}
	}
}

func TestApplyResourcesUpsertsPerDeviceBlkioLimits(t *testing.T) {
	w := uint16(200)
	dst := cgroups.Resources{
		BlkioThrottleReadBpsDevice: []*cgroups.ThrottleDevice{cgroups.NewThrottleDevice(8, 0, 1000)},
	}
	r := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
		WeightDevice:            []specs.LinuxWeightDevice{weightDev(8, 0, w)},
		ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{throttleDev(8, 0, 5000), throttleDev(8, 16, 7000)},
		ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{throttleDev(8, 0, 300)},
	}}
	if err := applyResources(&dst, r); err != nil {
		t.Fatal(err)
	}
	if len(dst.BlkioWeightDevice) != 1 || dst.BlkioWeightDevice[0].Weight != 200 {
		t.Errorf("weight devices = %+v, want 8:0 weight 200", dst.BlkioWeightDevice)
	}
	rb := dst.BlkioThrottleReadBpsDevice
	if len(rb) != 2 || rb[0].Rate != 5000 || rb[1].Minor != 16 || rb[1].Rate != 7000 {
		t.Errorf("read bps = %v, want 8:0 changed to 5000 and 8:16 added at 7000", rb)
	}
	if wi := dst.BlkioThrottleWriteIOPSDevice; len(wi) != 1 || wi[0].Rate != 300 {
		t.Errorf("write iops = %v, want 8:0 300", wi)
	}
}

func TestApplyRdtNeedsTheHostFeatureAndAnRdtGroup(t *testing.T) {
	yes, no := func() bool { return true }, func() bool { return false }
	if err := applyRdt(&configs.Config{}, "L3:0=f", "", no, yes); err == nil || !strings.Contains(err.Error(), "--l3-cache-schema") {
		t.Errorf("CAT off: err = %v, want a refusal naming --l3-cache-schema", err)
	}
	if err := applyRdt(&configs.Config{}, "", "MB:0=50", yes, yes); !errors.Is(err, errNoRdt) {
		t.Errorf("no RDT group: err = %v, want errNoRdt", err)
	}
	c := &configs.Config{IntelRdt: &configs.IntelRdt{}}
	if err := applyRdt(c, "L3:0=f", "MB:0=50", yes, yes); err != nil || c.IntelRdt.L3CacheSchema != "L3:0=f" || c.IntelRdt.MemBwSchema != "MB:0=50" {
		t.Errorf("err = %v, rdt = %+v; want both schemas set", err, c.IntelRdt)
	}
}

func TestApplyResourcesCPUIdleWithoutSharesLeavesSharesUnwritten(t *testing.T) {
	idle, shares := int64(1), uint64(256)
	tests := []struct {
		name       string
		cpu        specs.LinuxCPU
		wantShares uint64
	}{
		{"idle alone: the old shares would be refused by the kernel", specs.LinuxCPU{Idle: &idle}, 0},
		{"idle with shares: both", specs.LinuxCPU{Idle: &idle, Shares: &shares}, 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := cgroups.Resources{CpuShares: 512}
			if err := applyResources(&dst, &specs.LinuxResources{CPU: &tt.cpu}); err != nil {
				t.Fatal(err)
			}
			if dst.CpuShares != tt.wantShares || dst.CPUIdle == nil || *dst.CPUIdle != 1 {
				t.Errorf("shares %d idle %v, want shares %d idle 1", dst.CpuShares, deref(dst.CPUIdle), tt.wantShares)
			}
		})
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// The spec's device types embed an unexported struct: set its fields.
func weightDev(major, minor int64, w uint16) specs.LinuxWeightDevice {
	d := specs.LinuxWeightDevice{Weight: &w}
	d.Major, d.Minor = major, minor
	return d
}

func throttleDev(major, minor int64, rate uint64) specs.LinuxThrottleDevice {
	d := specs.LinuxThrottleDevice{Rate: rate}
	d.Major, d.Minor = major, minor
	return d
}
