package syscont

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// kernelCaps are the capability names of kernel 6.18 (cap_last_cap = 40).
func kernelCaps() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
		"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
		"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
		"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
		"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
		"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
		"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
		"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
		"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
	}
}

const testContainerID = "0123456789abcdef"

// testVirtualFiles are what sysbox-fs serves (docs/design.md, "sysbox-fs").
func testVirtualFiles() []VirtualFile {
	var vfs []VirtualFile
	for _, d := range []string{
		"/proc/cpuinfo", "/proc/diskstats", "/proc/loadavg", "/proc/meminfo", "/proc/stat",
		"/proc/swaps", "/proc/uptime", "/proc/sys",
		"/sys/devices/system/cpu/online", "/sys/devices/virtual/dmi/id/product_uuid",
		"/sys/module/nf_conntrack/parameters/hashsize",
	} {
		vfs = append(vfs, VirtualFile{Dest: d, Source: "/var/lib/sysboxfs/" + testContainerID + d})
	}
	return vfs
}

func testSpecialMounts() []specs.Mount {
	return []specs.Mount{{
		Destination: "/var/lib/docker", Type: "bind",
		Source:  "/var/lib/sysbox/docker/" + testContainerID,
		Options: []string{"rbind", "rprivate"},
	}}
}

// testInputs is the fixed input of the golden tests: a lease at 165536, sysbox-fs files,
// a special dir for /var/lib/docker, every host dir ID-mappable except sysbox-fs's FUSE tree.
// Warnings go to *warns when warns is not nil.
func testInputs(warns *[]string) Inputs {
	return Inputs{
		HostUID: 165536, HostGID: 165536, Size: 65536,
		VirtualFiles:  testVirtualFiles(),
		SpecialMounts: testSpecialMounts(),
		IDMappable: func(src string) bool {
			return !strings.HasPrefix(src, "/var/lib/sysboxfs/")
		},
		CallerOOMScoreAdj: 0,
		KnownCaps:         kernelCaps(),
		Warn: func(msg string) {
			if warns != nil {
				*warns = append(*warns, msg)
			}
		},
	}
}

func loadSpec(t *testing.T, path string) *specs.Spec {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &s
}

// inputSpecs lists testdata/*.json without the golden outputs.
func inputSpecs(t *testing.T) []string {
	t.Helper()
	all, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var in []string
	for _, p := range all {
		if !strings.HasSuffix(p, ".golden.json") {
			in = append(in, p)
		}
	}
	if len(in) == 0 {
		t.Fatal("no test specs in testdata")
	}
	return in
}

func cloneSpec(t *testing.T, s *specs.Spec) *specs.Spec {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var c specs.Spec
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func specJSON(t *testing.T, s *specs.Spec) []byte {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// minimalSpec is a Docker-like spec reduced to what the unit tests need.
func minimalSpec() *specs.Spec {
	zero := 0
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args:         []string{"/bin/sh"},
			Env:          []string{"PATH=/usr/bin:/bin"},
			Cwd:          "/",
			OOMScoreAdj:  &zero,
			Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN"}, Effective: []string{"CAP_CHOWN"}, Permitted: []string{"CAP_CHOWN"}},
		},
		Root: &specs.Root{Path: "/rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
			},
			Resources:     &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			MaskedPaths:   defaultMaskedPaths(),
			ReadonlyPaths: defaultReadonlyPaths(),
		},
	}
}

func findMount(s *specs.Spec, dest string) (specs.Mount, bool) {
	for _, m := range s.Mounts {
		if m.Destination == dest {
			return m, true
		}
	}
	return specs.Mount{}, false
}
