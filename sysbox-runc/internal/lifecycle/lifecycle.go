// Package lifecycle is what makes a libcontainer container a system
// container: before libcontainer creates it, Prepare validates the spec,
// leases the container's id range from sysbox-mgr, mounts its FUSE tree in
// sysbox-fs, runs the spec pipeline and presents the rootfs ID-mapped; after
// libcontainer started it, Started delegates its cgroups and registers it
// with sysbox-fs; at delete, Teardown gives everything back.
//
// Every step that acquires something pushes its undo, so a failed create
// leaves no lease, FUSE tree, mount or process behind.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/internal/idmap"
	"github.com/sysboxd/sysboxd/internal/mountns"
	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	"github.com/sysboxd/sysboxd/sysbox-ipc/fsclient"
	"github.com/sysboxd/sysboxd/sysbox-ipc/mgrclient"
	"github.com/sysboxd/sysboxd/sysbox-ipc/sysfspb"
	"github.com/sysboxd/sysboxd/sysbox-ipc/sysmgrpb"
	"github.com/sysboxd/sysboxd/sysbox-runc/internal/rootfs"
	"github.com/sysboxd/sysboxd/sysbox-runc/internal/syscont"
)

// IDRangeSize is the width of every system container's uid/gid range.
const IDRangeSize = 65536

// Mgr is what the lifecycle needs from sysbox-mgr (mgrclient.Client).
type Mgr interface {
	Register(ctx context.Context, id, rootfs, bundle string) error
	SubidAlloc(ctx context.Context, id string, size uint32) (*sysmgrpb.SubidAllocResponse, error)
	ReqMounts(ctx context.Context, id, rootfs string, userDests []string) ([]*sysmgrpb.Mount, error)
	Unregister(ctx context.Context, id string, release bool) error
}

// Fs is what the lifecycle needs from sysbox-fs (fsclient.Client).
type Fs interface {
	PreRegister(ctx context.Context, req *sysfspb.PreRegisterRequest) (*sysfspb.PreRegisterResponse, error)
	Register(ctx context.Context, req *sysfspb.RegisterRequest) error
	Unregister(ctx context.Context, id string) error
}

var (
	_ Mgr = (*mgrclient.Client)(nil)
	_ Fs  = (*fsclient.Client)(nil)
)

// State is what create leaves for delete. It is saved next to
// libcontainer's state (StateFile) because delete runs in another process.
type State struct {
	ID         string          `json:"id"`
	HostUID    uint32          `json:"host_uid"`
	HostGID    uint32          `json:"host_gid"`
	Size       uint32          `json:"size"`
	FreshLease bool            `json:"fresh_lease"`
	Rootfs     *rootfs.State   `json:"rootfs,omitempty"`
	Options    syscont.Options `json:"options"`
}

// Config is how the runtime was invoked.
type Config struct {
	ID       string
	Bundle   string // absolute bundle dir
	Defaults syscont.Options
	// RootfsDirs: where the rootfs is exposed ID-mapped (Staging) and where
	// the ID-mapped layers of an overlay rootfs are attached while it is
	// mounted (Layers).
	RootfsDirs rootfs.Dirs
	Log        *logrus.Entry
}

// Prepared is a container that is ready for libcontainer.
type Prepared struct {
	Spec  *specs.Spec
	State State
	cfg   Config
	fs    Fs
	undo  []func(context.Context) error
	// rootPropagation is applied to the container's root once libcontainer has set it up
	// (syscont.DeferredRootPropagation); 0 for none.
	rootPropagation uintptr
	attachments
}

// Prepare turns spec into a system-container spec and acquires everything
// the container needs from the daemons. On error, everything acquired so
// far has been released.
func Prepare(ctx context.Context, cfg Config, mgr Mgr, fs Fs, spec *specs.Spec) (_ *Prepared, retErr error) {
	opts, err := syscont.Validate(spec, cfg.Defaults)
	if err != nil {
		return nil, err
	}
	p := &Prepared{Spec: spec, cfg: cfg, fs: fs, State: State{ID: cfg.ID, Options: opts}}
	if !opts.SysContMode {
		// SYSBOX_SYSCONT_MODE=FALSE: a plain container, nothing leased.
		cfg.Log.Info("SYSBOX_SYSCONT_MODE=FALSE: running as a plain container")
		return p, nil
	}
	if err := syscont.CheckNamespacePaths(spec, statNamespace); err != nil {
		return nil, err
	}
	if opts.EngineIDMappings {
		return nil, engineMappingsRefused(spec)
	}
	p.rootPropagation = syscont.DeferredRootPropagation(spec)
	defer func() {
		if retErr != nil {
			p.Rollback(ctx)
		}
	}()

	rootPath := spec.Root.Path
	if !filepath.IsAbs(rootPath) {
		rootPath = filepath.Join(cfg.Bundle, rootPath)
	}
	if _, err := os.Stat(rootPath); err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}

	if err := mgr.Register(ctx, cfg.ID, rootPath, cfg.Bundle); err != nil {
		return nil, err
	}
	lease, err := mgr.SubidAlloc(ctx, cfg.ID, IDRangeSize)
	if err != nil {
		// Register alone holds nothing that survives; tell the manager the
		// container is not running.
		_ = mgr.Unregister(ctx, cfg.ID, false)
		return nil, err
	}
	p.State.HostUID, p.State.HostGID, p.State.Size = lease.GetUid(), lease.GetGid(), lease.GetSize()
	p.State.FreshLease = lease.GetFresh()
	p.push(func(ctx context.Context) error { return mgr.Unregister(ctx, cfg.ID, p.State.FreshLease) })

	special, err := mgr.ReqMounts(ctx, cfg.ID, rootPath, mountDestinations(spec))
	if err != nil {
		return nil, err
	}

	pre, err := fs.PreRegister(ctx, &sysfspb.PreRegisterRequest{
		Id: cfg.ID, Uid: p.State.HostUID, Gid: p.State.HostGID, Size: p.State.Size,
	})
	if err != nil {
		return nil, err
	}
	p.push(func(ctx context.Context) error { return fs.Unregister(ctx, cfg.ID) })

	in := syscont.Inputs{
		HostUID:           p.State.HostUID,
		HostGID:           p.State.HostGID,
		Size:              p.State.Size,
		IDMappable:        idmap.Supported,
		CallerOOMScoreAdj: callerOOMScoreAdj(),
		KnownCaps:         KnownCaps(),
		AppArmorProfile:   LoadedAppArmorProfile(),
		Warn:              func(msg string) { cfg.Log.Warn(msg) },
	}
	for _, f := range pre.GetFiles() {
		in.VirtualFiles = append(in.VirtualFiles, syscont.VirtualFile{Dest: f.GetDestination(), Source: f.GetSource()})
	}
	p.deferred = syscont.DeferredVirtualFiles(in.VirtualFiles)
	for _, m := range special {
		in.SpecialMounts = append(in.SpecialMounts, specs.Mount{
			Source: m.GetSource(), Destination: m.GetDestination(), Type: m.GetType(), Options: m.GetOptions(),
		})
	}
	if err := syscont.Transform(spec, opts, in); err != nil {
		return nil, fmt.Errorf("transform spec: %w", err)
	}

	rs, err := presentRootfs(rootPath, cfg.RootfsDirs, p.mapping())
	if err != nil {
		return nil, err
	}
	p.State.Rootfs = rs
	p.push(func(context.Context) error { return rootfs.Release(rs) })
	spec.Root.Path = rs.Path
	cfg.Log.WithField("rootfs", rs.Path).Debugf("rootfs presented ID-mapped (%s)", rs.Kind)
	return p, nil
}

// engineMappingsRefused is create's answer to a spec that brings its own
// uid/gid mappings, as Docker's userns-remap makes: the spec would be fine
// (syscont keeps valid engine mappings), but the rest of the runtime works
// with sysbox-mgr's lease only. The rootfs is presented ID-mapped with the
// leased range (an engine-chowned rootfs, owned by the engine's range,
// then fails with EOVERFLOW: "value too large for defined data type"),
// sysbox-fs serves its files as the lease's root, and sysbox-mgr makes the
// special dirs (/var/lib/docker...) for the lease. It is refused before
// anything is leased, naming the Docker setting.
func engineMappingsRefused(spec *specs.Spec) error {
	return fmt.Errorf("%w: the spec brings its own uid/gid mappings (uid %v, gid %v), as Docker's "+
		"\"userns-remap\" (daemon.json) or --userns-remap makes them; sysbox-runc gives every system "+
		"container an exclusive id range of its own instead: turn userns-remap off",
		syscont.ErrNotSupported, spec.Linux.UIDMappings, spec.Linux.GIDMappings)
}

func (p *Prepared) mapping() idmap.Mapping {
	return idmap.Mapping{HostUID: p.State.HostUID, HostGID: p.State.HostGID, Size: p.State.Size}
}

// presentRootfs ID-maps the rootfs with a short-lived user namespace that
// has the container's mapping; the mounts keep what they need of it.
func presentRootfs(path string, dirs rootfs.Dirs, m idmap.Mapping) (*rootfs.State, error) {
	u, err := idmap.NewUserns(m)
	if err != nil {
		return nil, fmt.Errorf("user namespace for ID-mapping: %w", err)
	}
	defer u.Close()
	st, err := rootfs.Prepare(path, dirs, u, m)
	if err != nil {
		return nil, fmt.Errorf("present rootfs %s ID-mapped: %w", path, err)
	}
	return st, nil
}

func (p *Prepared) push(undo func(context.Context) error) { p.undo = append(p.undo, undo) }

// Rollback releases everything Prepare acquired, newest first.
func (p *Prepared) Rollback(ctx context.Context) {
	for i := len(p.undo) - 1; i >= 0; i-- {
		if err := p.undo[i](ctx); err != nil {
			p.cfg.Log.WithError(err).Warn("rollback step failed")
		}
	}
	p.undo = nil
}

// Started finishes a container that libcontainer has created: its cgroups
// are delegated to container root and sysbox-fs learns its init process.
func (p *Prepared) Started(ctx context.Context, initPid int, created int64, cgroupPaths map[string]string) error {
	if !p.State.Options.SysContMode {
		return nil
	}
	if err := DelegateCgroups(cgroupPaths, int(p.State.HostUID), int(p.State.HostGID)); err != nil {
		return err
	}
	if v2 := cgroupPaths[""]; v2 != "" && cgroups.IsCgroup2UnifiedMode() {
		if err := NestInitInLeaf(v2, initPid, int(p.State.HostUID), int(p.State.HostGID)); err != nil {
			return err
		}
	}
	if err := p.attachDeferred(initPid); err != nil {
		return err
	}
	if err := applyRootPropagation(initPid, p.rootPropagation); err != nil {
		return err
	}
	return p.fs.Register(ctx, &sysfspb.RegisterRequest{
		Id: p.cfg.ID, InitPid: int32(initPid), StartTimeUnixNano: created, CgroupPaths: cgroupPaths,
	})
}

// Teardown gives back what a container held, after libcontainer destroyed
// it. It carries on past errors and returns them all.
func Teardown(ctx context.Context, st *State, mgr Mgr, fs Fs) error {
	if !st.Options.SysContMode {
		return nil
	}
	var errs []error
	if err := fs.Unregister(ctx, st.ID); err != nil {
		errs = append(errs, err)
	}
	if st.Rootfs != nil {
		if err := rootfs.Release(st.Rootfs); err != nil {
			errs = append(errs, fmt.Errorf("release rootfs: %w", err))
		}
	}
	// NotFound: the manager already forgot the container (its rootfs went
	// away first); there is nothing left to give back.
	if err := mgr.Unregister(ctx, st.ID, false); err != nil && !ipc.IsNotFound(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// applyRootPropagation makes the root mount of the container whose init is pid unbindable
// (flags MS_UNBINDABLE; with MS_REC, every mount below it too), after libcontainer set up
// its mounts and root and the deferred virtual files were attached, before its process
// starts: what libcontainer does at the end of its setup for runc, which Transform had to
// keep from it (see syscont.DeferredRootPropagation). The root is taken from
// /proc/<pid>/root, so it is the container's also with --no-pivot (chroot); mount_setattr
// changes it from inside the container's mount namespace, as the kernel requires.
func applyRootPropagation(pid int, flags uintptr) error {
	if flags == 0 {
		return nil
	}
	if pid <= 0 {
		return errors.New("apply linux.rootfsPropagation: container init pid unknown")
	}
	rootPath := fmt.Sprintf("/proc/%d/root", pid)
	root, err := unix.Open(rootPath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("apply linux.rootfsPropagation: open %s: %w", rootPath, err)
	}
	defer unix.Close(root)
	at := unix.AT_EMPTY_PATH
	if flags&unix.MS_REC != 0 {
		at |= unix.AT_RECURSIVE
	}
	attr := &unix.MountAttr{Propagation: uint64(flags &^ unix.MS_REC)}
	err = mountns.Run(pid, func() error { return unix.MountSetattr(root, "", uint(at), attr) })
	if err != nil {
		return fmt.Errorf("apply linux.rootfsPropagation to the container's root: mount_setattr: %w", err)
	}
	return nil
}

// Namespace ioctls (linux/nsfs.h): _IO(0xb7, 1) and _IO(0xb7, 3).
const (
	nsGetUserns = 0xb701
	nsGetNstype = 0xb703
)

// statNamespace is syscont.StatNamespace on the running kernel: the namespace's type
// (NS_GET_NSTYPE), its (dev, inode) and those of the user namespace that owns it
// (NS_GET_USERNS).
func statNamespace(path string) (syscont.NamespaceFile, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return syscont.NamespaceFile{}, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return syscont.NamespaceFile{}, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	if sfs.Type != unix.NSFS_MAGIC {
		return syscont.NamespaceFile{}, fmt.Errorf("filesystem type %#x: %w", sfs.Type, syscont.ErrNotNamespace)
	}
	var f syscont.NamespaceFile
	if f.ID, err = fdNamespaceID(fd); err != nil {
		return syscont.NamespaceFile{}, fmt.Errorf("%s: %w", path, err)
	}
	flag, err := unix.IoctlRetInt(fd, nsGetNstype)
	if err != nil {
		return syscont.NamespaceFile{}, fmt.Errorf("%s: NS_GET_NSTYPE: %w", path, err)
	}
	if f.Type = namespaceType(flag); f.Type == "" {
		return syscont.NamespaceFile{}, fmt.Errorf("%s: unknown namespace type %#x: %w", path, flag, syscont.ErrNotNamespace)
	}
	owner, err := unix.IoctlRetInt(fd, nsGetUserns)
	switch {
	case err == nil:
		defer unix.Close(owner)
		if f.Owner, err = fdNamespaceID(owner); err != nil {
			return syscont.NamespaceFile{}, fmt.Errorf("%s: owning user namespace: %w", path, err)
		}
	case errors.Is(err, unix.EPERM):
		// the owner is outside our user namespace (or this is the initial one): unknown
	default:
		return syscont.NamespaceFile{}, fmt.Errorf("%s: NS_GET_USERNS: %w", path, err)
	}
	return f, nil
}

func fdNamespaceID(fd int) (syscont.NamespaceID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return syscont.NamespaceID{}, fmt.Errorf("fstat: %w", err)
	}
	return syscont.NamespaceID{Dev: st.Dev, Ino: st.Ino}, nil
}

// namespaceType is the OCI name of a namespace's CLONE_NEW* flag, "" for an unknown one.
func namespaceType(cloneFlag int) specs.LinuxNamespaceType {
	switch cloneFlag {
	case unix.CLONE_NEWNS:
		return specs.MountNamespace
	case unix.CLONE_NEWUTS:
		return specs.UTSNamespace
	case unix.CLONE_NEWIPC:
		return specs.IPCNamespace
	case unix.CLONE_NEWUSER:
		return specs.UserNamespace
	case unix.CLONE_NEWPID:
		return specs.PIDNamespace
	case unix.CLONE_NEWNET:
		return specs.NetworkNamespace
	case unix.CLONE_NEWCGROUP:
		return specs.CgroupNamespace
	case unix.CLONE_NEWTIME:
		return specs.TimeNamespace
	}
	return ""
}

func mountDestinations(spec *specs.Spec) []string {
	dests := make([]string, 0, len(spec.Mounts))
	for _, m := range spec.Mounts {
		dests = append(dests, filepath.Clean(m.Destination))
	}
	return dests
}
