package syscont

import (
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// stepNamespaces adds the user, cgroup and time namespaces when missing and checks that
// pid, net, ipc, uts and mount are not the host's (Validate refused those already; this
// guards callers that skip it). Namespaces given by path are kept as they are: the caller
// refuses them beforehand with CheckNamespacePaths, which needs the kernel. The time
// namespace gets no offsets: it only makes CLOCK_MONOTONIC/BOOTTIME per container possible
// for nested software (and CRIU); the clocks read the same as the host's.
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

// ErrNotNamespace: a linux.namespaces path is not a namespace file (nsfs).
const ErrNotNamespace = constError("not a namespace file")

// NamespaceID identifies a namespace: the device and inode of its nsfs file, as stat(2)
// shows them for every path that refers to it (/proc/<pid>/ns/net, a bind mount of it).
type NamespaceID struct{ Dev, Ino uint64 }

// NamespaceFile is what the kernel says about a namespace file.
type NamespaceFile struct {
	// Type of the namespace (ioctl NS_GET_NSTYPE).
	Type specs.LinuxNamespaceType
	// ID of the namespace.
	ID NamespaceID
	// Owner is the ID of the user namespace that owns it (ioctl NS_GET_USERNS; for a user
	// namespace, its parent). Zero when the kernel does not tell (the owner lies outside
	// the caller's user namespace, or the namespace is the initial user namespace).
	Owner NamespaceID
}

// StatNamespace inspects the namespace file at path. It returns an error wrapping
// ErrNotNamespace when path exists but is not a namespace file.
type StatNamespace func(path string) (NamespaceFile, error)

// HostNamespacePath is the file of the host's (initial) namespace of type t: that of the
// host's init process.
func HostNamespacePath(t specs.LinuxNamespaceType) string {
	return "/proc/1/ns/" + procNamespaceName(t)
}

// runtimeNamespacePath is the file of the runtime's own namespace of type t. The runtime
// runs in the host's namespaces (the engine's); it stands for the host when /proc/1 cannot
// be read (some sandboxes forbid reading init's namespace links).
func runtimeNamespacePath(t specs.LinuxNamespaceType) string {
	return "/proc/self/ns/" + procNamespaceName(t)
}

// procNamespaceName is the name of a namespace type under /proc/<pid>/ns.
func procNamespaceName(t specs.LinuxNamespaceType) string {
	switch t {
	case specs.NetworkNamespace:
		return "net"
	case specs.MountNamespace:
		return "mnt"
	}
	return string(t)
}

// isHostNamespace reports whether the namespace at path (f, when known) is the host's of
// type t: the path is the host init's own (true by definition, even when it cannot be
// opened), or the file is the same namespace as the host init's or the runtime's.
func isHostNamespace(t specs.LinuxNamespaceType, path string, f *NamespaceFile, stat StatNamespace) bool {
	if filepath.Clean(path) == HostNamespacePath(t) {
		return true
	}
	if f == nil {
		return false
	}
	for _, p := range []string{HostNamespacePath(t), runtimeNamespacePath(t)} {
		if host, err := stat(p); err == nil && host.ID == f.ID {
			return true
		}
	}
	return false
}

// CheckNamespacePaths refuses every namespace the spec joins by path (linux.namespaces
// entries with a path), naming why, before anything is leased. A system container's init
// always gets a new user namespace of its own (Validate refuses a user namespace path), and
// a namespace that exists already belongs to another user namespace: the init's root has
// no capabilities there, so what libcontainer's init does in it (mount mqueue or /proc,
// sethostname, sysctls, remount the root) fails deep inside with EPERM. The refusals:
//   - the host's namespace of that type (e.g. /proc/1/ns/net, the path some tools write
//     for host networking, or any file of the same namespace as the host init's or the
//     runtime's own): like a missing entry, naming the Docker option to drop;
//   - a namespace owned by another user namespace (Docker's --network container:<other
//     system container>, whose net namespace belongs to that container's user namespace):
//     joining another container's namespace is not supported;
//   - another namespace of the host's user namespace (e.g. one made by `ip netns add`).
//
// Namespaces are compared by (dev, inode) of their files (stat), their owners as given by
// stat (NS_GET_USERNS). A path that does not exist, is not a namespace file or is a
// namespace of another type is an error naming the path.
func CheckNamespacePaths(s *specs.Spec, stat StatNamespace) error {
	if s == nil || s.Linux == nil {
		return nil
	}
	var problems []string
	for _, ns := range s.Linux.Namespaces {
		if ns.Path == "" {
			continue
		}
		if isHostNamespace(ns.Type, ns.Path, nil, stat) {
			problems = append(problems, hostProblem(ns))
			continue
		}
		f, err := stat(ns.Path)
		if err != nil {
			return fmt.Errorf("linux.namespaces: %s namespace path %s: %w", ns.Type, ns.Path, err)
		}
		if f.Type != ns.Type {
			return fmt.Errorf("linux.namespaces: %s namespace path %s: %w (it is a %s namespace)", ns.Type, ns.Path, ErrNotNamespace, f.Type)
		}
		problems = append(problems, joinProblem(ns, f, stat))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %w", strings.Join(problems, ", "), ErrNotSupported)
	}
	return nil
}

// joinProblem says why joining the namespace ns (whose file is f) is refused.
func joinProblem(ns specs.LinuxNamespace, f NamespaceFile, stat StatNamespace) string {
	if isHostNamespace(ns.Type, ns.Path, &f, stat) {
		return hostProblem(ns)
	}
	if ns.Type == specs.UserNamespace {
		return fmt.Sprintf("joining the existing user namespace %s (a system container gets a new user namespace of its own, with an exclusive id range)", ns.Path)
	}
	if f.Owner != (NamespaceID{}) && isHostNamespace(specs.UserNamespace, "", &NamespaceFile{ID: f.Owner}, stat) {
		return fmt.Sprintf("joining the %s namespace %s of the host's user namespace (the container's root would have no privileges in it: a system container has its own user namespace)", ns.Type, ns.Path)
	}
	hint := ""
	if ns.Type == specs.NetworkNamespace {
		hint = "; connect the containers through a user-defined network instead: docker network create"
	}
	return fmt.Sprintf("joining another container's %s namespace %s (system containers each have their own user namespace%s)", ns.Type, ns.Path, hint)
}

// hostProblem refuses the host's namespace given by path, like a missing entry.
func hostProblem(ns specs.LinuxNamespace) string {
	if opt := hostNamespaceOption(ns.Type); opt != "" {
		return fmt.Sprintf("the host %s namespace %s (drop %s)", ns.Type, ns.Path, opt)
	}
	return fmt.Sprintf("the host %s namespace %s", ns.Type, ns.Path)
}
