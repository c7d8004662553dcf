package syscont

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Inputs is what the runtime learned from the daemons and the host before Transform.
type Inputs struct {
	// HostUID, HostGID, Size: the lease from sysbox-mgr (ignored when the engine supplied
	// mappings).
	HostUID, HostGID, Size uint32
	// VirtualFiles from sysbox-fs, e.g. {Dest: "/proc/uptime", Source:
	// "/var/lib/sysboxfs/<id>/proc/uptime"}. Those libcontainer accepts as spec mounts
	// become bind mounts; the caller attaches the others itself (see DeferredVirtualFiles).
	VirtualFiles []VirtualFile
	// SpecialMounts from sysbox-mgr (e.g. a host dir bound at /var/lib/docker).
	SpecialMounts []specs.Mount
	// IDMappable reports whether a bind-mount source's filesystem supports ID-mapped
	// mounts. Nil means none does.
	IDMappable func(source string) bool
	// CallerOOMScoreAdj is the runtime's own /proc/self/oom_score_adj.
	CallerOOMScoreAdj int
	// KnownCaps are all capability names the kernel knows ("CAP_CHOWN", ...).
	KnownCaps []string
	// AppArmorProfile is AppArmorProfile when that profile is loaded on the host, ""
	// otherwise (no AppArmor, or the profile is missing).
	AppArmorProfile string
	// Warn is called for each warning worth logging (e.g. --privileged downgraded). Nil
	// drops them.
	Warn func(msg string)
}

// VirtualFile is a file or directory that sysbox-fs serves for the container.
type VirtualFile struct{ Dest, Source string }

func (in Inputs) warn(format string, args ...any) {
	if in.Warn != nil {
		in.Warn(fmt.Sprintf(format, args...))
	}
}

// step is one named pure transformation of the spec.
type step struct {
	name string
	fn   func(s *specs.Spec, o Options, in Inputs) error
}

// steps is the pipeline, in order. The order matters where noted:
//   - privileged first: it restores the masked/read-only paths that "paths" then trims;
//   - idmappings before sysctl and mounts: both use the container's mapping;
//   - mounts before paths: both look at the virtual files, paths must not re-mask them.
func steps() []step {
	return []step{
		{"privileged", stepPrivileged},
		{"namespaces", stepNamespaces},
		{"rootfs_propagation", stepRootfsPropagation},
		{"idmappings", stepIDMappings},
		{"sysctl", stepSysctl},
		{"capabilities", stepCapabilities},
		{"apparmor", stepAppArmor},
		{"seccomp_notify", stepSeccompNotify},
		{"seccomp", stepSeccomp},
		{"mounts", stepMounts},
		{"paths", stepPaths},
		{"oom_score_adj", stepOOMScoreAdj},
	}
}

// Steps returns the step names in the order Transform runs them (for logs and docs).
func Steps() []string {
	var names []string
	for _, st := range steps() {
		names = append(names, st.name)
	}
	return names
}

// Transform runs the pipeline over s in place. With o.SysContMode false it changes nothing.
// On error s may be partly transformed: callers transform a copy or give up on it.
func Transform(s *specs.Spec, o Options, in Inputs) error {
	if s == nil || s.Process == nil || s.Root == nil {
		return errors.New("transform: spec without process or root")
	}
	if !o.SysContMode {
		return nil
	}
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	for _, st := range steps() {
		if err := st.fn(s, o, in); err != nil {
			return fmt.Errorf("transform step %s: %w", st.name, err)
		}
	}
	return nil
}
