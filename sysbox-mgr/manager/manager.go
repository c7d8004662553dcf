// Package manager is sysbox-mgr's core: the containers it knows, their id
// leases and special dirs, persisted on every change, and the reaper that
// releases what belonged to containers the engine removed.
package manager

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/internal/daemon"
	"github.com/sysboxd/sysboxd/sysbox-mgr/idpool"
	"github.com/sysboxd/sysboxd/sysbox-mgr/specialdir"
	"github.com/sysboxd/sysboxd/sysbox-mgr/state"
)

var (
	// ErrInvalidArgument is wrapped for malformed requests.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound is wrapped when the container id is unknown.
	ErrNotFound = errors.New("unknown container")
	// ErrNoLease is wrapped by ReqMounts for a container without id block.
	ErrNoLease = errors.New("container holds no id lease")
)

// Config is what the manager needs.
type Config struct {
	// StatePath is the state file (in --state-dir).
	StatePath string
	// DataRoot holds the special dirs; it must exist (see
	// specialdir.PrepareDataRoot).
	DataRoot string
	// UIDs and GIDs are the pools leases come from.
	UIDs, GIDs idpool.Range
	// NoCopyOut turns off copying the special dirs into the container's
	// Docker layer when it stops (what makes `docker commit` capture
	// them).
	NoCopyOut bool
	// OnRelease, when set, is called with the id of each container
	// released (Unregister with release, or the reaper), after its lease
	// is gone; it must not call back into the manager.
	OnRelease func(id string)
	Log       logrus.FieldLogger
}

// Manager is safe for concurrent use. Lock order: an id's lock, then mu.
type Manager struct {
	cfg    Config
	log    logrus.FieldLogger
	copier *specialdir.Copier
	ids    keyedMutex

	mu   sync.Mutex
	pool *idpool.Pool
	recs map[string]*state.Lease
	// journaled counts the changes appended to the journal since the
	// last snapshot; snapshotDue says the journal may not match memory
	// (an append failed), so the next change writes a snapshot instead.
	journaled   int
	snapshotDue bool
}

// minCompact is the fewest journal entries that trigger a snapshot; above
// it a snapshot is written once the journal holds half as many entries as
// there are leases, which keeps a change O(1) amortized.
const minCompact = 1024

// New loads the state file and checks it against the pool. A state that
// does not fit (unknown version, overlapping leases, leases outside the
// pool, bad ids or paths) is an error naming the file: the manager never
// starts over silently, since that would hand out ranges still in use.
func New(cfg Config) (*Manager, error) {
	if cfg.Log == nil {
		l := logrus.New()
		l.SetOutput(os.Stderr)
		cfg.Log = l
	}
	f, replayed, err := state.LoadAll(cfg.StatePath)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:    cfg,
		log:    cfg.Log,
		copier: &specialdir.Copier{Log: cfg.Log},
		ids:    keyedMutex{locks: map[string]*idLock{}},
		pool:   idpool.New(cfg.UIDs, cfg.GIDs),
		recs:   map[string]*state.Lease{},
	}
	for i := range f.Leases {
		l := f.Leases[i]
		if err := checkRecord(&l); err != nil {
			return nil, fmt.Errorf("state file %s: %w", cfg.StatePath, err)
		}
		if l.Size > 0 {
			if err := m.pool.Add(l.ID, idpool.Block{UID: l.UID, GID: l.GID, Size: l.Size}); err != nil {
				return nil, fmt.Errorf("state file %s does not fit the id pool: %w", cfg.StatePath, err)
			}
		}
		m.recs[l.ID] = &l
	}
	if replayed > 0 {
		// Start from a snapshot: the journal is folded into it.
		if err := m.save(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func checkRecord(l *state.Lease) error {
	if !specialdir.ValidID(l.ID) {
		return fmt.Errorf("lease id %q is not a valid container id", l.ID)
	}
	if err := checkPath("rootfs", l.Rootfs); err != nil {
		return fmt.Errorf("lease %q: %w", l.ID, err)
	}
	return nil
}

func checkID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty container id", ErrInvalidArgument)
	}
	if !specialdir.ValidID(id) {
		return fmt.Errorf("%w: container id %q (want letters, digits, _ + - . and no leading dot)", ErrInvalidArgument, id)
	}
	return nil
}

func checkPath(what, p string) error {
	if p != "" && !filepath.IsAbs(p) {
		return fmt.Errorf("%w: %s %q is not absolute", ErrInvalidArgument, what, p)
	}
	if strings.ContainsRune(p, 0) {
		return fmt.Errorf("%w: %s %q contains a NUL byte", ErrInvalidArgument, what, p)
	}
	return nil
}

// Pool describes the id ranges leases come from.
func (m *Manager) Pool() (uids, gids idpool.Range) { return m.cfg.UIDs, m.cfg.GIDs }

// persist makes the change of id's record to next (nil: deleted) durable:
// one journal entry, or a snapshot when one is due. Caller holds mu and
// has applied the change to m.recs.
func (m *Manager) persist(id string, next *state.Lease) error {
	if m.snapshotDue {
		return m.save()
	}
	op := state.Op{Put: next}
	if next == nil {
		op = state.Op{Del: id}
	}
	if err := state.Append(m.cfg.StatePath, op); err != nil {
		m.snapshotDue = true
		return fmt.Errorf("persist state: %w", err)
	}
	m.journaled++
	if m.journaled >= max(minCompact, len(m.recs)/2) {
		// The change is durable already; a failed snapshot is retried.
		if err := m.save(); err != nil {
			m.log.WithError(err).Warn("state snapshot failed (the journal keeps every change)")
		}
	}
	return nil
}

// save writes the state file (a snapshot) and empties the journal. Caller
// holds mu.
func (m *Manager) save() error {
	f := &state.File{Version: state.Version, Leases: make([]state.Lease, 0, len(m.recs))}
	for _, r := range m.recs {
		f.Leases = append(f.Leases, *r)
	}
	slices.SortFunc(f.Leases, func(a, b state.Lease) int { return cmp.Compare(a.ID, b.ID) })
	if err := state.Save(m.cfg.StatePath, f); err != nil {
		m.snapshotDue = true
		return fmt.Errorf("persist state: %w", err)
	}
	m.journaled, m.snapshotDue = 0, false
	return nil
}

// Flush writes the state file once more (at shutdown).
func (m *Manager) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.save()
}

// change runs fn on id's record (nil when there is none; fn returns the
// new record, nil to delete it) and persists the result. fn may lease or
// free id's block in the pool. If the state cannot be written, the record
// and block are put back as they were and the error returned: memory never
// holds what the file does not. Caller holds id's lock, not mu.
func (m *Manager) change(id string, fn func(cur *state.Lease) (*state.Lease, error)) (*state.Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.recs[id]
	var cur *state.Lease
	if old != nil {
		c := *old
		c.Mounts = slices.Clone(old.Mounts)
		cur = &c
	}
	next, err := fn(cur)
	if err != nil {
		return nil, err
	}
	if next != nil && old != nil && reflect.DeepEqual(next, old) {
		return next, nil // nothing to persist
	}
	if next == nil {
		delete(m.recs, id)
	} else {
		m.recs[id] = next
	}
	if err := m.persist(id, next); err != nil {
		m.pool.Free(id)
		if old != nil && old.Size > 0 {
			// Cannot fail: the block was in the pool a moment ago.
			_ = m.pool.Add(id, idpool.Block{UID: old.UID, GID: old.GID, Size: old.Size})
		}
		if old == nil {
			delete(m.recs, id)
		} else {
			m.recs[id] = old
		}
		return nil, err
	}
	return next, nil
}

// Register records the container's rootfs and bundle and marks it
// running, creating its record if needed. The rootfs must exist.
func (m *Manager) Register(id, rootfs, bundle string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := checkPath("rootfs", rootfs); err != nil {
		return err
	}
	var dev uint64
	if rootfs != "" {
		rootfs = filepath.Clean(rootfs)
		if _, err := os.Lstat(rootfs); err != nil {
			return fmt.Errorf("%w: rootfs: %w", ErrInvalidArgument, err)
		}
		var st unix.Stat_t
		if err := unix.Stat(filepath.Dir(rootfs), &st); err != nil {
			return fmt.Errorf("stat parent of rootfs %s: %w", rootfs, err)
		}
		dev = st.Dev
	}
	unlock := m.ids.lock(id)
	defer unlock()
	_, err := m.change(id, func(cur *state.Lease) (*state.Lease, error) {
		if cur == nil {
			cur = &state.Lease{ID: id}
		}
		if rootfs != "" {
			cur.Rootfs, cur.RootfsDev = rootfs, dev
		}
		if bundle != "" {
			cur.Bundle = bundle
		}
		cur.Running = true
		return cur, nil
	})
	if err != nil {
		return err
	}
	m.log.WithFields(logrus.Fields{"id": id, "rootfs": rootfs}).Debug("registered")
	return nil
}

// SubidAlloc returns id's block, leasing one of size ids if id holds none.
func (m *Manager) SubidAlloc(id string, size uint32) (b idpool.Block, fresh bool, err error) {
	if err := checkID(id); err != nil {
		return idpool.Block{}, false, err
	}
	unlock := m.ids.lock(id)
	defer unlock()
	_, err = m.change(id, func(cur *state.Lease) (*state.Lease, error) {
		b, fresh, err = m.pool.Alloc(id, size)
		if err != nil {
			return nil, err
		}
		if cur == nil {
			cur = &state.Lease{ID: id}
		}
		cur.UID, cur.GID, cur.Size = b.UID, b.GID, b.Size
		return cur, nil
	})
	if err != nil {
		return idpool.Block{}, false, err
	}
	if fresh {
		m.log.WithFields(logrus.Fields{"id": id, "uids": fmt.Sprintf("%d-%d", b.UID, uint64(b.UID)+uint64(b.Size)-1),
			"gids": fmt.Sprintf("%d-%d", b.GID, uint64(b.GID)+uint64(b.Size)-1)}).Info("id range leased")
	}
	return b, fresh, nil
}

// Mount is a special dir as handed to the runtime: a bind mount of Source
// at Destination.
type Mount = state.Mount

// ReqMounts creates (first time: seeded from the image under rootfs) the
// container's special dirs and returns them. rootfs "" means the rootfs
// given to Register. userDests are paths the user mounts something at.
func (m *Manager) ReqMounts(id, rootfs string, userDests []string) ([]Mount, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if err := checkPath("rootfs", rootfs); err != nil {
		return nil, err
	}
	unlock := m.ids.lock(id)
	defer unlock()
	m.mu.Lock()
	rec, ok := m.recs[id]
	var owner specialdir.Owner
	if ok {
		owner = specialdir.Owner{UID: rec.UID, GID: rec.GID, Size: rec.Size}
		if rootfs == "" {
			rootfs = rec.Rootfs
		}
	}
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w %q: call Register and SubidAlloc first", ErrNotFound, id)
	}
	if owner.Size == 0 {
		return nil, fmt.Errorf("%w: %q must call SubidAlloc before ReqMounts", ErrNoLease, id)
	}
	kinds, err := specialdir.Destinations(rootfs, userDests)
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", id, err)
	}
	log := m.log.WithField("id", id)
	var mounts []Mount
	for _, k := range kinds {
		start := time.Now()
		dir, created, err := specialdir.Prepare(m.cfg.DataRoot, k, id, owner, rootfs, m.copier)
		if err != nil {
			return nil, fmt.Errorf("container %q: special dir for %s: %w", id, k.Dest, err)
		}
		if created {
			log.WithFields(logrus.Fields{"dir": dir, "dest": k.Dest, "took": time.Since(start).Round(time.Microsecond)}).Debug("special dir created")
		}
		mounts = append(mounts, Mount{Kind: k.Name, Source: dir, Destination: k.Dest})
	}
	_, err = m.change(id, func(cur *state.Lease) (*state.Lease, error) {
		if cur == nil { // cannot happen: we hold id's lock
			return nil, fmt.Errorf("%w %q", ErrNotFound, id)
		}
		cur.Mounts = mounts
		return cur, nil
	})
	if err != nil {
		return nil, err
	}
	return mounts, nil
}

// Unregister marks the container stopped, or with release frees its block
// and deletes its special dirs at once. An unknown id is ErrNotFound.
func (m *Manager) Unregister(id string, release bool) error {
	if err := checkID(id); err != nil {
		return err
	}
	unlock := m.ids.lock(id)
	defer unlock()
	if release {
		return m.release(id, "released by the runtime")
	}
	rec, err := m.change(id, func(cur *state.Lease) (*state.Lease, error) {
		if cur == nil {
			return nil, fmt.Errorf("%w %q", ErrNotFound, id)
		}
		cur.Running = false
		return cur, nil
	})
	if err != nil {
		return err
	}
	m.log.WithField("id", id).Debug("unregistered (lease kept)")
	if !m.cfg.NoCopyOut {
		m.copyOut(rec)
	}
	return nil
}

// copyOutBudget bounds the copy-out of one container's special dirs.
const copyOutBudget = 8 * time.Second

// copyOut mirrors rec's special dirs into its Docker layer, so that a
// `docker commit` of the stopped container captures them. Failures are
// logged: the container stopped either way. Caller holds rec's id lock.
func (m *Manager) copyOut(rec *state.Lease) {
	log := m.log.WithField("id", rec.ID)
	if rec.Size == 0 || rec.Rootfs == "" || len(rec.Mounts) == 0 {
		return
	}
	layer, ok, err := specialdir.Overlay2Layer(rec.Rootfs)
	if err != nil {
		log.WithError(err).Warn("special dirs not copied out for docker commit")
		return
	}
	if !ok {
		log.WithField("rootfs", rec.Rootfs).Debug("rootfs is not a Docker overlay2 layer: special dirs not copied out")
		return
	}
	owner := specialdir.Owner{UID: rec.UID, GID: rec.GID, Size: rec.Size}
	// The runtime's call times out after ipc.DefaultTimeout (10 s); past
	// that the engine may remove the layer under the copy.
	deadline := time.Now().Add(copyOutBudget)
	for _, mt := range rec.Mounts {
		start := time.Now()
		src := specialdir.HostDir(m.cfg.DataRoot, mt.Kind, rec.ID)
		copied, err := m.copier.CopyOut(src, layer.Upper, mt.Destination, owner, layer.Lowers, deadline)
		if err != nil {
			log.WithError(err).WithField("dest", mt.Destination).Warn("special dir not copied out for docker commit")
			continue
		}
		if copied {
			log.WithFields(logrus.Fields{"dest": mt.Destination, "took": time.Since(start).Round(time.Microsecond)}).
				Debug("special dir copied into the container's layer")
		}
	}
}

// release forgets id: its block goes back to the pool (persisted first),
// then its special dirs are deleted. Caller holds id's lock. Dirs that
// cannot be deleted now are logged; the sweep at the next start deletes
// them, since no lease keeps them any more.
func (m *Manager) release(id, reason string) error {
	var old state.Lease
	_, err := m.change(id, func(cur *state.Lease) (*state.Lease, error) {
		if cur == nil {
			return nil, fmt.Errorf("%w %q", ErrNotFound, id)
		}
		old = *cur
		m.pool.Free(id)
		return nil, nil
	})
	if err != nil {
		return err
	}
	log := m.log.WithField("id", id)
	if err := specialdir.Remove(m.cfg.DataRoot, id); err != nil {
		log.WithError(err).Warn("special dirs not fully deleted (retried at next start)")
	}
	if old.Size > 0 {
		log = log.WithField("uids", fmt.Sprintf("%d-%d", old.UID, uint64(old.UID)+uint64(old.Size)-1))
	}
	log.Infof("lease released: %s", reason)
	if m.cfg.OnRelease != nil {
		m.cfg.OnRelease(id)
	}
	return nil
}

// Reap releases every container whose recorded rootfs no longer exists:
// the engine removed it. Containers without a recorded rootfs are left
// alone. It returns how many it released.
func (m *Manager) Reap() int {
	m.mu.Lock()
	var cands []string
	for id, r := range m.recs {
		if r.Rootfs != "" {
			cands = append(cands, id)
		}
	}
	m.mu.Unlock()
	n := 0
	for _, id := range cands {
		if m.reapOne(id) {
			n++
		}
	}
	return n
}

// reapOne releases id if its rootfs is gone. The check is repeated under
// id's lock: a Register may have given it a new rootfs meanwhile.
func (m *Manager) reapOne(id string) bool {
	if _, ok := m.rootfsRemoved(id); !ok {
		return false
	}
	unlock := m.ids.lock(id)
	defer unlock()
	rootfs, ok := m.rootfsRemoved(id)
	if !ok {
		return false
	}
	if err := m.release(id, "rootfs "+rootfs+" is gone (container removed)"); err != nil {
		m.log.WithField("id", id).WithError(err).Warn("reaper: release failed")
		return false
	}
	return true
}

// rootfsRemoved reports whether the engine removed id's rootfs: the path
// is gone (ENOENT) while the filesystem that held it is still there. The
// second half keeps a filesystem that is not mounted (yet), e.g. a
// separate /var/lib/docker disk at boot, from looking as if every
// container was removed: the nearest existing ancestor of the rootfs must
// be on the device recorded at Register.
func (m *Manager) rootfsRemoved(id string) (rootfs string, removed bool) {
	m.mu.Lock()
	r, ok := m.recs[id]
	var dev uint64
	if ok {
		rootfs, dev = r.Rootfs, r.RootfsDev
	}
	m.mu.Unlock()
	if rootfs == "" {
		return rootfs, false
	}
	probe := removalProbe(rootfs)
	if _, err := os.Lstat(probe); !errors.Is(err, os.ErrNotExist) {
		return rootfs, false
	}
	if dev == 0 {
		return rootfs, true
	}
	var st unix.Stat_t
	for p := filepath.Dir(probe); ; p = filepath.Dir(p) {
		err := unix.Stat(p, &st)
		if err == nil {
			break
		}
		if p == "/" || !errors.Is(err, unix.ENOENT) {
			return rootfs, false
		}
	}
	if st.Dev != dev {
		m.log.WithFields(logrus.Fields{"id": id, "rootfs": rootfs}).
			Debug("rootfs missing, but so is the filesystem it was on: not releasing")
		return rootfs, false
	}
	return rootfs, true
}

// removalProbe is the path whose disappearance means the engine removed
// the container with this rootfs. Docker's overlay2 driver removes a
// container's <layer>/merged dir at every stop (it unmounts and rmdirs it)
// and the whole <layer> dir only at removal, so for a rootfs named
// "merged" the layer dir is watched; otherwise the rootfs itself.
func removalProbe(rootfs string) string {
	if filepath.Base(rootfs) == "merged" {
		return filepath.Dir(rootfs)
	}
	return rootfs
}

// RunReaper calls Reap every interval until ctx ends.
func (m *Manager) RunReaper(ctx context.Context, interval time.Duration) {
	daemon.Every(ctx, interval, func() { m.Reap() })
}

// Reconcile brings disk and state in line at start, before serving:
// leases of removed containers are released, and special dirs that no
// lease owns (a crash between forgetting a lease and deleting its dirs,
// or an interrupted seeding) are deleted.
func (m *Manager) Reconcile() error {
	m.Reap()
	m.mu.Lock()
	keep := make(map[string]bool, len(m.recs))
	for id := range m.recs {
		keep[id] = true
	}
	m.mu.Unlock()
	removed, err := specialdir.Sweep(m.cfg.DataRoot, func(id string) bool { return keep[id] })
	for _, id := range removed {
		m.log.WithField("id", id).Info("deleted special dirs no lease owns")
	}
	if err != nil {
		return fmt.Errorf("sweep special dirs: %w", err)
	}
	return nil
}

// Leases returns a copy of every record, ordered by uid then id.
func (m *Manager) Leases() []state.Lease {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]state.Lease, 0, len(m.recs))
	for _, r := range m.recs {
		c := *r
		c.Mounts = slices.Clone(r.Mounts)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b state.Lease) int {
		return cmp.Or(cmp.Compare(a.UID, b.UID), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// keyedMutex serializes the operations on one container id (a special
// dir copy may take long and must not block other containers).
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*idLock
}

type idLock struct {
	sync.Mutex
	refs int
}

func (k *keyedMutex) lock(id string) (unlock func()) {
	k.mu.Lock()
	l := k.locks[id]
	if l == nil {
		l = &idLock{}
		k.locks[id] = l
	}
	l.refs++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.locks, id)
		}
		k.mu.Unlock()
	}
}
