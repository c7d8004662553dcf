package seccomp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Keeper keeps copies of notify fds outside sysbox-fs (sysbox-mgr's
// KeepFd, DropFd and KeptFds rpcs).
type Keeper interface {
	// KeepFd has the keeper copy fd number fd of process pid (the agent;
	// fd stays open until the call returns) and hold it under (id, tag).
	KeepFd(ctx context.Context, id string, pid, fd int, tag string) error
	// DropFd closes the copy held under (id, tag); an unknown pair is
	// not an error.
	DropFd(ctx context.Context, id, tag string) error
	// KeptFds returns the keeper's pid and the copies it holds.
	KeptFds(ctx context.Context) (pid int, fds []KeptFd, err error)
}

// KeptFd is one copy a keeper holds; Fd is its number in the keeper.
type KeptFd struct {
	ID, Tag string
	Fd      int
}

// ErrRefused is wrapped by a Keeper's KeepFd error when the keeper works
// but refuses that fd: the fd is then not offered again.
var ErrRefused = errors.New("keeper refused the fd")

// keeperTimeout bounds each keeper call; the keeper is local.
const keeperTimeout = 3 * time.Second

// defaultKeeperRetry is Config.KeeperRetry's default.
const defaultKeeperRetry = time.Second

// newTag returns a tag no other fd of this or another agent instance with
// the same owner has: owner, the process the fd came for, and the agent's
// start time and a counter.
func (a *Agent) newTag(pid int) string {
	return fmt.Sprintf("%s#%d-%x-%d", a.cfg.Owner, pid, a.start.UnixNano(), a.seq.Add(1))
}

// ours reports whether a keeper's copy was kept by an agent with this
// agent's owner.
func (a *Agent) ours(tag string) bool {
	return strings.HasPrefix(tag, a.cfg.Owner+"#")
}

// keep has the keeper copy ln's fd, unless the keeper is down (retried
// every Config.KeeperRetry until it is back).
func (a *Agent) keep(ln *listener) {
	if a.cfg.Keeper == nil {
		return
	}
	a.keepMu.Lock()
	defer a.keepMu.Unlock()
	if a.keeperDown {
		return
	}
	a.keepLocked(context.Background(), ln)
}

// keepLocked does keep's call; caller holds keepMu.
func (a *Agent) keepLocked(ctx context.Context, ln *listener) {
	if ln.gone || ln.kept || ln.refused {
		return
	}
	var err error
	ctrlErr := withFD(ln.f, func(fd uintptr) {
		ctx, cancel := context.WithTimeout(ctx, keeperTimeout)
		defer cancel()
		err = a.cfg.Keeper.KeepFd(ctx, ln.id, os.Getpid(), int(fd), ln.tag)
	})
	switch {
	case ctrlErr != nil: // closed meanwhile: forget follows
	case errors.Is(err, ErrRefused):
		ln.refused = true
		ln.log.WithError(err).Warn("seccomp agent: sysbox-mgr refused to keep a copy of the notify fd")
	case err != nil:
		a.keeperFailed(ctx, ln.log, err)
	default:
		ln.kept = true
		a.keeperUp()
		ln.log.WithField("tag", ln.tag).Debug("seccomp agent: sysbox-mgr keeps a copy of the notify fd")
	}
}

// drop has the keeper close its copy of a forgotten listener's fd.
func (a *Agent) drop(ln *listener) {
	if a.cfg.Keeper == nil {
		return
	}
	a.keepMu.Lock()
	defer a.keepMu.Unlock()
	ln.gone = true
	if !ln.kept {
		return
	}
	ln.kept = false
	a.dropLocked(context.Background(), ln.log, ln.id, ln.tag)
}

// dropLocked asks the keeper to drop (id, tag). If it cannot, the keeper
// closes the copy itself once the processes are gone or the container is
// released, and the next sweep's reconcile asks again.
func (a *Agent) dropLocked(ctx context.Context, log logrus.FieldLogger, id, tag string) {
	ctx, cancel := context.WithTimeout(ctx, keeperTimeout)
	defer cancel()
	if err := a.cfg.Keeper.DropFd(ctx, id, tag); err != nil {
		a.keeperFailed(ctx, log, err)
		return
	}
	a.keeperUp()
}

// keeperFailed records a failed keeper call: a warning the first time,
// debug after that until a call succeeds. A call cut off because the agent
// stops (ctx done) counts for nothing. Caller holds keepMu.
func (a *Agent) keeperFailed(ctx context.Context, log logrus.FieldLogger, err error) {
	if ctx.Err() != nil {
		return
	}
	a.keeperDown = true
	log = log.WithError(err)
	if a.keeperWarned {
		log.Debug("seccomp agent: sysbox-mgr still does not keep notify fds")
		return
	}
	a.keeperWarned = true
	log.Warn("seccomp agent: sysbox-mgr does not keep copies of the notify fds (down, or a version without KeepFd): they will not survive a restart of sysbox-fs")
}

// keeperIsDown reports whether the last keeper call failed.
func (a *Agent) keeperIsDown() bool {
	a.keepMu.Lock()
	defer a.keepMu.Unlock()
	return a.keeperDown
}

// keeperUp records a successful keeper call. Caller holds keepMu.
func (a *Agent) keeperUp() {
	if a.keeperDown && a.keeperWarned {
		a.cfg.Log.Debug("seccomp agent: sysbox-mgr keeps notify fds again")
	}
	a.keeperDown, a.keeperWarned = false, false
}

// keptFds asks the keeper for its copies (this agent's owner's only).
// Caller holds keepMu.
func (a *Agent) keptFds(ctx context.Context) (pid int, mine []KeptFd, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, keeperTimeout)
	defer cancel()
	pid, all, err := a.cfg.Keeper.KeptFds(ctx)
	if err != nil {
		a.keeperFailed(ctx, a.cfg.Log, err)
		return 0, nil, false
	}
	a.keeperUp()
	for _, k := range all {
		if a.ours(k.Tag) {
			mine = append(mine, k)
		}
	}
	return pid, mine, true
}

// takeBack serves the copies the keeper holds (a previous agent's fds):
// each is copied back with pidfd_getfd(2) from the keeper and served for
// its container; copies of containers sysbox-fs does not know (they ended
// while no agent ran) are dropped. It runs before the agent takes new
// fds, so no KeepFd can reuse a listed fd number meanwhile; a number the
// keeper closed and reused for anything else fails the notify-fd check.
func (a *Agent) takeBack(ctx context.Context) {
	if a.cfg.Keeper == nil {
		return
	}
	a.keepMu.Lock()
	defer a.keepMu.Unlock()
	pid, kept, ok := a.keptFds(ctx)
	if !ok || len(kept) == 0 {
		return
	}
	log := a.cfg.Log.WithField("keeper_pid", pid)
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		log.WithError(err).Warn("seccomp agent: cannot take back the notify fds kept by sysbox-mgr")
		return
	}
	defer unix.Close(pidfd)
	served := 0
	for _, k := range kept {
		klog := a.cfg.Log.WithFields(logrus.Fields{"id": k.ID, "tag": k.Tag})
		if _, known := a.cfg.Lookup(k.ID); !known {
			klog.Debug("seccomp agent: kept notify fd of a container sysbox-fs does not know: dropped")
			a.dropLocked(ctx, klog, k.ID, k.Tag)
			continue
		}
		f, err := takeFrom(pidfd, k.Fd)
		if err != nil {
			klog.WithError(err).Warn("seccomp agent: cannot take back a kept notify fd: dropped")
			a.dropLocked(ctx, klog, k.ID, k.Tag)
			continue
		}
		ln := &listener{id: k.ID, f: f, log: klog, tag: k.Tag, kept: true, registered: true}
		if !a.add(ln) {
			return
		}
		served++
	}
	if served > 0 {
		log.WithField("fds", served).Info("seccomp agent: serving the notify fds kept by sysbox-mgr across the restart")
	}
}

// takeFrom copies fd number fd out of the process behind pidfd and wraps
// it for serving (it must be a seccomp notify fd).
func takeFrom(pidfd, fd int) (*os.File, error) {
	c, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_getfd(fd %d): %w", fd, err)
	}
	f, err := pollable(c)
	if err != nil {
		unix.Close(c)
		return nil, err
	}
	return f, nil
}

// reconcile brings the keeper's copies in line with the fds served: one
// KeptFds call, then KeepFd for each fd whose copy is missing (kept while
// the keeper was down, or lost in its restart) and DropFd for each copy of
// an fd no longer served (its DropFd failed). Called at every sweep.
func (a *Agent) reconcile(ctx context.Context) {
	if a.cfg.Keeper == nil {
		return
	}
	a.keepMu.Lock()
	defer a.keepMu.Unlock()
	_, kept, ok := a.keptFds(ctx)
	if !ok {
		return
	}
	held := make(map[string]bool, len(kept))
	for _, k := range kept {
		held[k.ID+"\x00"+k.Tag] = true
	}
	a.mu.Lock()
	lns := make([]*listener, 0, len(a.fds))
	for ln := range a.fds {
		lns = append(lns, ln)
	}
	a.mu.Unlock()
	served := make(map[string]bool, len(lns))
	for _, ln := range lns {
		if ln.gone {
			continue
		}
		k := ln.id + "\x00" + ln.tag
		served[k] = true
		if ln.kept && !held[k] {
			ln.log.WithField("tag", ln.tag).Debug("seccomp agent: sysbox-mgr lost its copy of the notify fd (restarted?): keeping it again")
			ln.kept = false
		}
		if !ln.kept {
			a.keepLocked(ctx, ln)
			if a.keeperDown {
				return
			}
		}
	}
	for _, k := range kept {
		if !served[k.ID+"\x00"+k.Tag] {
			log := a.cfg.Log.WithFields(logrus.Fields{"id": k.ID, "tag": k.Tag})
			log.Debug("seccomp agent: sysbox-mgr keeps a copy of an fd no longer served: dropped")
			a.dropLocked(ctx, log, k.ID, k.Tag)
			if a.keeperDown {
				return
			}
		}
	}
}
