// Package server exposes the manager over gRPC (the SysMgr service of
// sysbox-ipc/proto/sysmgr.proto) and maps its errors to status codes:
//
//	bad id, path or size,
//	fd that is not a seccomp notify fd  InvalidArgument
//	unknown id (Unregister, ReqMounts)  NotFound (the runtime ignores it on delete)
//	pool exhausted                 ResourceExhausted
//	ReqMounts before SubidAlloc,
//	same id asking another size    FailedPrecondition
//	anything else (disk, state)    Internal
//
// The fd rpcs (KeepFd, DropFd, KeptFds) answer Unimplemented when the
// server has no fd store.
package server

import (
	"context"
	"errors"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysmgrpb"
	"github.com/sysboxd/sysboxd/sysbox-mgr/fdstore"
	"github.com/sysboxd/sysboxd/sysbox-mgr/idpool"
	"github.com/sysboxd/sysboxd/sysbox-mgr/manager"
	"github.com/sysboxd/sysboxd/sysbox-mgr/state"
)

// Server implements pb.SysMgrServer.
type Server struct {
	pb.UnimplementedSysMgrServer
	m   *manager.Manager
	fds *fdstore.Store
}

// New returns the gRPC service for m, keeping notify fds in fds (nil: the
// fd rpcs are unimplemented).
func New(m *manager.Manager, fds *fdstore.Store) *Server { return &Server{m: m, fds: fds} }

// NewGRPC returns a gRPC server with the service registered.
func NewGRPC(m *manager.Manager, fds *fdstore.Store) *grpc.Server {
	g := grpc.NewServer()
	pb.RegisterSysMgrServer(g, New(m, fds))
	return g
}

func toStatus(err error) error {
	if err == nil {
		return nil
	}
	code := codes.Internal
	switch {
	case errors.Is(err, manager.ErrInvalidArgument), errors.Is(err, idpool.ErrInvalidSize),
		errors.Is(err, fdstore.ErrInvalidArgument):
		code = codes.InvalidArgument
	case errors.Is(err, manager.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, idpool.ErrExhausted):
		code = codes.ResourceExhausted
	case errors.Is(err, manager.ErrNoLease), errors.Is(err, idpool.ErrSizeMismatch):
		code = codes.FailedPrecondition
	}
	return status.Error(code, err.Error())
}

// Register implements pb.SysMgrServer.
func (s *Server) Register(_ context.Context, r *pb.RegisterRequest) (*pb.RegisterResponse, error) {
	if err := s.m.Register(r.GetId(), r.GetRootfs(), r.GetBundle()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.RegisterResponse{}, nil
}

// SubidAlloc implements pb.SysMgrServer.
func (s *Server) SubidAlloc(_ context.Context, r *pb.SubidAllocRequest) (*pb.SubidAllocResponse, error) {
	b, fresh, err := s.m.SubidAlloc(r.GetId(), r.GetSize())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.SubidAllocResponse{Uid: b.UID, Gid: b.GID, Size: b.Size, Fresh: fresh}, nil
}

// ReqMounts implements pb.SysMgrServer.
func (s *Server) ReqMounts(_ context.Context, r *pb.ReqMountsRequest) (*pb.ReqMountsResponse, error) {
	mounts, err := s.m.ReqMounts(r.GetId(), r.GetRootfs(), r.GetUserDestinations())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ReqMountsResponse{Mounts: toPB(mounts)}, nil
}

// Unregister implements pb.SysMgrServer.
func (s *Server) Unregister(_ context.Context, r *pb.UnregisterRequest) (*pb.UnregisterResponse, error) {
	if err := s.m.Unregister(r.GetId(), r.GetRelease()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.UnregisterResponse{}, nil
}

// Status implements pb.SysMgrServer. The pool is reported by its uid
// range (the gid range has the same size; it may start elsewhere).
func (s *Server) Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
	uids, gids := s.m.Pool()
	resp := &pb.StatusResponse{PoolStart: uids.Start, PoolSize: min(uids.Size, gids.Size)}
	for _, l := range s.m.Leases() {
		resp.Leases = append(resp.Leases, &pb.Lease{
			Id: l.ID, Uid: l.UID, Gid: l.GID, Size: l.Size,
			Running: l.Running, Rootfs: l.Rootfs, Mounts: toPB(l.Mounts),
		})
	}
	return resp, nil
}

var errNoFdStore = status.Error(codes.Unimplemented, "this sysbox-mgr keeps no fds")

// KeepFd implements pb.SysMgrServer.
func (s *Server) KeepFd(_ context.Context, r *pb.KeepFdRequest) (*pb.KeepFdResponse, error) {
	if s.fds == nil {
		return nil, errNoFdStore
	}
	if err := s.fds.Keep(r.GetId(), r.GetTag(), int(r.GetPid()), int(r.GetFd())); err != nil {
		return nil, toStatus(err)
	}
	return &pb.KeepFdResponse{}, nil
}

// DropFd implements pb.SysMgrServer.
func (s *Server) DropFd(_ context.Context, r *pb.DropFdRequest) (*pb.DropFdResponse, error) {
	if s.fds == nil {
		return nil, errNoFdStore
	}
	s.fds.Drop(r.GetId(), r.GetTag())
	return &pb.DropFdResponse{}, nil
}

// KeptFds implements pb.SysMgrServer.
func (s *Server) KeptFds(context.Context, *pb.KeptFdsRequest) (*pb.KeptFdsResponse, error) {
	if s.fds == nil {
		return nil, errNoFdStore
	}
	resp := &pb.KeptFdsResponse{Pid: int32(os.Getpid())}
	for _, k := range s.fds.List() {
		resp.Fds = append(resp.Fds, &pb.KeptFd{Id: k.ID, Tag: k.Tag, Fd: int32(k.Fd)})
	}
	return resp, nil
}

// toPB turns special dirs into the bind mounts the runtime adds to the
// spec.
func toPB(ms []state.Mount) []*pb.Mount {
	out := make([]*pb.Mount, 0, len(ms))
	for _, m := range ms {
		out = append(out, &pb.Mount{
			Source:      m.Source,
			Destination: m.Destination,
			Type:        "bind",
			Options:     []string{"rbind", "rw"},
		})
	}
	return out
}
