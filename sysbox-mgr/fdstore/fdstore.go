// Package fdstore holds copies of sysbox-fs's seccomp notify fds, so that
// they outlive a restart of sysbox-fs.
//
// A seccomp notify fd is the only way to answer a system container's
// trapped syscalls. While any copy of it is open, a trapped call waits for
// an answer; once the last copy closes, the kernel fails it (and every later
// trapped call of those processes) with ENOSYS. sysbox-fs hands each fd it
// serves to the store (Keep: the store copies it out of sysbox-fs with
// pidfd_getfd), and a restarted sysbox-fs copies them back from here.
//
// A copy is closed on Drop, when its container is released (DropAll), and
// on its own once it polls POLLHUP: the processes behind it are gone
// (Sweep, run periodically by Run and before every List). Copies are held
// in memory only; a restart of the manager loses them.
package fdstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/internal/daemon"
)

// ErrInvalidArgument is wrapped for malformed requests and for fds that
// are not seccomp notify fds.
var ErrInvalidArgument = errors.New("invalid argument")

// ErrClosed is returned by Keep after Close.
var ErrClosed = errors.New("fd store closed")

// maxKey bounds ids and tags (they are map keys and log fields).
const maxKey = 256

// notifyLink is what /proc/self/fd/N reads for a seccomp notify fd.
const notifyLink = "anon_inode:seccomp notify"

// Kept is one copy held.
type Kept struct {
	ID, Tag string
	// Fd is the copy's number in this process.
	Fd int
}

// Config lets tests replace how fds are copied and checked.
type Config struct {
	// Getfd copies fd number fd of process pid into this process, with
	// O_CLOEXEC set; pidfd_open + pidfd_getfd when nil.
	Getfd func(pid, fd int) (int, error)
	// Check returns an error unless fd (of this process) is a seccomp
	// notify fd; IsNotifyFd when nil.
	Check func(fd int) error
	Log   logrus.FieldLogger
}

type key struct{ id, tag string }

// Store is safe for concurrent use. Create it with New.
type Store struct {
	cfg Config

	mu     sync.Mutex
	fds    map[key]int
	closed bool
}

// New returns an empty store.
func New(cfg Config) *Store {
	if cfg.Getfd == nil {
		cfg.Getfd = Getfd
	}
	if cfg.Check == nil {
		cfg.Check = IsNotifyFd
	}
	if cfg.Log == nil {
		l := logrus.New()
		l.SetOutput(os.Stderr)
		cfg.Log = l
	}
	return &Store{cfg: cfg, fds: map[key]int{}}
}

// Getfd copies fd number fd of process pid into this process
// (pidfd_open, pidfd_getfd; the copy is O_CLOEXEC). Taking an fd from
// another process needs ptrace access to it (root, here).
func Getfd(pid, fd int) (int, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_open(%d): %w", pid, err)
	}
	defer unix.Close(pidfd)
	c, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_getfd(pid %d, fd %d): %w", pid, fd, err)
	}
	return c, nil
}

// IsNotifyFd checks that fd (of this process) is a seccomp notify fd.
func IsNotifyFd(fd int) error {
	link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return fmt.Errorf("inspect fd %d: %w", fd, err)
	}
	if link != notifyLink {
		return fmt.Errorf("%w: fd is %q, not a seccomp notify fd", ErrInvalidArgument, link)
	}
	return nil
}

func checkKey(id, tag string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty container id", ErrInvalidArgument)
	case tag == "":
		return fmt.Errorf("%w: empty tag", ErrInvalidArgument)
	case len(id) > maxKey || len(tag) > maxKey:
		return fmt.Errorf("%w: id or tag longer than %d bytes", ErrInvalidArgument, maxKey)
	}
	return nil
}

// Keep copies fd number fd of process pid and holds the copy under (id,
// tag), replacing (and closing) a copy held there before. The copy must be
// a seccomp notify fd; anything else is closed and refused with
// ErrInvalidArgument. The caller keeps fd open until Keep returns.
func (s *Store) Keep(id, tag string, pid, fd int) error {
	if err := checkKey(id, tag); err != nil {
		return err
	}
	if pid <= 0 || fd < 0 {
		return fmt.Errorf("%w: pid %d, fd %d", ErrInvalidArgument, pid, fd)
	}
	c, err := s.cfg.Getfd(pid, fd)
	if err != nil {
		if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.EBADF) {
			return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
		}
		return err
	}
	if err := s.cfg.Check(c); err != nil {
		unix.Close(c)
		if !errors.Is(err, ErrInvalidArgument) {
			err = fmt.Errorf("%w: %w", ErrInvalidArgument, err)
		}
		return fmt.Errorf("pid %d fd %d: %w", pid, fd, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		unix.Close(c)
		return ErrClosed
	}
	k := key{id, tag}
	old, replaced := s.fds[k]
	s.fds[k] = c
	n := len(s.fds)
	s.mu.Unlock()
	if replaced {
		unix.Close(old)
	}
	s.cfg.Log.WithFields(logrus.Fields{"id": id, "tag": tag, "fd": c, "kept": n}).Debug("keeping a copy of a seccomp notify fd")
	return nil
}

// Drop closes the copy held under (id, tag) and reports whether there was
// one.
func (s *Store) Drop(id, tag string) bool {
	s.mu.Lock()
	k := key{id, tag}
	c, ok := s.fds[k]
	delete(s.fds, k)
	s.mu.Unlock()
	if ok {
		unix.Close(c)
		s.cfg.Log.WithFields(logrus.Fields{"id": id, "tag": tag}).Debug("kept seccomp notify fd dropped")
	}
	return ok
}

// DropAll closes every copy held for container id (it was released) and
// returns how many.
func (s *Store) DropAll(id string) int {
	var fds []int
	s.mu.Lock()
	for k, c := range s.fds {
		if k.id == id {
			fds = append(fds, c)
			delete(s.fds, k)
		}
	}
	s.mu.Unlock()
	for _, c := range fds {
		unix.Close(c)
	}
	if len(fds) > 0 {
		s.cfg.Log.WithFields(logrus.Fields{"id": id, "fds": len(fds)}).Debug("container released: kept seccomp notify fds closed")
	}
	return len(fds)
}

// Sweep closes the copies that poll POLLHUP or POLLERR (every process
// behind them is gone) and returns how many it closed.
func (s *Store) Sweep() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fds) == 0 {
		return 0
	}
	keys := make([]key, 0, len(s.fds))
	pfds := make([]unix.PollFd, 0, len(s.fds))
	for k, c := range s.fds {
		keys = append(keys, k)
		// No events asked: poll reports POLLHUP, POLLERR and POLLNVAL
		// anyway, and never blocks with a zero timeout.
		pfds = append(pfds, unix.PollFd{Fd: int32(c)})
	}
	_, err := unix.Poll(pfds, 0)
	for errors.Is(err, unix.EINTR) {
		_, err = unix.Poll(pfds, 0)
	}
	if err != nil {
		s.cfg.Log.WithError(err).Warn("poll kept seccomp notify fds")
		return 0
	}
	n := 0
	for i, p := range pfds {
		switch {
		case p.Revents&unix.POLLNVAL != 0:
			// Not open any more (cannot happen: only the store closes
			// them); its number may be reused, so it is not closed.
			s.cfg.Log.WithFields(logrus.Fields{"id": keys[i].id, "tag": keys[i].tag}).Warn("kept seccomp notify fd was closed behind the store's back")
		case p.Revents&(unix.POLLHUP|unix.POLLERR) != 0:
			unix.Close(int(p.Fd))
			s.cfg.Log.WithFields(logrus.Fields{"id": keys[i].id, "tag": keys[i].tag}).Debug("processes gone: kept seccomp notify fd closed")
		default:
			continue
		}
		delete(s.fds, keys[i])
		n++
	}
	return n
}

// List sweeps, then returns the copies held, ordered by id and tag.
func (s *Store) List() []Kept {
	s.Sweep()
	s.mu.Lock()
	out := make([]Kept, 0, len(s.fds))
	for k, c := range s.fds {
		out = append(out, Kept{ID: k.id, Tag: k.tag, Fd: c})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Kept) int { return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Tag, b.Tag)) })
	return out
}

// Len is the number of copies held.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.fds)
}

// Run sweeps every interval until ctx ends.
func (s *Store) Run(ctx context.Context, interval time.Duration) {
	daemon.Every(ctx, interval, func() { s.Sweep() })
}

// Close closes every copy; later Keeps fail with ErrClosed.
func (s *Store) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for k, c := range s.fds {
		unix.Close(c)
		delete(s.fds, k)
	}
}
