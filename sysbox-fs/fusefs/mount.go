package fusefs

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
)

const (
	// FsType is the mount's type as mountinfo shows it ("fuse." + Name).
	FsType = "fuse." + fsName
	fsName = "sysboxfs"

	// cacheTimeout is the kernel's entry cache lifetime and the attribute
	// cache lifetime of directories. The tree never changes, so a long
	// timeout only saves LOOKUP/GETATTR round trips; content is never cached
	// (direct_io). Files' attributes are not cached: their size follows
	// their content (see fileNode.Getattr).
	cacheTimeout = time.Hour

	// maxRequest is the largest READ or WRITE one request carries
	// (max_read and max_write). go-fuse gives each goroutine reading
	// /dev/fuse a buffer of this size plus a page, and a few such
	// goroutines wait per mount: with go-fuse's 128 KiB the daemon's
	// anonymous memory with 10 containers grew from 6 to 11 MB under
	// reads, with 16 KiB to 8 MB. Virtual files are far smaller; a longer
	// one (cpuinfo of a large host) is read in several requests from the
	// content kept by the open file, and sysctl writes are a line.
	maxRequest = 16 << 10
)

// Mount is one container's mounted tree.
type Mount struct {
	dir string
	log logrus.FieldLogger
}

// Options are a tree's settings besides its files.
type Options struct {
	// Callers are the host ids of the container's processes: only they
	// get the content of a file (see IDRange). The zero range admits no
	// one.
	Callers IDRange
	// Timeout bounds each generation of a file's content; 0 means
	// DefaultTimeout.
	Timeout time.Duration
}

// New creates dir (if needed) and mounts on it a tree serving table for the
// container that view describes, plus custom nodes. log should carry the
// container id.
//
// Mount options: allow_other (readers are the container's uids, not the
// mounter) and a direct mount(2) as root without fusermount. Not
// default_permissions: with it the kernel asks GETATTR on every open once
// file attributes expire, which they do at once; the nodes check callers
// themselves: opts.Callers for any content, and the writable custom nodes the
// caller against their mode, as procfs' 0444 handler files are read-only
// (Open refuses writes).
func New(dir string, table handler.Table, view View, log logrus.FieldLogger, opts Options, customNodes ...CustomNode) (*Mount, error) {
	if err := table.Validate(); err != nil {
		return nil, err
	}
	if err := opts.Callers.validate(); err != nil {
		return nil, err
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("timeout %v: negative", opts.Timeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create mountpoint: %w", err)
	}
	t := &tree{view: view, log: log, mtime: time.Now(), callers: opts.Callers, watchdog: newWatchdog(opts.Timeout, log)}
	root := &rootNode{dirNode: dirNode{tree: t}, table: table, customNodes: customNodes}
	timeout := cacheTimeout
	fuseOpts := &fs.Options{
		MountOptions: fuse.MountOptions{
			AllowOther:        true,
			DirectMountStrict: true,
			FsName:            fsName,
			Name:              fsName,
			DisableXAttrs:     true,
			MaxWrite:          maxRequest,
		},
		EntryTimeout: &timeout,
		// No AttrTimeout: each node sets its own (dirNode, fileNode).
	}
	// fs.Mount starts serving; the loops end when the kernel drops the
	// connection (unmount, or the last open file of a detached tree).
	if _, err := fs.Mount(dir, root, fuseOpts); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("mount fuse on %s: %w", dir, err)
	}
	return &Mount{dir: dir, log: log}, nil
}

// Dir is the mountpoint.
func (m *Mount) Dir() string { return m.dir }

// Unmount unmounts the tree, lazily (MNT_DETACH) if it is busy, and removes
// the mountpoint directory. A lazily detached tree keeps serving the files
// still open until they are closed; then its serving loops end.
func (m *Mount) Unmount() error {
	lazy, err := unmount(m.dir)
	if err != nil {
		return err
	}
	if lazy {
		m.log.Debug("fuse tree busy: detached lazily")
	}
	if err := os.Remove(m.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove mountpoint: %w", err)
	}
	return nil
}

// unmount unmounts dir, lazily if busy. A dir that is not a mountpoint
// (EINVAL) or is gone is not an error.
func unmount(dir string) (lazy bool, err error) {
	err = unix.Unmount(dir, 0)
	if errors.Is(err, unix.EBUSY) {
		lazy = true
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return lazy, fmt.Errorf("unmount %s: %w", dir, err)
	}
	return lazy, nil
}
