package fusefs

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sysboxd/sysboxd/sysbox-fs/sysctl"
)

// sysctlTimeout is the entry and attribute cache lifetime below /proc/sys:
// unlike the static tree, its entries follow the container's network
// devices (net/ipv4/conf/<dev>) and namespaces.
const sysctlTimeout = time.Second

// sysctlTree is what the nodes of one container's /proc/sys share.
type sysctlTree struct {
	*tree
	c     *sysctl.Container
	owner Owner
}

// SysctlDir serves c as the directory p ("proc/sys"), every entry owned by
// owner (the container's root).
func SysctlDir(p string, c *sysctl.Container, owner Owner) CustomNode {
	return CustomNode{Path: p, dir: true, node: func(t *tree) fs.InodeEmbedder {
		return &sysctlDir{t: &sysctlTree{tree: t, c: c, owner: owner}, mode: 0o555}
	}}
}

func (t *sysctlTree) setAttr(out *fuse.Attr, dir bool, mode uint32) {
	if dir {
		out.Mode = syscall.S_IFDIR | mode
		out.Nlink = 2
	} else {
		out.Mode = syscall.S_IFREG | mode
		out.Nlink = 1
		out.Size = defaultSizeBound // see fileNode.Getattr
	}
	out.Uid, out.Gid = t.owner.UID, t.owner.GID
	t.setTimes(out)
}

// sysctlDir is a directory of /proc/sys; path "" is /proc/sys itself.
type sysctlDir struct {
	fs.Inode
	t    *sysctlTree
	path string
	mode uint32
}

var (
	_ fs.NodeGetattrer = (*sysctlDir)(nil)
	_ fs.NodeLookuper  = (*sysctlDir)(nil)
	_ fs.NodeReaddirer = (*sysctlDir)(nil)
)

func (d *sysctlDir) child(name string) string {
	if d.path == "" {
		return name
	}
	return d.path + "/" + name
}

func (d *sysctlDir) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.t.setAttr(&out.Attr, true, d.mode)
	out.SetTimeout(sysctlTimeout)
	return 0
}

func (d *sysctlDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p := d.child(name)
	e, err := d.t.c.LookupFor(callerPid(ctx), p)
	if err != nil {
		return nil, d.t.errno(err, p)
	}
	d.t.setAttr(&out.Attr, e.Dir, e.Mode)
	out.SetEntryTimeout(sysctlTimeout)
	out.SetAttrTimeout(sysctlTimeout)
	if e.Dir {
		if ch := d.GetChild(name); ch != nil {
			if old, ok := ch.Operations().(*sysctlDir); ok && old.mode == e.Mode {
				return ch, 0
			}
		}
		return d.NewInode(ctx, &sysctlDir{t: d.t, path: p, mode: e.Mode}, fs.StableAttr{Mode: syscall.S_IFDIR}), 0
	}
	if ch := d.GetChild(name); ch != nil {
		if old, ok := ch.Operations().(*sysctlFile); ok && old.emulated == e.Emulated && old.mode == e.Mode {
			return ch, 0
		}
	}
	f := &sysctlFile{t: d.t, path: p, mode: e.Mode, emulated: e.Emulated}
	return d.NewInode(ctx, f, fs.StableAttr{Mode: syscall.S_IFREG}), 0
}

func (d *sysctlDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	ents, err := d.t.c.ReadDirFor(callerPid(ctx), d.path)
	if err != nil {
		return nil, d.t.errno(err, d.path)
	}
	list := make([]fuse.DirEntry, 0, len(ents))
	for _, e := range ents {
		mode := uint32(syscall.S_IFREG)
		if e.Dir {
			mode = syscall.S_IFDIR
		}
		list = append(list, fuse.DirEntry{Name: e.Name, Mode: mode})
	}
	return fs.NewListDirStream(list), 0
}

// callerPid is the host pid of the request's caller (the kernel gives the
// thread id, in the daemon's pid namespace), 0 when unknown: the
// pass-through files resolve to its namespaces (sysctl.Container.OpenFor).
func callerPid(ctx context.Context) int {
	if c, ok := fuse.FromContext(ctx); ok {
		return int(c.Pid)
	}
	return 0
}

// errno returns the errno the reader gets for err. An errno from the
// kernel or a knob's check is the reader's answer (procfs itself answers
// EIO for an unset net.ipv6.conf.*.stable_secret) and is logged at debug
// level; any other failure (joining the namespaces) is logged as a warning
// and answered EIO.
func (t *sysctlTree) errno(err error, p string) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		t.log.WithError(err).WithField("file", "proc/sys/"+p).Debug("sysctl request refused")
		return e
	}
	t.log.WithError(err).WithField("file", "proc/sys/"+p).Warn("sysctl request failed")
	return syscall.EIO
}

// sysctlFile is a file of /proc/sys: an emulated knob or a pass-through
// to the kernel in the opener's namespaces (net, uts, ipc: an `unshare -n`
// or an inner container sees and sets its own). Only the container's
// processes may open, read or write it (tree.fromContainer). An emulated
// knob's reads and writes run with the tree's deadline; pass-through ones
// are plain preads and pwrites of the kernel's procfs on the container's
// namespace thread, not bounded here.
type sysctlFile struct {
	fs.Inode
	t        *sysctlTree
	path     string
	mode     uint32
	emulated bool
	bound    bound
}

var (
	_ fs.NodeGetattrer = (*sysctlFile)(nil)
	_ fs.NodeOpener    = (*sysctlFile)(nil)
	_ fs.NodeSetattrer = (*sysctlFile)(nil)
)

func (f *sysctlFile) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.t.setAttr(&out.Attr, false, f.mode)
	out.SetTimeout(0) // the size bound, as fileNode.Getattr
	return 0
}

func (f *sysctlFile) Setattr(ctx context.Context, _ fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if errno := setattrAllowed(in); errno != 0 {
		return errno
	}
	return f.Getattr(ctx, nil, out)
}

func (f *sysctlFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if !f.t.fromContainer(ctx) {
		f.t.refused(ctx, "proc/sys/"+f.path, "open")
		return nil, 0, syscall.EACCES
	}
	owner := f.t.owner
	if !f.emulated && !sysctl.Writable(f.path) {
		// A host-wide knob: the kernel gives a user-namespaced root only
		// the others' bits (no kernel.cad_pid, 0600); only host root,
		// which is no caller of ours, is its owner.
		owner = Owner{}
	}
	if !openPermitted(ctx, owner, f.mode, flags) {
		return nil, 0, syscall.EACCES
	}
	const fuseFlags = fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH
	if f.emulated {
		vals := f.t.c.Values()
		h := &valueHandle{
			tree:  f.t.tree,
			bound: &f.bound,
			path:  "proc/sys/" + f.path,
			read:  func() ([]byte, error) { return vals.Read(f.path) },
			write: func(b []byte) error { return vals.Write(f.path, b) },
			onErr: func(err error) { f.t.errno(err, f.path) },
		}
		return h, fuseFlags, 0
	}
	pf, err := f.t.c.OpenFor(callerPid(ctx), f.path, int(flags))
	if err != nil {
		return nil, 0, f.t.errno(err, f.path)
	}
	return &sysctlHandle{f: pf, node: f}, fuseFlags, 0
}

// sysctlHandle is an open pass-through file: every read and write goes to
// the kernel at the same offset, so procfs' own semantics (a fresh
// kernel.random.uuid per read at offset 0, strict writes) hold.
type sysctlHandle struct {
	f    *sysctl.File
	node *sysctlFile
}

var (
	_ fs.FileReader   = (*sysctlHandle)(nil)
	_ fs.FileWriter   = (*sysctlHandle)(nil)
	_ fs.FileReleaser = (*sysctlHandle)(nil)
)

func (h *sysctlHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if !h.node.t.fromContainer(ctx) {
		h.node.t.refused(ctx, "proc/sys/"+h.node.path, "read")
		return nil, syscall.EACCES
	}
	n, err := h.f.ReadAt(dest, off)
	if err != nil {
		return nil, h.node.t.errno(err, h.node.path)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *sysctlHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if !h.node.t.fromContainer(ctx) {
		h.node.t.refused(ctx, "proc/sys/"+h.node.path, "write")
		return 0, syscall.EACCES
	}
	n, err := h.f.WriteAt(data, off)
	if err != nil {
		return 0, h.node.t.errno(err, h.node.path)
	}
	return uint32(n), 0
}

func (h *sysctlHandle) Release(ctx context.Context) syscall.Errno {
	if err := h.f.Close(); err != nil {
		return toErrno(err)
	}
	return 0
}
