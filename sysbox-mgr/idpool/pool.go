package idpool

import (
	"errors"
	"fmt"
	"slices"
	"sort"
)

var (
	// ErrInvalidSize is wrapped for a block size of 0, one that is not a
	// multiple of BlockSize or one larger than the pool.
	ErrInvalidSize = errors.New("invalid id block size")
	// ErrExhausted is wrapped when no free range of the wanted size is left.
	ErrExhausted = errors.New("no free uid range")
	// ErrSizeMismatch is wrapped when an id that holds a block asks for a
	// different size.
	ErrSizeMismatch = errors.New("id already holds a block of another size")
	// ErrConflict is wrapped by Add for a block outside the pool, one that
	// overlaps another lease, or an id leased twice.
	ErrConflict = errors.New("conflicting lease")
)

// Block is one container's ids: host uids [UID, UID+Size) and host gids
// [GID, GID+Size).
type Block struct {
	UID  uint32
	GID  uint32
	Size uint32
}

func (b Block) uids() Range { return Range{Start: b.UID, Size: b.Size} }
func (b Block) gids() Range { return Range{Start: b.GID, Size: b.Size} }

// Pool tracks which container id holds which block. New blocks take the
// same offset in the uid and in the gid range (the two ranges may start at
// different ids). Pool is not safe for concurrent use: its owner locks.
type Pool struct {
	uids, gids Range
	leases     map[string]Block
	// uidUsed and gidUsed are the leased ranges, sorted by start (they
	// are disjoint), kept up to date so an allocation needs no sort.
	uidUsed, gidUsed []Range
}

// New returns an empty pool over the given uid and gid ranges.
func New(uids, gids Range) *Pool {
	return &Pool{uids: uids, gids: gids, leases: map[string]Block{}}
}

func insertSorted(used []Range, r Range) []Range {
	i := sort.Search(len(used), func(i int) bool { return used[i].Start >= r.Start })
	return slices.Insert(used, i, r)
}

func removeSorted(used []Range, r Range) []Range {
	i := sort.Search(len(used), func(i int) bool { return used[i].Start >= r.Start })
	if i < len(used) && used[i] == r {
		return slices.Delete(used, i, i+1)
	}
	return used
}

func (p *Pool) record(id string, b Block) {
	p.leases[id] = b
	p.uidUsed = insertSorted(p.uidUsed, b.uids())
	p.gidUsed = insertSorted(p.gidUsed, b.gids())
}

// UIDs and GIDs are the host id ranges the pool hands out.
func (p *Pool) UIDs() Range { return p.uids }

// GIDs is the host gid range the pool hands out.
func (p *Pool) GIDs() Range { return p.gids }

// Size is the largest block the pool could ever hand out.
func (p *Pool) Size() uint32 { return min(p.uids.Size, p.gids.Size) }

// Len is the number of leases.
func (p *Pool) Len() int { return len(p.leases) }

// Get returns the block id holds.
func (p *Pool) Get(id string) (Block, bool) {
	b, ok := p.leases[id]
	return b, ok
}

// Free releases id's block. It reports whether id held one.
func (p *Pool) Free(id string) bool {
	b, ok := p.leases[id]
	if ok {
		delete(p.leases, id)
		p.uidUsed = removeSorted(p.uidUsed, b.uids())
		p.gidUsed = removeSorted(p.gidUsed, b.gids())
	}
	return ok
}

// Add records a block held from before (loaded state). It refuses blocks
// outside the pool and blocks overlapping another lease.
func (p *Pool) Add(id string, b Block) error {
	if _, ok := p.leases[id]; ok {
		return fmt.Errorf("%w: %q is leased twice", ErrConflict, id)
	}
	if b.Size == 0 {
		return fmt.Errorf("%w: %q has an empty block", ErrConflict, id)
	}
	if !within(b.uids(), p.uids) || !within(b.gids(), p.gids) {
		return fmt.Errorf("%w: %q holds uids %v gids %v, outside the pool (uids %v, gids %v)",
			ErrConflict, id, b.uids(), b.gids(), p.uids, p.gids)
	}
	if hits(p.uidUsed, uint64(b.UID), uint64(b.Size)) || hits(p.gidUsed, uint64(b.GID), uint64(b.Size)) {
		for other, ob := range p.leases {
			if overlap(b.uids(), ob.uids()) || overlap(b.gids(), ob.gids()) {
				return fmt.Errorf("%w: %q (uids %v gids %v) overlaps %q (uids %v gids %v)",
					ErrConflict, id, b.uids(), b.gids(), other, ob.uids(), ob.gids())
			}
		}
	}
	p.record(id, b)
	return nil
}

// Alloc returns id's block, leasing the lowest free one of size ids if id
// holds none yet. fresh says whether this call made the lease.
func (p *Pool) Alloc(id string, size uint32) (b Block, fresh bool, err error) {
	if size == 0 || size%BlockSize != 0 || size > p.Size() {
		return Block{}, false, fmt.Errorf("%w: %d (want a positive multiple of %d, at most the pool size %d)",
			ErrInvalidSize, size, BlockSize, p.Size())
	}
	if b, ok := p.leases[id]; ok {
		if b.Size != size {
			return Block{}, false, fmt.Errorf("%w: %q holds %d ids, asked for %d", ErrSizeMismatch, id, b.Size, size)
		}
		return b, false, nil
	}
	off, ok := p.freeOffset(uint64(size))
	if !ok {
		return Block{}, false, fmt.Errorf("%w (%d in use; pool uids %v, gids %v; %d ids wanted)",
			ErrExhausted, len(p.leases), p.uids, p.gids, size)
	}
	b = Block{UID: p.uids.Start + uint32(off), GID: p.gids.Start + uint32(off), Size: size}
	p.record(id, b)
	return b, true, nil
}

// freeOffset finds the lowest offset o such that [o, o+size) is free in
// both the uid and the gid range. A free run starts either at 0 or right
// after a lease, so those are the only candidates to try: the ends of the
// sorted uid and gid ranges, merged in increasing order.
func (p *Pool) freeOffset(size uint64) (uint64, bool) {
	limit := uint64(p.Size())
	try := func(off uint64) bool {
		return off+size <= limit &&
			!hits(p.uidUsed, uint64(p.uids.Start)+off, size) && !hits(p.gidUsed, uint64(p.gids.Start)+off, size)
	}
	if try(0) {
		return 0, true
	}
	i, j := 0, 0
	for i < len(p.uidUsed) || j < len(p.gidUsed) {
		var off uint64
		switch {
		case j >= len(p.gidUsed) || i < len(p.uidUsed) &&
			p.uidUsed[i].End()-uint64(p.uids.Start) <= p.gidUsed[j].End()-uint64(p.gids.Start):
			off = p.uidUsed[i].End() - uint64(p.uids.Start)
			i++
		default:
			off = p.gidUsed[j].End() - uint64(p.gids.Start)
			j++
		}
		if off+size > limit {
			break
		}
		if try(off) {
			return off, true
		}
	}
	return 0, false
}

// hits reports whether [start, start+size) overlaps one of the sorted,
// mutually disjoint ranges in used.
func hits(used []Range, start, size uint64) bool {
	// First range that ends after start: the only one that can overlap
	// without starting inside [start, start+size).
	i := sort.Search(len(used), func(i int) bool { return used[i].End() > start })
	return i < len(used) && uint64(used[i].Start) < start+size
}

func within(r, pool Range) bool {
	return r.Start >= pool.Start && r.End() <= pool.End()
}

func overlap(a, b Range) bool {
	return uint64(a.Start) < b.End() && uint64(b.Start) < a.End()
}
