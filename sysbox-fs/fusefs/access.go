package fusefs

import (
	"context"
	"fmt"
	"math"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// IDRange is the host ids a container's processes run as: uids
// [UID, UID+Size) and gids [GID, GID+Size), the exclusive range the
// container's user namespace maps (PreRegister's uid, gid and size).
//
// Only a caller inside it gets the content of a file of the tree: the
// tree serves one container's values, and a host process (host root
// included) or another container's process that reaches the tree's path
// must not read them, nor write the container's knobs. The kernel reports
// a FUSE caller's fsuid and fsgid as the mounter (the host's user
// namespace) sees them, and a process of the container can only hold ids
// its namespace maps, so the check costs two comparisons and no syscall.
// A caller whose uid is in the range but whose gid is not is refused too:
// no process of the container can have that (its gid is mapped as well),
// so it is a host process that took one of the container's uids.
//
// Names, modes and owners (LOOKUP, GETATTR, READDIR) stay open to anyone:
// they are the same for every container, except the network devices below
// /proc/sys/net, and refusing them would break the kernel's revalidation
// of cached entries, which any caller may trigger (a failed revalidation
// drops the entry and detaches what is mounted on it, inside the
// container too).
type IDRange struct {
	UID, GID, Size uint32
}

// validate refuses a range that would admit host root or wraps past the
// largest id. An empty range (Size 0) is valid and admits no one.
func (r IDRange) validate() error {
	if r.Size == 0 {
		return nil
	}
	if r.UID == 0 || r.GID == 0 {
		return fmt.Errorf("caller range %d:%d+%d: would admit host root", r.UID, r.GID, r.Size)
	}
	if uint64(r.UID)+uint64(r.Size) > math.MaxUint32 || uint64(r.GID)+uint64(r.Size) > math.MaxUint32 {
		return fmt.Errorf("caller range %d:%d+%d: past the largest id", r.UID, r.GID, r.Size)
	}
	return nil
}

// admits reports whether uid and gid are both in the range. (The unsigned
// difference of an id below the start wraps to at least Size, as validate
// keeps the range below the largest id.)
func (r IDRange) admits(uid, gid uint32) bool {
	return uid-r.UID < r.Size && gid-r.GID < r.Size
}

// fromContainer reports whether the request in ctx comes from a process of
// the tree's container. A request without a caller is refused.
func (t *tree) fromContainer(ctx context.Context) bool {
	c, ok := fuse.FromContext(ctx)
	return ok && t.callers.admits(c.Uid, c.Gid)
}

// refused logs a request refused by fromContainer, at debug level: a host
// tool walking the mount root must not fill the log.
func (t *tree) refused(ctx context.Context, file, op string) {
	if c, ok := fuse.FromContext(ctx); ok {
		t.log.WithField("file", file).Debugf("%s by uid %d gid %d pid %d, not the container's: EACCES", op, c.Uid, c.Gid, c.Pid)
	}
}
