// Package syscont turns the OCI runtime spec an engine (Docker) hands a runtime into the
// spec of a system container.
//
// Everything here is a pure function over a *specs.Spec: no file, mount, daemon or kernel
// is touched. The caller (sysbox-runc create/run) does the following:
//
//  1. Validate(spec, defaults) before asking any daemon for anything (defaults start from
//     DefaultOptions: the zero Options means SysContMode false). It parses and removes
//     the per-container SYSBOX_* variables from process.env and refuses every spec a
//     system container cannot honour (host namespaces, bad SYSBOX_* values, engine-supplied
//     ID mappings that are too narrow or map host root, missing process or root). For a
//     system container the caller then runs CheckNamespacePaths, which refuses namespaces
//     given by path (the host's, another container's) with the kernel's answers injected
//     (StatNamespace), again before any lease.
//  2. Gets a uid/gid lease from sysbox-mgr and the virtual files from sysbox-fs.
//  3. Transform(spec, options, inputs): a fixed list of small named steps (see Steps).
//  4. Hands the result to libcontainer (specconv.CreateLibcontainerConfig), then attaches
//     the virtual files libcontainer refuses as spec mounts (DeferredVirtualFiles, e.g.
//     /proc/sys) itself, and applies an unbindable root propagation (DeferredRootPropagation,
//     read from the spec before Transform) to the container's root. For `exec`,
//     ProcessCaps gives the new process its capabilities.
//
// What the result was checked against: specconv.CreateLibcontainerConfig plus
// configs/validate for every spec in testdata (unit test, no root), and a real run with
// libcontainer v1.5.3 of the transformed Docker default, --privileged and /sbin/init specs
// (runtest, root, with and without -tags seccomp).
//
// # --privileged
//
// A --privileged spec (host devices in linux.devices, a device cgroup rule that allows every
// device, no seccomp profile, no masked or read-only paths) is not refused: it runs as an
// ordinary system container and a warning is logged. Users pass --privileged out of habit to
// run Docker, systemd or Kubernetes inside a container, which is exactly what a system
// container already allows without it, so refusing would only break those command lines.
// What --privileged asks for that a system container never grants is dropped: the host
// devices are removed, the device cgroup goes back to deny-all (libcontainer re-adds its
// standard set: null, zero, full, random, urandom, tty, ptmx, pts, net/tun) and Docker's
// default masked and read-only paths are restored (then trimmed like any other spec's).
// Capabilities need no special case: root in a system container always has every
// capability, inside its own user namespace. The only seccomp profile added is one that
// allows everything and hands sysinfo to sysbox-fs (see TrappedSyscalls); the user namespace
// is the isolation boundary.
//
// # SYSBOX_SYSCONT_MODE=FALSE
//
// With SYSBOX_SYSCONT_MODE=FALSE (or the runtime's default set to false) the container runs as
// a plain runc-like container: Validate still parses and removes the SYSBOX_* variables and
// refuses a missing process or root, but it does not refuse host namespaces, and Transform
// leaves the spec exactly as the engine wrote it. The caller should then skip the sysbox-mgr
// lease and the sysbox-fs registration as well.
//
// # SYSBOX_SKIP_UID_SHIFT
//
// A comma-separated list of absolute paths. A bind mount whose destination (container path)
// or source (host path) is one of these paths, or lies below one, is not ID-mapped: its files
// keep showing their raw host ownership inside the container (host root appears as
// nobody/65534). The list from the variable is added to the runtime's default list.
//
// # Idempotence
//
// Transform applied to its own output changes nothing (tested): every step checks whether its
// change is already there (namespaces present, mounts present at a destination, mapping
// present on a mount, syscalls already unconditionally allowed, and so on).
package syscont
