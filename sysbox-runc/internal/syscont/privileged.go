package syscont

import (
	"path/filepath"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Docker's default masked and read-only paths for a non-privileged container (Docker
// 20.10, measured on this host), restored for a --privileged spec.
func defaultMaskedPaths() []string {
	return []string{
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware",
	}
}

func defaultReadonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

// IsPrivileged reports whether s looks like what `docker run --privileged` produces: a
// device cgroup rule that allows every device, no seccomp profile and no masked paths.
func IsPrivileged(s *specs.Spec) bool {
	if s.Linux == nil || s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) > 0 || s.Linux.Resources == nil {
		return false
	}
	return slices.ContainsFunc(s.Linux.Resources.Devices, allowsAllDevices)
}

func allowsAllDevices(d specs.LinuxDeviceCgroup) bool {
	return d.Allow && (d.Type == "" || d.Type == "a") && d.Major == nil && d.Minor == nil
}

// stepPrivileged runs a --privileged spec as an ordinary system container (see the package
// documentation for why it is not refused): host devices removed, the device cgroup back to
// deny-all (libcontainer appends its standard allowed devices), Docker's default masked and
// read-only paths restored, /sys read-only again. It warns through in.Warn.
func stepPrivileged(s *specs.Spec, _ Options, in Inputs) error {
	if !IsPrivileged(s) {
		return nil
	}
	n := len(s.Linux.Devices)
	s.Linux.Devices = nil
	s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	s.Linux.MaskedPaths = defaultMaskedPaths()
	s.Linux.ReadonlyPaths = defaultReadonlyPaths()
	for i, m := range s.Mounts {
		if m.Type == "sysfs" && filepath.Clean(m.Destination) == "/sys" {
			s.Mounts[i].Options = setRO(m.Options, true)
		}
	}
	in.warn("--privileged is not supported by system containers and was ignored: running as an ordinary system container "+
		"(root has all capabilities inside its user namespace; %d host devices not exposed, Docker's default masked and read-only paths restored)", n)
	return nil
}

// setRO returns opts with "ro"/"rw" removed and the one wanted appended.
func setRO(opts []string, ro bool) []string {
	out := slices.DeleteFunc(slices.Clone(opts), func(o string) bool { return o == "ro" || o == "rw" })
	if ro {
		return append(out, "ro")
	}
	return append(out, "rw")
}
