package server

import "github.com/sysboxd/sysboxd/sysbox-fs/handler"

// Container returns the current view of a pre-registered container, as its
// virtual files see it, and whether the id is known. sysbox-fs's seccomp
// agent answers trapped syscalls from it.
func (s *Server) Container(id string) (handler.Container, bool) {
	s.mu.Lock()
	c, ok := s.containers[id]
	s.mu.Unlock()
	if !ok {
		return handler.Container{}, false
	}
	return c.view(), true
}
