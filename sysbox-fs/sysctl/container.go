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
}

// NewContainer serves a container's /proc/sys: values for the emulated
// knobs, proc to open the others through, and initPid, which tells the
// container's init process (found under procDir) once it is known.
func NewContainer(values *Values, proc *Proc, procDir string, initPid func() int) *Container {
	return &Container{values: values, proc: proc, procDir: procDir, initPid: initPid}
}

// Values is the container's emulated knobs.
func (c *Container) Values() *Values { return c.values }

// Close ends the namespace thread.
func (c *Container) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ns != nil {
		c.ns.Close()
		c.ns = nil
	}
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
	var ferr error
	if err := ns.Do(func() { ferr = f() }); err != nil {
		return err
	}
	return ferr
}

// Lookup describes the entry at p ("net/ipv4/ip_forward"; "" is /proc/sys).
func (c *Container) Lookup(p string) (Entry, error) {
	name := path.Base(p)
	if k, ok := c.values.Table().Knob(p); ok {
		return Entry{Name: name, Mode: k.FileMode(), Emulated: true}, nil
	}
	var st unix.Stat_t
	err := c.in(func() error {
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
func (c *Container) ReadDir(p string) ([]Entry, error) {
	var ents []Entry
	err := c.in(func() error {
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

// File is a pass-through sysctl file open in the container's namespaces.
// Its reads and writes run there too: procfs takes the UTS namespace of
// kernel.hostname from the reader, not from the opener.
type File struct {
	c  *Container
	fd int
}

// Open opens the pass-through file at p with flags (O_RDONLY, O_WRONLY or
// O_RDWR). A write open of a file that Writable refuses fails with EACCES.
func (c *Container) Open(p string, flags int) (*File, error) {
	acc := flags & unix.O_ACCMODE
	if acc != unix.O_RDONLY && !Writable(p) {
		return nil, fmt.Errorf("sysctl %s: not writable from a container: %w", p, syscall.EACCES)
	}
	var fd int
	err := c.in(func() error {
		var err error
		fd, err = unix.Openat(c.proc.fd, sysPath(p), acc|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &File{c: c, fd: fd}, nil
}

// ReadAt reads at off, in the container's namespaces.
func (f *File) ReadAt(b []byte, off int64) (int, error) {
	var n int
	err := f.c.in(func() error {
		var err error
		n, err = unix.Pread(f.fd, b, off)
		return err
	})
	return n, err
}

// WriteAt writes at off, in the container's namespaces.
func (f *File) WriteAt(b []byte, off int64) (int, error) {
	var n int
	err := f.c.in(func() error {
		var err error
		n, err = unix.Pwrite(f.fd, b, off)
		return err
	})
	return n, err
}

// Close closes the file.
func (f *File) Close() error { return unix.Close(f.fd) }
