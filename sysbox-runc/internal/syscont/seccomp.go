package syscont

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// SystemSyscalls returns the syscalls a system container always allows, whatever the
// engine's seccomp profile says. The profile Docker sends is already resolved for the
// container's capabilities; for a container without CAP_SYS_ADMIN (Docker's default),
// Docker 20.10's default profile (measured on this host) denies mount, umount2, pivot_root,
// keyctl, add_key, request_key, setns, unshare, mount_setattr, open_tree, move_mount,
// fsopen, fsconfig, fsmount, fspick, quotactl and syslog; allows clone only without
// namespace flags (an argument filter), fails clone3 with ENOSYS, and allows personality
// only for five argument values. sethostname, setdomainname and close_range are allowed
// already; they are listed so that no profile can take them away. umount is not a syscall
// on x86-64 (libcontainer skips names the architecture lacks).
//
// These are what system software does: Docker, containerd and systemd mount filesystems,
// create namespaces and pivot_root, systemd and docker use the kernel keyring, systemd
// reads the kernel log (syslog), and new mount API calls are made by recent util-linux and
// runc. The user namespace confines all of them to the container.
func SystemSyscalls() []string {
	return []string{
		"mount", "umount", "umount2", "pivot_root",
		"keyctl", "add_key", "request_key",
		"setns", "unshare", "clone", "clone3",
		"sethostname", "setdomainname",
		"close_range",
		"mount_setattr", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
		"quotactl", "syslog", "personality",
	}
}

// stepSeccomp keeps the engine's seccomp profile but makes SystemSyscalls allowed
// unconditionally. For each of those names, a rule that allows it (ALLOW or LOG), or hands it
// to a seccomp agent (NOTIFY), without argument conditions is kept; the name is removed from
// every other rule (conditional or denying), and the names not kept are added in one ALLOW
// rule. Everything else the profile denies stays denied. A spec without a profile gets none.
func stepSeccomp(s *specs.Spec, _ Options, _ Inputs) error {
	sc := s.Linux.Seccomp
	if sc == nil {
		return nil
	}
	want := SystemSyscalls()
	covered := make(map[string]bool)
	var rules []specs.LinuxSyscall
	for _, r := range sc.Syscalls {
		keep := len(r.Args) == 0 && (r.Action == specs.ActAllow || r.Action == specs.ActLog || r.Action == specs.ActNotify)
		if keep {
			for _, n := range r.Names {
				if slices.Contains(want, n) {
					covered[n] = true
				}
			}
			rules = append(rules, r)
			continue
		}
		names := slices.DeleteFunc(slices.Clone(r.Names), func(n string) bool { return slices.Contains(want, n) })
		if len(names) == 0 {
			continue
		}
		r.Names = names
		rules = append(rules, r)
	}
	var add []string
	for _, n := range want {
		if !covered[n] {
			add = append(add, n)
		}
	}
	if len(add) > 0 {
		rules = append(rules, specs.LinuxSyscall{Names: add, Action: specs.ActAllow})
	}
	sc.Syscalls = rules
	return nil
}
