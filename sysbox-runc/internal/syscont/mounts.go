package syscont

import (
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// stepMounts shapes the container's mounts:
//   - /sys/fs/cgroup read-write (Docker sends it "ro"), so that Docker or systemd inside can
//     manage sub-cgroups once the runtime has delegated the container's cgroups to its root;
//     added when missing;
//   - /dev/null bound at /dev/kmsg (systemd-journald and dmesg open it; the real one is the
//     host's kernel log, not the container's business);
//   - the virtual files that libcontainer accepts as spec mounts (SpecMountable), bound at
//     their destination;
//   - the special mounts from sysbox-mgr, unless the user already mounts something at that
//     destination (the user's mount wins);
//   - for an init entrypoint (systemd): tmpfs at /run and /run/lock and container=private-users
//     in the environment;
//   - host-dir bind mounts ID-mapped to the container's range (see idmapBindMounts).
//
// A mount is never added where the spec already mounts something at the same destination.
func stepMounts(s *specs.Spec, o Options, in Inputs) error {
	cgroupRW(s)
	if !slices.ContainsFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool { return cleanDest(d.Path) == "/dev/kmsg" }) {
		// (unless the user passed the real one with --device: theirs wins)
		addMount(s, specs.Mount{
			Destination: "/dev/kmsg", Type: "bind", Source: "/dev/null",
			Options: []string{"bind", "nosuid", "noexec", "rw"},
		})
	}
	for _, vf := range in.VirtualFiles {
		if !SpecMountable(vf.Dest) {
			continue
		}
		addMount(s, specs.Mount{
			Destination: vf.Dest, Type: "bind", Source: vf.Source,
			Options: virtualFileOptions(vf.Dest),
		})
	}
	for _, m := range in.SpecialMounts {
		m.Options = slices.Clone(m.Options)
		m.UIDMappings, m.GIDMappings = slices.Clone(m.UIDMappings), slices.Clone(m.GIDMappings)
		addMount(s, m)
	}
	if IsInitEntrypoint(s.Process.Args) {
		addMount(s, specs.Mount{
			Destination: "/run", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "nodev", "mode=755", "size=64m"},
		})
		addMount(s, specs.Mount{
			Destination: "/run/lock", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "nodev", "noexec", "mode=1777", "size=4m"},
		})
		if !slices.ContainsFunc(s.Process.Env, func(e string) bool { return strings.HasPrefix(e, "container=") }) {
			s.Process.Env = append(s.Process.Env, "container=private-users")
		}
	}
	idmapBindMounts(s, o, in)
	return nil
}

// cgroupRW makes the cgroup filesystem at /sys/fs/cgroup read-write, adding it when the spec
// has none.
func cgroupRW(s *specs.Spec) {
	for i, m := range s.Mounts {
		if cleanDest(m.Destination) != "/sys/fs/cgroup" {
			continue
		}
		if m.Type == "cgroup" || m.Type == "cgroup2" {
			s.Mounts[i].Options = setRO(m.Options, false)
		}
		return // a user's own mount there (e.g. a bind) is left alone
	}
	addMount(s, specs.Mount{
		Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
		Options: []string{"nosuid", "noexec", "nodev", "relatime", "rw"},
	})
}

// SpecMountable reports whether libcontainer accepts a spec mount at dest. It refuses every
// destination inside /proc except a short list of files (those lxcfs emulates, plus two
// sysctls); a virtual file elsewhere under /proc (e.g. /proc/sys) must be attached by the
// caller after libcontainer has created the container.
func SpecMountable(dest string) bool {
	d := cleanDest(dest)
	if !isUnder(d, "/proc") {
		return true
	}
	switch d {
	case "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
		"/proc/uptime", "/proc/loadavg", "/proc/slabinfo",
		"/proc/sys/kernel/ns_last_pid", "/proc/sys/crypto/fips_enabled":
		return true
	}
	return false
}

// DeferredVirtualFiles returns the virtual files Transform does not put in the spec because
// libcontainer refuses them as spec mounts; the caller attaches them itself.
func DeferredVirtualFiles(vfs []VirtualFile) []VirtualFile {
	var out []VirtualFile
	for _, vf := range vfs {
		if !SpecMountable(vf.Dest) {
			out = append(out, vf)
		}
	}
	return out
}

// virtualFileOptions: sysbox-fs serves the files; the kernel's FUSE mount has nosuid and
// nodev set and, as seen from the container's user namespace, those flags are locked.
// libcontainer bind-mounts, then remounts with exactly the flags listed here; naming the
// locked ones saves it a failed remount and a retry. Files that are read-only by nature
// (/proc statistics, /sys/devices attributes) are mounted "ro", so a write fails with EROFS
// before reaching sysbox-fs; the rest (/proc/sys values, module parameters) are "rw" so that
// sysbox-fs can keep per-container values.
func virtualFileOptions(dest string) []string {
	opts := []string{"bind", "nosuid", "nodev", "noexec"}
	d := cleanDest(dest)
	if (isUnder(d, "/proc") && !isUnder(d, "/proc/sys")) || isUnder(d, "/sys/devices") {
		return append(opts, "ro")
	}
	return append(opts, "rw")
}

// IsInitEntrypoint reports whether the container's entrypoint is an init system: its
// program (args[0], looking through a docker-init/tini wrapper) is named init (/sbin/init,
// which on systemd distributions points to systemd) or systemd (/lib/systemd/systemd,
// /usr/lib/systemd/systemd). The name decides, without looking into the image: the tmpfs
// mounts and the environment variable added for an init are harmless to any other init.
func IsInitEntrypoint(args []string) bool {
	for len(args) > 0 {
		switch filepath.Base(args[0]) {
		case "init", "systemd":
			return true
		case "docker-init", "tini", "tini-static":
			args = args[1:]
			for len(args) > 0 && strings.HasPrefix(args[0], "-") {
				dashes := args[0] == "--"
				args = args[1:]
				if dashes {
					break
				}
			}
		default:
			return false
		}
	}
	return false
}

// addMount adds m unless the spec already mounts something at its destination. It goes
// before the first mount below its destination, so a parent is always mounted before its
// children (libcontainer mounts in spec order); otherwise at the end.
func addMount(s *specs.Spec, m specs.Mount) bool {
	dest := cleanDest(m.Destination)
	for _, e := range s.Mounts {
		if cleanDest(e.Destination) == dest {
			return false
		}
	}
	at := len(s.Mounts)
	for i, e := range s.Mounts {
		if d := cleanDest(e.Destination); d != dest && isUnder(d, dest) {
			at = i
			break
		}
	}
	s.Mounts = slices.Insert(s.Mounts, at, m)
	return true
}

// idmapBindMounts gives bind mounts of host directories and files (Docker's -v, and its
// /etc/hosts, /etc/hostname, /etc/resolv.conf) mount-level uid/gid mappings equal to the
// container's, so that host root's files show as root inside the container and files the
// container's root creates are stored as host root's. libcontainer turns mount mappings
// into an open_tree clone with MOUNT_ATTR_IDMAP. "idmap" is added too: it applies the
// mapping to the top mount only, also for an rbind ("ridmap" would map every submount and
// fail the whole mount with EINVAL when any of them lives on a filesystem without ID-mapped
// mount support, e.g. FUSE or overlay, which IDMappable cannot see). Left alone:
//   - sources under /proc, /sys and /dev (kernel filesystems; /dev/null at /dev/kmsg);
//   - the virtual files (FUSE: cannot be ID-mapped) and the special mounts (their host
//     dirs are owned by the container's range already);
//   - SYSBOX_SKIP_UID_SHIFT paths (by destination or source, the path itself or below);
//   - mounts that already have mappings (the engine's or a previous pass);
//   - everything when the engine supplied the container's mappings (o.EngineIDMappings):
//     with Docker's userns-remap, Docker chowns its own files (/etc/hosts...) to the
//     remapped range and volumes are the user's business, as with any remapped container;
//     ID-mapping those would shift the already-shifted files out of the container's range;
//   - sources whose filesystem does not support ID-mapped mounts (in.IDMappable).
func idmapBindMounts(s *specs.Spec, o Options, in Inputs) {
	if o.EngineIDMappings || in.IDMappable == nil || len(s.Linux.UIDMappings) == 0 || len(s.Linux.GIDMappings) == 0 {
		return
	}
	for i, m := range s.Mounts {
		if !isBindMount(m) || len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 || !filepath.IsAbs(m.Source) {
			continue
		}
		src := filepath.Clean(m.Source)
		if isUnder(src, "/proc") || isUnder(src, "/sys") || isUnder(src, "/dev") {
			continue
		}
		if isVirtualFileSource(src, in.VirtualFiles) || isSpecialMount(m, in.SpecialMounts) {
			continue
		}
		if slices.ContainsFunc(o.SkipUIDShift, func(p string) bool {
			return isUnder(cleanDest(m.Destination), p) || isUnder(src, p)
		}) {
			continue
		}
		if !in.IDMappable(m.Source) {
			continue
		}
		opts := slices.Clone(m.Options)
		if !slices.Contains(opts, "bind") && !slices.Contains(opts, "rbind") {
			opts = append(opts, "bind") // type "bind" alone is not a bind mount to libcontainer
		}
		if !slices.Contains(opts, "idmap") && !slices.Contains(opts, "ridmap") {
			opts = append(opts, "idmap")
		}
		s.Mounts[i].Options = opts
		s.Mounts[i].UIDMappings = slices.Clone(s.Linux.UIDMappings)
		s.Mounts[i].GIDMappings = slices.Clone(s.Linux.GIDMappings)
	}
}

func isBindMount(m specs.Mount) bool {
	return m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
}

func isVirtualFileSource(src string, vfs []VirtualFile) bool {
	return slices.ContainsFunc(vfs, func(vf VirtualFile) bool {
		return vf.Source != "" && isUnder(src, filepath.Clean(vf.Source))
	})
}

func isSpecialMount(m specs.Mount, special []specs.Mount) bool {
	return slices.ContainsFunc(special, func(sm specs.Mount) bool {
		return cleanDest(sm.Destination) == cleanDest(m.Destination) && filepath.Clean(sm.Source) == filepath.Clean(m.Source)
	})
}

// cleanDest cleans a container path; relative ones (deprecated) count from /.
func cleanDest(p string) string {
	return filepath.Clean("/" + p)
}

// isUnder reports whether p is dir or lies below it (both clean and absolute).
func isUnder(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}
