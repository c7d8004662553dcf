package sysctl

import (
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Proc is a procfs the daemon opens sysctl files through: a detached
// clone of the host's /proc mount without its submounts (OpenProc), so
// that a mount on the host's /proc/sys/fs/binfmt_misc is not reached; any
// directory with a "sys" tree in tests.
type Proc struct {
	fd int
}

// OpenProc clones the procfs mounted at dir ("/proc"), without submounts.
func OpenProc(dir string) (*Proc, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_tree %s: %w", dir, err)
	}
	return &Proc{fd: fd}, nil
}

// OpenProcDir opens dir as it is (tests: a fake tree holding "sys").
func OpenProcDir(dir string) (*Proc, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return &Proc{fd: fd}, nil
}

// Close closes the procfs.
func (p *Proc) Close() error { return unix.Close(p.fd) }

func sysPath(p string) string {
	if p == "" {
		return "sys"
	}
	return "sys/" + p
}

// ErrNotRegistered is returned (as EAGAIN) while the container's init
// process is not known yet.
var ErrNotRegistered = fmt.Errorf("container not registered yet: %w", syscall.EAGAIN)

// Entry is one file or directory of a container's /proc/sys.
type Entry struct {
	Name string
	Dir  bool
	// Mode is the permission bits.
	Mode uint32
	// Emulated is set for a knob kept per container (Values).
	Emulated bool
}

// Container is one container's /proc/sys: its emulated values and the
// pass-through of the rest, in its namespaces.
type Container struct {
	values  *Values
	proc    *Proc
	procDir string     // where the init's /proc/<pid>/ns lives: "/proc"
	initPid func() int // 0 until the runtime registers the container

	mu sync.Mutex
	ns *Namespaces
	// callers are threads in namespaces of the container's processes other
	// than the init's (unshare -n, inner containers), one per namespace.
	callers map[nsID]*callerNS
	// idle is how long an unused caller's thread is kept (callerIdle).
	idle time.Duration
}

// nsID is one namespace: its kind and inode.
type nsID struct {
	kind kind
	ino  uint64
}

// callerNS is a thread in one caller's namespace, used by refs open
// files and lookups, idle since idle when refs is 0.
type callerNS struct {
	ns   *Namespaces
	refs int
	idle time.Time
}

const (
	// callerIdle is how long a thread in a caller's namespace is kept
	// without use: it holds the namespace alive, so a namespace whose last
	// process ended is released at most this long after its last use.
	callerIdle = 10 * time.Second
	// maxCallers bounds the threads in callers' namespaces per container.
	maxCallers = 64
)

// NewContainer serves a container's /proc/sys: values for the emulated
// knobs, proc to open the others through, and initPid, which tells the
// container's init process (found under procDir) once it is known.
func NewContainer(values *Values, proc *Proc, procDir string, initPid func() int) *Container {
	return &Container{values: values, proc: proc, procDir: procDir, initPid: initPid, idle: callerIdle}
}

// Values is the container's emulated knobs.
func (c *Container) Values() *Values { return c.values }

// Close ends the namespace threads.
func (c *Container) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ns != nil {
		c.ns.Close()
		c.ns = nil
	}
	for id, cn := range c.callers {
		cn.ns.Close()
		delete(c.callers, id)
	}
}

// kindOf is the namespace whose view of /proc/sys file or directory p
// the kernel takes from the process that opens (net) or reads (uts, ipc)
// it; kindNone for the others, the same in every namespace of the
// container.
func kindOf(p string) kind {
	switch {
	case p == "net" || strings.HasPrefix(p, "net/"):
		return kindNet
	case p == "fs/mqueue" || strings.HasPrefix(p, "fs/mqueue/"):
		return kindIPC
	case strings.HasPrefix(p, "kernel/"):
		switch strings.TrimPrefix(p, "kernel/") {
		case "hostname", "domainname":
			return kindUTS
		case "shmmax", "shmall", "shmmni", "shm_rmid_forced", "shm_next_id",
			"msgmax", "msgmni", "msgmnb", "msg_next_id",
			"sem", "sem_next_id", "auto_msgmni":
			return kindIPC
		}
	}
	return kindNone
}

// nsFor returns the thread to serve file p for the caller pid (its host
// pid; 0 for none: the init's namespaces) and the function that gives it
// back. A caller in the init's namespace of p's kind gets the init's
// thread; another gets a thread in its own namespace of that kind (net
// for net/..., ...), kept per namespace inode while in use and callerIdle
// after. The cost on the common path is one stat of /proc/<pid>/ns/<kind>.
func (c *Container) nsFor(pid int, p string) (*Namespaces, func(), error) {
	initNS, err := c.namespaces()
	if err != nil {
		return nil, nil, err
	}
	k := kindOf(p)
	if k == kindNone || pid <= 0 || pid == initNS.Pid() {
		return initNS, func() {}, nil
	}
	var st unix.Stat_t
	nsPath := fmt.Sprintf("%s/%d/ns/%s", c.procDir, pid, joined[k].name)
	if err := unix.Stat(nsPath, &st); err != nil {
		return nil, nil, fmt.Errorf("caller's namespace: stat %s: %w", nsPath, err)
	}
	if st.Ino == initNS.ino[k] {
		return initNS, func() {}, nil
	}
	if cn := c.takeCaller(nsID{k, st.Ino}); cn != nil {
		return cn.ns, c.releaser(nsID{k, st.Ino}), nil
	}
	ns, err := join(c.procDir, pid, []kind{k}, []int{pid, initNS.Pid()})
	if err != nil {
		return nil, nil, err
	}
	id := nsID{k, ns.ino[k]} // the namespace joined, should pid have moved since the stat
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.callers == nil {
		c.callers = map[nsID]*callerNS{}
	}
	if cn, ok := c.callers[id]; ok { // another request joined it meanwhile
		ns.Close()
		cn.refs++
		return cn.ns, c.releaser(id), nil
	}
	c.sweepLocked(time.Now())
	if len(c.callers) >= maxCallers {
		ns.Close()
		return nil, nil, fmt.Errorf("%d namespaces of the container's processes in use: %w", maxCallers, syscall.EAGAIN)
	}
	c.callers[id] = &callerNS{ns: ns, refs: 1}
	return ns, c.releaser(id), nil
}

func (c *Container) takeCaller(id nsID) *callerNS {
	c.mu.Lock()
	defer c.mu.Unlock()
	cn, ok := c.callers[id]
	if !ok {
		return nil
	}
	cn.refs++
	return cn
}

func (c *Container) releaser(id nsID) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			now := time.Now()
			if cn, ok := c.callers[id]; ok {
				if cn.refs--; cn.refs == 0 {
					cn.idle = now
				}
			}
			c.sweepLocked(now)
		})
	}
}

// sweepLocked ends the threads of callers' namespaces unused for
// callerIdle, giving their namespaces back to the kernel.
func (c *Container) sweepLocked(now time.Time) {
	for id, cn := range c.callers {
		if cn.refs == 0 && now.Sub(cn.idle) >= c.idle {
			cn.ns.Close()
			delete(c.callers, id)
		}
	}
}

// callerThreads is the number of threads in callers' namespaces (tests).
func (c *Container) callerThreads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.callers)
}

// namespaces returns the thread in the container's namespaces, starting
// it (again, if the init process changed) when needed.
func (c *Container) namespaces() (*Namespaces, error) {
	pid := c.initPid()
	if pid <= 0 {
		return nil, ErrNotRegistered
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ns != nil && c.ns.Pid() == pid {
		return c.ns, nil
	}
	if c.ns != nil {
		c.ns.Close()
		c.ns = nil
	}
	ns, err := JoinNamespaces(c.procDir, pid)
	if err != nil {
		return nil, err
	}
	c.ns = ns
	return ns, nil
}

// in runs f in the container's namespaces.
func (c *Container) in(f func() error) error {
	ns, err := c.namespaces()
	if err != nil {
		return err
	}
	return do(ns, f)
}

// inFor runs f in the namespaces that serve p to the caller pid.
func (c *Container) inFor(pid int, p string, f func() error) error {
	ns, release, err := c.nsFor(pid, p)
	if err != nil {
		return err
	}
	defer release()
	return do(ns, f)
}

func do(ns *Namespaces, f func() error) error {
	var ferr error
	if err := ns.Do(func() { ferr = f() }); err != nil {
		return err
	}
	return ferr
}

// Lookup describes the entry at p ("net/ipv4/ip_forward"; "" is /proc/sys)
// in the init's namespaces.
func (c *Container) Lookup(p string) (Entry, error) { return c.LookupFor(0, p) }

// LookupFor describes the entry at p as the caller pid sees it.
func (c *Container) LookupFor(pid int, p string) (Entry, error) {
	name := path.Base(p)
	if k, ok := c.values.Table().Knob(p); ok {
		return Entry{Name: name, Mode: k.FileMode(), Emulated: true}, nil
	}
	var st unix.Stat_t
	err := c.inFor(pid, p, func() error {
		return unix.Fstatat(c.proc.fd, sysPath(p), &st, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err == nil {
		return Entry{Name: name, Dir: st.Mode&unix.S_IFMT == unix.S_IFDIR, Mode: st.Mode & 0o777}, nil
	}
	if errors.Is(err, unix.ENOENT) && c.values.Table().IsDir(p) {
		return Entry{Name: name, Dir: true, Mode: 0o555}, nil
	}
	return Entry{}, err
}

// ReadDir lists directory p: what the kernel shows in the container's
// namespaces, plus the emulated knobs (and their directories) it lacks.
func (c *Container) ReadDir(p string) ([]Entry, error) { return c.ReadDirFor(0, p) }

// ReadDirFor lists directory p as the caller pid sees it.
func (c *Container) ReadDirFor(pid int, p string) ([]Entry, error) {
	var ents []Entry
	err := c.inFor(pid, p, func() error {
		fd, err := unix.Openat(c.proc.fd, sysPath(p), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), sysPath(p))
		defer f.Close()
		des, err := f.ReadDir(-1)
		if err != nil {
			return err
		}
		for _, de := range des {
			if de.Type()&os.ModeSymlink != 0 {
				continue // procfs has none under sys; never follow one
			}
			ents = append(ents, Entry{Name: de.Name(), Dir: de.IsDir()})
		}
		return nil
	})
	table := c.values.Table()
	if err != nil && !(errors.Is(err, unix.ENOENT) && table.IsDir(p)) {
		return nil, err
	}
	seen := map[string]bool{}
	for _, e := range ents {
		seen[e.Name] = true
	}
	for _, name := range table.Names(p) {
		if seen[name] {
			continue
		}
		child := name
		if p != "" {
			child = p + "/" + name
		}
		_, isKnob := table.Knob(child)
		ents = append(ents, Entry{Name: name, Dir: !isKnob, Emulated: isKnob})
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	return ents, nil
}

// Writable reports whether container root may write the pass-through file
// at p: only the sysctls of the namespaces the thread joins (all of net,
// the UTS and IPC ones of kernel, fs/mqueue). The daemon opens files as host
// root, so any other file would reach the host's kernel: those are refused
// (EACCES), as the kernel refuses a user-namespaced root.
func Writable(p string) bool {
	switch {
	case strings.HasPrefix(p, "net/"), strings.HasPrefix(p, "fs/mqueue/"):
		return true
	case strings.HasPrefix(p, "kernel/"):
		switch strings.TrimPrefix(p, "kernel/") {
		case "hostname", "domainname",
			"shmmax", "shmall", "shmmni", "shm_rmid_forced", "shm_next_id",
			"msgmax", "msgmni", "msgmnb", "msg_next_id",
			"sem", "sem_next_id", "auto_msgmni":
			return true
		}
	}
	return false
}

// File is a pass-through sysctl file open in the namespaces of its
// opener. Its reads and writes run there too: procfs takes the UTS and IPC
// namespaces of kernel.hostname or kernel.shmmax from the reader, not from
// the opener.
type File struct {
	c       *Container
	ns      *Namespaces // nil: the init's, found again at each use
	release func()
	ipc     bool // an IPC namespace's knob: written as its owner's root
	// gids, for ping_group_range, is the opener's user namespace's
	// gid_map: its gids are translated to and from the host's.
	gids idMap
	fd   int
}

// Open opens the pass-through file at p with flags (O_RDONLY, O_WRONLY or
// O_RDWR) in the init's namespaces.
func (c *Container) Open(p string, flags int) (*File, error) { return c.OpenFor(0, p, flags) }

// OpenFor opens the pass-through file at p with flags (O_RDONLY, O_WRONLY
// or O_RDWR) in the namespaces of the caller pid (see nsFor). A write open
// of a file that Writable refuses fails with EACCES.
func (c *Container) OpenFor(pid int, p string, flags int) (*File, error) {
	acc := flags & unix.O_ACCMODE
	if acc != unix.O_RDONLY && !Writable(p) {
		return nil, fmt.Errorf("sysctl %s: not writable from a container: %w", p, syscall.EACCES)
	}
	ns, release, err := c.nsFor(pid, p)
	if err != nil {
		return nil, err
	}
	f := &File{c: c, ns: ns, release: release, ipc: kindOf(p) == kindIPC}
	if p == pingGroupRange {
		if f.gids, err = c.gidMap(pid); err != nil {
			release()
			return nil, err
		}
	}
	if ns == c.initNamespaces() {
		release()
		f.ns, f.release = nil, func() {}
	}
	open := func() error {
		var err error
		f.fd, err = unix.Openat(c.proc.fd, sysPath(p), acc|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		return err
	}
	if f.ipc && acc != unix.O_RDONLY {
		err = do(ns, func() error { return ns.AsIPCRoot(open) })
	} else {
		err = do(ns, open)
	}
	if err != nil {
		f.release()
		return nil, err
	}
	return f, nil
}

// gidMap is the gid_map of the user namespace of pid, of the init when
// pid is 0.
func (c *Container) gidMap(pid int) (idMap, error) {
	if pid <= 0 {
		if pid = c.initPid(); pid <= 0 {
			return nil, ErrNotRegistered
		}
	}
	p := fmt.Sprintf("%s/%d/gid_map", c.procDir, pid)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("caller's gids: %w", err)
	}
	m, err := parseIDMap(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return m, nil
}

// initNamespaces is the init's thread now, nil if none.
func (c *Container) initNamespaces() *Namespaces {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ns
}

// run runs f on the file's thread: its caller's, or the init's.
func (f *File) run(write bool, fn func() error) error {
	ns := f.ns
	if ns == nil {
		var err error
		if ns, err = f.c.namespaces(); err != nil {
			return err
		}
	}
	if write && f.ipc {
		return do(ns, func() error { return ns.AsIPCRoot(fn) })
	}
	return do(ns, fn)
}

// ReadAt reads at off, in the opener's namespaces.
func (f *File) ReadAt(b []byte, off int64) (int, error) {
	if f.gids != nil {
		return f.readGids(b, off)
	}
	var n int
	err := f.run(false, func() error {
		var err error
		n, err = unix.Pread(f.fd, b, off)
		return err
	})
	return n, err
}

// readGids reads ping_group_range as the opener's user namespace shows it.
func (f *File) readGids(b []byte, off int64) (int, error) {
	buf := make([]byte, 64)
	var n int
	err := f.run(false, func() error {
		var err error
		n, err = unix.Pread(f.fd, buf, 0)
		return err
	})
	if err != nil {
		return 0, err
	}
	s, err := gidRangeFromHost(string(buf[:n]), f.gids)
	if err != nil {
		return 0, err
	}
	if off >= int64(len(s)) {
		return 0, nil
	}
	return copy(b, s[off:]), nil
}

// WriteAt writes at off, in the opener's namespaces.
func (f *File) WriteAt(b []byte, off int64) (int, error) {
	if f.gids != nil {
		if off != 0 {
			return 0, fmt.Errorf("ping_group_range: write at offset %d: %w", off, syscall.EINVAL)
		}
		s, err := gidRangeToHost(string(b), f.gids)
		if err != nil {
			return 0, err
		}
		err = f.run(true, func() error {
			_, err := unix.Pwrite(f.fd, []byte(s), 0)
			return err
		})
		if err != nil {
			return 0, err
		}
		return len(b), nil
	}
	var n int
	err := f.run(true, func() error {
		var err error
		n, err = unix.Pwrite(f.fd, b, off)
		return err
	})
	return n, err
}

// Close closes the file and gives its thread back.
func (f *File) Close() error {
	err := unix.Close(f.fd)
	f.release()
	return err
}
