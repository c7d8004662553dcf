package syscont

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// stepRootfsPropagation hands libcontainer "slave" in place of "unbindable" and "rslave"
// (its default) in place of "runbindable"; the caller applies the requested one itself once
// the container is set up (DeferredRootPropagation).
//
// Why: libcontainer applies linux.rootfsPropagation twice, first to the copy of the host's
// root mount in the container's new mount namespace (before any spec mount), then to the
// container's root after pivot_root. It resets the mount holding the rootfs to private or
// slave in between, so with runc and a rootfs directory on the host's root filesystem a bind
// from there still works. A system container's rootfs is a mount of its own (the ID-mapped
// staging mount), so the reset stops there: the host's root mount (and, for "runbindable",
// every host mount such as /dev) stays unbindable, and binding from it fails with EINVAL
// (mount(2)). That breaks the mounts every system container gets from host paths: the
// sysbox-mgr special dirs (/var/lib/docker ..., under /var/lib/sysbox) and /dev/null at
// /dev/kmsg. With "slave"/"rslave" the binds work, and making the container's root
// unbindable afterwards gives runc's end state: the root mount (for "runbindable", every
// mount of the container) is unbindable, which also cuts it from any master, so it
// receives no propagation. Slave rather than private: libcontainer refuses a private root
// propagation with --no-pivot.
func stepRootfsPropagation(s *specs.Spec, _ Options, _ Inputs) error {
	switch s.Linux.RootfsPropagation {
	case "unbindable":
		s.Linux.RootfsPropagation = "slave"
	case "runbindable":
		s.Linux.RootfsPropagation = "rslave"
	}
	return nil
}

// DeferredRootPropagation returns the mount propagation flags the caller must apply to the
// container's root mount after libcontainer has created the container and before its
// process starts, because Transform replaced them (see stepRootfsPropagation):
// MS_UNBINDABLE for "unbindable", MS_UNBINDABLE|MS_REC (every mount below the root too) for
// "runbindable", 0 for anything else. Call it on the spec before Transform, and only for a
// system container (with SysContMode false Transform changes nothing and libcontainer
// applies the spec's value).
func DeferredRootPropagation(s *specs.Spec) uintptr {
	if s == nil || s.Linux == nil {
		return 0
	}
	switch s.Linux.RootfsPropagation {
	case "unbindable":
		return unix.MS_UNBINDABLE
	case "runbindable":
		return unix.MS_UNBINDABLE | unix.MS_REC
	}
	return 0
}
