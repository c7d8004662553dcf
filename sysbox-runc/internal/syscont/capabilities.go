package syscont

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// stepCapabilities applies ProcessCaps to the container's init process.
func stepCapabilities(s *specs.Spec, o Options, in Inputs) error {
	if len(in.KnownCaps) == 0 && !o.HonorCaps {
		return errors.New("no known capabilities given: root would have none")
	}
	ProcessCaps(s.Process, o, in.KnownCaps)
	return nil
}

// ProcessCaps sets the capabilities of a container process (init or exec'd) the way a
// system container runs them. Capabilities only act inside the container's own user
// namespace, so:
//   - root (uid 0) gets every capability the kernel knows in its bounding, effective and
//     permitted sets, like root on a real machine; inheritable and ambient stay empty, so a
//     non-root program it executes does not keep them (again like a real machine);
//   - any other user gets none in effective, permitted, inheritable and ambient, but the
//     full bounding set, so setuid-root programs and file capabilities work as on a real
//     machine (sudo, ping).
//
// With o.HonorCaps the engine's capabilities are kept exactly as given.
func ProcessCaps(p *specs.Process, o Options, known []string) {
	if p == nil || o.HonorCaps {
		return
	}
	all := append([]string(nil), known...)
	c := &specs.LinuxCapabilities{Bounding: all}
	if p.User.UID == 0 {
		c.Effective = append([]string(nil), known...)
		c.Permitted = append([]string(nil), known...)
	}
	p.Capabilities = c
}
