// Package fusefs serves a container's virtual files over FUSE with go-fuse:
// one mount (and one FUSE connection) per container, a static tree built
// from a handler.Table.
//
// Files are opened with direct_io, so every read reaches the server and
// procfs semantics hold (tools such as top keep the file open and re-read it
// after seeking to 0), and FOPEN_NOFLUSH, which saves the FLUSH round trip at
// close. The content is generated when a READ arrives at offset 0 and kept
// per open file, so the follow-up and EOF reads see the same text.
//
// Only the container's own processes get a file's content (IDRange), and
// no reader waits longer than a deadline for it (DefaultTimeout).
package fusefs

import (
	"context"
	"errors"
	"path"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
)

const (
	fileMode = 0o444
	dirMode  = 0o555
)

// View returns the container as handlers must see it now.
type View func() handler.Container

// tree is what every node of one container's mount shares.
type tree struct {
	view     View
	log      logrus.FieldLogger
	mtime    time.Time
	callers  IDRange
	watchdog *watchdog
}

// owner is who the tree's files and directories belong to: the container's
// root, the start of its id range (its user namespace maps uid and gid 0
// there), so that they show as root:root inside, as procfs' do. (Host root
// would show as the overflow id, 65534.)
func (t *tree) owner() Owner {
	return Owner{UID: t.callers.UID, GID: t.callers.GID}
}

func (t *tree) setOwner(out *fuse.Attr) {
	o := t.owner()
	out.Uid, out.Gid = o.UID, o.GID
}

func (t *tree) setTimes(out *fuse.Attr) {
	out.SetTimes(&t.mtime, &t.mtime, &t.mtime)
}

// dirNode is a directory of the tree: its children are fixed at mount time.
type dirNode struct {
	fs.Inode
	tree *tree
}

var _ fs.NodeGetattrer = (*dirNode)(nil)

func (d *dirNode) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | dirMode
	out.Nlink = 2
	d.tree.setOwner(&out.Attr)
	d.tree.setTimes(&out.Attr)
	out.SetTimeout(cacheTimeout)
	return 0
}

// rootNode builds the tree when go-fuse adds it.
type rootNode struct {
	dirNode
	table       handler.Table
	customNodes []CustomNode
}

var _ fs.NodeOnAdder = (*rootNode)(nil)

func (r *rootNode) OnAdd(ctx context.Context) {
	for _, p := range r.table.Paths() {
		parent := &r.Inode
		dir, name := path.Split(p)
		for _, comp := range splitPath(dir) {
			child := parent.GetChild(comp)
			if child == nil {
				child = parent.NewPersistentInode(ctx, &dirNode{tree: r.tree}, fs.StableAttr{Mode: syscall.S_IFDIR})
				parent.AddChild(comp, child, false)
			}
			parent = child
		}
		f := &fileNode{tree: r.tree, path: p, handler: r.table[p]}
		parent.AddChild(name, parent.NewPersistentInode(ctx, f, fs.StableAttr{Mode: syscall.S_IFREG}), false)
	}
	addCustomNodes(ctx, &r.Inode, r.tree, r.customNodes)
}

func splitPath(dir string) []string {
	var comps []string
	for dir = path.Clean(dir); dir != "." && dir != "/"; dir = path.Dir(dir) {
		comps = append([]string{path.Base(dir)}, comps...)
	}
	return comps
}

// fileNode is one virtual file.
type fileNode struct {
	fs.Inode
	tree    *tree
	path    string
	handler handler.Handler
	bound   bound
}

var (
	_ fs.NodeGetattrer = (*fileNode)(nil)
	_ fs.NodeOpener    = (*fileNode)(nil)
)

// Getattr reports a size of at least the content's length and no
// attribute caching. procfs reports 0 and read(2) does not care (direct_io
// reads until EOF), but sendfile(2) and splice(2), which busybox cat uses,
// go through the page cache and stop at the inode's size: with 0 they
// return nothing. With a larger size, the kernel asks one READ, gets a
// short answer and trims the size to it, so the copy is exact; reporting
// the size afresh on every stat (timeout 0) keeps a trimmed size from
// truncating a later, longer content.
func (f *fileNode) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | fileMode
	out.Nlink = 1
	out.Size = sizeBound(f.handler)
	f.tree.setOwner(&out.Attr)
	f.tree.setTimes(&out.Attr)
	out.SetTimeout(0)
	return 0
}

// defaultSizeBound is the size reported for a file whose handler gives no
// bound of its own: one page, more than any of the small /proc files.
const defaultSizeBound = 4096

// sizeBound is an upper bound of the handler's content length. A handler
// whose content can outgrow a page (cpuinfo with many CPUs) says so by
// implementing handler.SizeBounder.
func sizeBound(h handler.Handler) uint64 {
	if b, ok := h.(handler.SizeBounder); ok {
		return b.SizeBound()
	}
	return defaultSizeBound
}

func (f *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if !f.tree.fromContainer(ctx) {
		f.tree.refused(ctx, f.path, "open")
		return nil, 0, syscall.EACCES
	}
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EACCES
	}
	return &fileHandle{node: f}, fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH, 0
}

// fileHandle is one open of a virtual file; it holds the content generated
// by the last read at offset 0. Reads check the caller again: an open file
// passed to another process (SCM_RIGHTS) gives it no content either.
type fileHandle struct {
	node *fileNode
	mu   sync.Mutex
	data []byte
	done bool // data holds a generated content
}

var _ fs.FileReader = (*fileHandle)(nil)

func (h *fileHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	t := h.node.tree
	if !t.fromContainer(ctx) {
		t.refused(ctx, h.node.path, "read")
		return nil, syscall.EACCES
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if off == 0 || !h.done {
		c := t.view()
		if caller, ok := fuse.FromContext(ctx); ok {
			c.ReaderTid = int(caller.Pid) // the kernel counts its own reader as running
		}
		hd := h.node.handler
		data, err := t.generate(&h.node.bound, h.node.path, func() ([]byte, error) { return hd.Content(c) })
		if err != nil {
			h.data, h.done = nil, false
			if !errors.Is(err, errTimedOut) && !errors.Is(err, errStuck) {
				t.log.WithError(err).WithField("file", h.node.path).Warn("generating virtual file failed")
			}
			return nil, syscall.EIO // timeoutErrno too
		}
		h.data, h.done = data, true
	}
	if off >= int64(len(h.data)) {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), int64(len(h.data)))
	return fuse.ReadResultData(h.data[off:end]), 0
}
