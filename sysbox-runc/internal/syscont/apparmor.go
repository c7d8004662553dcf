package syscont

import (
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// AppArmorProfile is the AppArmor profile system containers run under on hosts with
// AppArmor (packaging/apparmor/sysbox-container, loaded by the package and by the
// daemons' units). It allows what system software inside needs (mounts, pivot_root, unix
// sockets, ptrace and signals among the container's own processes) and denies the kernel
// interfaces no container should touch.
const AppArmorProfile = "sysbox-container"

// engineDefaultProfile reports whether profile is the one an engine applies when the user
// chose none: Docker's docker-default, containerd CRI's cri-containerd.apparmor.d, Podman's
// containers-default-<version>. Those forbid most mounts, so inner Docker and systemd fail
// under them.
func engineDefaultProfile(profile string) bool {
	return profile == "docker-default" || profile == "cri-containerd.apparmor.d" ||
		strings.HasPrefix(profile, "containers-default-")
}

// AppArmorFor returns the AppArmor profile a system-container process gets when the engine
// asked for requested. loaded is AppArmorProfile when that profile is loaded on the host,
// "" otherwise. An engine default becomes our profile; a profile the user chose
// (--security-opt apparmor=NAME, including unconfined) is kept. When our profile is not
// loaded, the engine's default is kept and warn is told why inner Docker and systemd will
// be restricted.
func AppArmorFor(requested, loaded string, warn func(string)) string {
	if !engineDefaultProfile(requested) {
		return requested
	}
	if loaded == "" {
		if warn != nil {
			warn("AppArmor profile " + AppArmorProfile + " is not loaded: the container keeps the engine's " +
				requested + ", which refuses the mounts inner Docker and systemd need (load it: apparmor_parser -r -W /etc/apparmor.d/" +
				AppArmorProfile + ", or start sysbox-mgr.service, which loads it)")
		}
		return requested
	}
	return loaded
}

// stepAppArmor replaces the engine's default AppArmor profile with ours.
func stepAppArmor(s *specs.Spec, _ Options, in Inputs) error {
	s.Process.ApparmorProfile = AppArmorFor(s.Process.ApparmorProfile, in.AppArmorProfile, in.Warn)
	return nil
}
