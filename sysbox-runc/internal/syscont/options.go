package syscont

import (
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Options are the per-container switches. The runtime's flags give the defaults; the
// SYSBOX_* variables in the container's environment override them (see Validate).
type Options struct {
	// HonorCaps keeps the engine's capabilities instead of giving root every capability
	// and non-root none (SYSBOX_HONOR_CAPS).
	HonorCaps bool
	// SysContMode false runs the container as a plain runc-like container: Transform
	// changes nothing (SYSBOX_SYSCONT_MODE, default true).
	SysContMode bool
	// IgnoreSysfsChown makes chown on /sys paths succeed without effect (SYSBOX_IGNORE_SYSFS_CHOWN;
	// used by the syscall trap, not by Transform).
	IgnoreSysfsChown bool
	// AllowTrustedXattr lets container root set trusted.* xattrs (SYSBOX_ALLOW_TRUSTED_XATTR;
	// used by the syscall trap, not by Transform).
	AllowTrustedXattr bool
	// SkipUIDShift lists absolute paths whose bind mounts are not ID-mapped
	// (SYSBOX_SKIP_UID_SHIFT=/path1,/path2).
	SkipUIDShift []string
	// EngineIDMappings is set by Validate when the engine supplied the uid/gid mappings
	// (Docker userns-remap): the engine then owns file ownership (Docker chowns the
	// container's files to the remapped range), so Transform does not ID-map bind mounts.
	EngineIDMappings bool
}

// DefaultOptions are the runtime's defaults when no flag changes them. Note that the zero
// Options has SysContMode false (a plain container): start from DefaultOptions.
func DefaultOptions() Options {
	return Options{SysContMode: true}
}

// Names of the per-container environment variables.
const (
	EnvHonorCaps         = "SYSBOX_HONOR_CAPS"
	EnvSysContMode       = "SYSBOX_SYSCONT_MODE"
	EnvIgnoreSysfsChown  = "SYSBOX_IGNORE_SYSFS_CHOWN"
	EnvAllowTrustedXattr = "SYSBOX_ALLOW_TRUSTED_XATTR"
	EnvSkipUIDShift      = "SYSBOX_SKIP_UID_SHIFT"

	envPrefix = "SYSBOX_"
)

// constError is an error that can be a constant, so the package needs no global variables.
type constError string

func (e constError) Error() string { return string(e) }

// Errors returned by Validate, wrapped with the detail; test them with errors.Is.
const (
	// ErrNotSupported: the spec asks for something a system container cannot honour.
	ErrNotSupported = constError("not supported in a system container")
	// ErrBadOption: a SYSBOX_* variable is unknown or has a bad value.
	ErrBadOption = constError("invalid sysbox option")
	// ErrIncomplete: the spec lacks a part every container needs.
	ErrIncomplete = constError("incomplete spec")
)

// MinIDRange is the smallest uid/gid range a system container accepts: root plus the ids
// system software (systemd, Docker, package managers) expects to exist.
const MinIDRange = 65536

// Validate checks that the spec can be run as a system container and parses the SYSBOX_*
// variables from spec.Process.Env (defaults come from the runtime's flags), removing them
// from the env. It modifies nothing else. It runs before any daemon is asked for anything,
// so every refusal happens here, but for namespaces given by path, which the caller checks
// next with CheckNamespacePaths (that needs the kernel; Validate is pure).
func Validate(s *specs.Spec, defaults Options) (Options, error) {
	if s == nil || s.Process == nil {
		return Options{}, fmt.Errorf("%w: no process", ErrIncomplete)
	}
	if s.Root == nil || s.Root.Path == "" {
		return Options{}, fmt.Errorf("%w: no root filesystem", ErrIncomplete)
	}
	o, env, err := parseEnv(s.Process.Env, defaults)
	if err != nil {
		return Options{}, err
	}
	if o.SysContMode {
		if err := checkNamespaces(s); err != nil {
			return Options{}, err
		}
		if err := checkEngineMappings(s); err != nil {
			return Options{}, err
		}
		if err := checkSeccompListener(s); err != nil {
			return Options{}, err
		}
		o.EngineIDMappings = len(s.Linux.UIDMappings) > 0 || len(s.Linux.GIDMappings) > 0
	}
	s.Process.Env = env
	return o, nil
}

// parseEnv returns the options with the SYSBOX_* variables of env applied over defaults,
// and env without them. A later assignment of the same variable wins, as in a shell.
func parseEnv(env []string, defaults Options) (Options, []string, error) {
	o := defaults
	o.SkipUIDShift = append([]string(nil), defaults.SkipUIDShift...)
	var rest []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, envPrefix) {
			rest = append(rest, kv)
			continue
		}
		name, val, _ := strings.Cut(kv, "=")
		var err error
		switch name {
		case EnvHonorCaps:
			o.HonorCaps, err = parseBool(name, val)
		case EnvSysContMode:
			o.SysContMode, err = parseBool(name, val)
		case EnvIgnoreSysfsChown:
			o.IgnoreSysfsChown, err = parseBool(name, val)
		case EnvAllowTrustedXattr:
			o.AllowTrustedXattr, err = parseBool(name, val)
		case EnvSkipUIDShift:
			var paths []string
			paths, err = parsePaths(name, val)
			o.SkipUIDShift = append(o.SkipUIDShift, paths...)
		default:
			err = fmt.Errorf("%w: unknown variable %s (known: %s, %s, %s, %s, %s)", ErrBadOption, name,
				EnvHonorCaps, EnvSysContMode, EnvIgnoreSysfsChown, EnvAllowTrustedXattr, EnvSkipUIDShift)
		}
		if err != nil {
			return Options{}, nil, err
		}
	}
	return o, rest, nil
}

func parseBool(name, val string) (bool, error) {
	switch val {
	case "TRUE":
		return true, nil
	case "FALSE":
		return false, nil
	}
	return false, fmt.Errorf("%w: %s=%q: the value must be exactly TRUE or FALSE", ErrBadOption, name, val)
}

func parsePaths(name, val string) ([]string, error) {
	var paths []string
	for p := range strings.SplitSeq(val, ",") {
		if p == "" {
			continue
		}
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("%w: %s=%q: %q is not an absolute path", ErrBadOption, name, val, p)
		}
		paths = append(paths, filepath.Clean(p))
	}
	return paths, nil
}

// hostNamespaceOption names the Docker option that shares the host's namespace of type t
// (a missing entry in linux.namespaces means the host's namespace, as does a path to it).
func hostNamespaceOption(t specs.LinuxNamespaceType) string {
	switch t {
	case specs.UserNamespace:
		return "--userns=host"
	case specs.CgroupNamespace:
		return "--cgroupns=host"
	case specs.PIDNamespace:
		return "--pid=host"
	case specs.NetworkNamespace:
		return "--net=host"
	case specs.IPCNamespace:
		return "--ipc=host"
	case specs.UTSNamespace:
		return "--uts=host"
	}
	return ""
}

// checkNamespaces refuses host pid/net/ipc/uts/mount namespaces and joining an existing
// user namespace (a system container needs its own, with its exclusive id range). The other
// namespaces given by path need the kernel to tell what they are: CheckNamespacePaths.
func checkNamespaces(s *specs.Spec) error {
	var have map[specs.LinuxNamespaceType]specs.LinuxNamespace
	if s.Linux != nil {
		have = make(map[specs.LinuxNamespaceType]specs.LinuxNamespace, len(s.Linux.Namespaces))
		for _, ns := range s.Linux.Namespaces {
			have[ns.Type] = ns
		}
	}
	var problems []string
	for _, t := range []specs.LinuxNamespaceType{
		specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace,
	} {
		if _, ok := have[t]; ok {
			continue
		}
		if opt := hostNamespaceOption(t); opt != "" {
			problems = append(problems, fmt.Sprintf("the host %s namespace (drop %s)", t, opt))
		} else {
			problems = append(problems, fmt.Sprintf("the host %s namespace", t))
		}
	}
	if ns, ok := have[specs.UserNamespace]; ok && ns.Path != "" {
		// Checked here without the kernel; CheckNamespacePaths tells more about the others.
		problems = append(problems, fmt.Sprintf("joining the existing user namespace %s (a system container gets a new user namespace of its own, with an exclusive id range; engine-supplied uid/gid mappings are honoured instead)", ns.Path))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %w", strings.Join(problems, ", "), ErrNotSupported)
	}
	return nil
}

// checkEngineMappings accepts engine-supplied ID mappings (Docker userns-remap) only when
// they cover container ids 0..MinIDRange-1 and never map host id 0, for uids and gids alike.
func checkEngineMappings(s *specs.Spec) error {
	if s.Linux == nil || (len(s.Linux.UIDMappings) == 0 && len(s.Linux.GIDMappings) == 0) {
		return nil
	}
	for _, m := range []struct {
		kind string
		maps []specs.LinuxIDMapping
	}{{"uid", s.Linux.UIDMappings}, {"gid", s.Linux.GIDMappings}} {
		if err := checkMapping(m.maps); err != nil {
			return fmt.Errorf("engine-supplied %s mappings %v: %w: %w (with userns-remap, give each container at least %d ids not including host id 0)",
				m.kind, m.maps, err, ErrNotSupported, MinIDRange)
		}
	}
	return nil
}

func checkMapping(maps []specs.LinuxIDMapping) error {
	if len(maps) == 0 {
		return fmt.Errorf("missing")
	}
	for _, m := range maps {
		if m.HostID == 0 && m.Size > 0 {
			return fmt.Errorf("they map host id 0 (host root)")
		}
	}
	next := mappedFromZero(maps)
	if next < MinIDRange {
		return fmt.Errorf("container id %d is not mapped (fewer than %d ids from 0)", next, MinIDRange)
	}
	return nil
}
