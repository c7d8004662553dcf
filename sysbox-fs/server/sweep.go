package server

import (
	"time"

	"github.com/sirupsen/logrus"
)

const (
	// sweepInterval is how often the daemon looks for trees nobody will
	// unregister.
	sweepInterval = 30 * time.Second
	// preRegisterTTL bounds the time between PreRegister and Register: the
	// runtime registers at the end of create, seconds after.
	preRegisterTTL = 2 * time.Minute
)

// sweep unmounts the trees the runtime will not unregister: a container
// whose init is gone (the runtime's Unregister at delete did not reach
// the daemon: it was down or restarting) and one pre-registered more than
// preRegisterTTL ago and never registered (a create that failed, or was
// killed, after PreRegister). Both are safe to drop: a container that
// starts again is created, and pre-registered, anew.
func (s *Server) sweep() {
	now := s.cfg.Host.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range s.containers {
		initPid := c.view().InitPid
		var why string
		switch {
		case initPid > 0 && !s.initAlive(initPid, c.initTicks.Load()):
			why = "container's init is gone and it was not unregistered: fuse tree removed"
		case initPid == 0 && now.Sub(c.preRegistered) > preRegisterTTL:
			why = "container pre-registered long ago and never registered: fuse tree removed"
		default:
			continue
		}
		log := s.cfg.Log.WithFields(logrus.Fields{"id": id, "init_pid": initPid})
		if err := s.dropLocked(c); err != nil {
			log.WithError(err).Warn("cannot remove a stale fuse tree")
			continue
		}
		log.Info(why)
	}
}

// initAlive reports whether pid runs and, when ticks is known, is the
// process that started at ticks.
func (s *Server) initAlive(pid int, ticks uint64) bool {
	got, err := processStartTicks(s.procDir(), pid)
	return err == nil && (ticks == 0 || got == ticks)
}
