package syscont

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// stepPaths trims linux.readonlyPaths and linux.maskedPaths. libcontainer applies both
// after all mounts: a read-only path is bind-remounted read-only, a masked one is covered
// with /dev/null (files) or an empty read-only tmpfs (directories). Removed:
//   - /proc/sys from the read-only paths: Docker, systemd and Kubernetes inside write
//     sysctls (ip_forward, bridge-nf-call-iptables, kernel.keys.*, ...). The user namespace
//     already protects the host: the kernel lets container root write only the sysctls that
//     belong to the container's own namespaces (net.*, ipc, uts, user.*); the global ones are
//     owned by the host's root and refuse writes (or are emulated by sysbox-fs).
//   - every virtual file's destination (and anything below it) from both lists: masking
//     would hide the virtual file behind /dev/null or a tmpfs, and remounting it read-only
//     would refuse the writes sysbox-fs emulates.
//
// Kept, because the user namespace does not make them harmless or useless to hide:
// /proc/kcore, /proc/keys (host-wide keyring details),
// /proc/timer_list, /proc/sched_debug, /proc/latency_stats (host-wide data),
// /proc/acpi, /proc/asound, /proc/scsi, /sys/firmware (host hardware), and the read-only
// /proc/bus, /proc/fs, /proc/irq, /proc/sysrq-trigger (host-wide controls).
func stepPaths(s *specs.Spec, _ Options, in Inputs) error {
	unmask := func(p string) bool {
		d := cleanDest(p)
		return slices.ContainsFunc(in.VirtualFiles, func(vf VirtualFile) bool { return isUnder(d, cleanDest(vf.Dest)) })
	}
	s.Linux.ReadonlyPaths = slices.DeleteFunc(s.Linux.ReadonlyPaths, func(p string) bool {
		return cleanDest(p) == "/proc/sys" || unmask(p)
	})
	s.Linux.MaskedPaths = slices.DeleteFunc(s.Linux.MaskedPaths, unmask)
	return nil
}
