package server

import (
	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysfspb"
)

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

// Files returns the virtual files of a known container, as PreRegister
// answers them (destination in the container, host-side source), and
// whether the id is known. The seccomp agent puts them on the procfs it
// mounts for the container.
func (s *Server) Files(id string) ([]*pb.VirtualFile, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	if !ok {
		return nil, false
	}
	return s.files(c.mount.Dir(), c), true
}
