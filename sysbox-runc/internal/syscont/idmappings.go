package syscont

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// stepIDMappings gives the container's user namespace its uid/gid maps: container id 0 ->
// the leased host range, in.Size ids wide. Engine-supplied mappings (Docker userns-remap)
// are kept when valid (Validate's rules: at least MinIDRange ids from 0, not host id 0);
// the lease is then ignored.
func stepIDMappings(s *specs.Spec, _ Options, in Inputs) error {
	if len(s.Linux.UIDMappings) > 0 || len(s.Linux.GIDMappings) > 0 {
		return checkEngineMappings(s)
	}
	if in.HostUID == 0 || in.HostGID == 0 {
		return fmt.Errorf("lease maps container root to host id 0 (uid %d, gid %d): %w", in.HostUID, in.HostGID, ErrNotSupported)
	}
	if in.Size < MinIDRange {
		return fmt.Errorf("lease of %d ids is smaller than %d: %w", in.Size, MinIDRange, ErrNotSupported)
	}
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: in.HostUID, Size: in.Size}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: in.HostGID, Size: in.Size}}
	return nil
}
