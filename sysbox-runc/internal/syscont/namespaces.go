package syscont

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// stepNamespaces adds the user, cgroup and time namespaces when missing and checks that
// pid, net, ipc, uts and mount are not the host's (Validate refused those already; this
// guards callers that skip it). Namespaces given by path (e.g. another container's netns
// for docker --net=container:X) are kept as they are. The time namespace gets no offsets:
// it only makes CLOCK_MONOTONIC/BOOTTIME per container possible for nested software (and
// CRIU); the clocks read the same as the host's.
func stepNamespaces(s *specs.Spec, _ Options, _ Inputs) error {
	if err := checkNamespaces(s); err != nil {
		return err
	}
	for _, t := range []specs.LinuxNamespaceType{specs.UserNamespace, specs.CgroupNamespace, specs.TimeNamespace} {
		if !hasNamespace(s.Linux.Namespaces, t) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: t})
		}
	}
	if len(s.Linux.TimeOffsets) > 0 && namespacePath(s.Linux.Namespaces, specs.TimeNamespace) != "" {
		return fmt.Errorf("time offsets given while joining the time namespace %s", namespacePath(s.Linux.Namespaces, specs.TimeNamespace))
	}
	return nil
}

func hasNamespace(nss []specs.LinuxNamespace, t specs.LinuxNamespaceType) bool {
	for _, ns := range nss {
		if ns.Type == t {
			return true
		}
	}
	return false
}

func namespacePath(nss []specs.LinuxNamespace, t specs.LinuxNamespaceType) string {
	for _, ns := range nss {
		if ns.Type == t {
			return ns.Path
		}
	}
	return ""
}
