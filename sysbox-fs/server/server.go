// Package server is sysbox-fs's gRPC service (sysbox-ipc/proto/sysfs.proto):
// it keeps the registered containers and mounts one FUSE tree per container
// under the mount root.
package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sysboxd/sysboxd/internal/daemon"
	"github.com/sysboxd/sysboxd/sysbox-fs/fusefs"
	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	"github.com/sysboxd/sysboxd/sysbox-fs/sysctl"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysfspb"
)

// stopGrace bounds how long shutdown waits for calls in flight.
const stopGrace = 5 * time.Second

// Config is what the daemon's flags set.
type Config struct {
	// MountRoot holds one FUSE mountpoint per container, <MountRoot>/<id>.
	MountRoot string
	// Table lists the virtual files; handler.Default() normally.
	Table handler.Table
	// Host gives handlers the host's clock and /proc.
	Host handler.Host
	// SysFiles, when set, adds each container's /proc/sys and /sys files.
	SysFiles *SysFilesConfig
	// StateDir, when set, keeps a record of each container (record.go),
	// from which a restarted daemon takes over the running containers.
	StateDir string
	// ProcDir is the host's /proc, where the containers' processes are
	// looked up when they are taken over; "/proc" when empty.
	ProcDir string
	// OnCount, when set, is called with the number of containers each
	// time it changes (the daemon sizes its memory limit from it). It is
	// called with the server's lock held: it must not call the server.
	OnCount func(n int)
	Log     logrus.FieldLogger
}

// Server implements pb.SysFsServer.
type Server struct {
	pb.UnimplementedSysFsServer
	cfg Config
	// sysctls is the emulated knobs the host has; nil without cfg.SysFiles.
	sysctls *sysctl.Table

	mu         sync.Mutex
	containers map[string]*container
}

// container is one pre-registered container.
type container struct {
	id    string
	owner owner
	mount *fusefs.Mount
	// state is what handlers see; Register replaces it whole, readers
	// load it without locking.
	state atomic.Pointer[handler.Container]
	// cgroups holds the container's cgroup files open; set by Register.
	cgroups atomic.Pointer[handler.CgroupFiles]
	// sysctl is the container's /proc/sys; nil without Config.SysFiles.
	sysctl *sysctl.Container
	// extraPaths are the tree's paths besides the table's that the
	// runtime mounts ("proc/sys").
	extraPaths []string
	// cgroupPaths are Register's, kept for the hand-over record.
	regMu       sync.Mutex
	cgroupPaths map[string]string
	// initTicks is the init's start time in clock ticks (field 22 of
	// /proc/<pid>/stat), 0 until Register or when unreadable: the same pid
	// with other ticks is another process (sweep.go).
	initTicks atomic.Uint64
	// preRegistered is when PreRegister mounted the tree (the daemon's
	// clock); a container still not registered long after is a create
	// that failed without Unregister (sweep.go).
	preRegistered time.Time
}

// release closes the cgroup files held for the container.
func (c *container) release() {
	if cg := c.cgroups.Swap(nil); cg != nil {
		cg.Close()
	}
	if c.sysctl != nil {
		c.sysctl.Close()
	}
}

func (c *container) view() handler.Container { return *c.state.Load() }

// owner is the container's id range on the host: its root is UID:GID.
type owner struct {
	UID, GID, Size uint32
}

// register records the container's init, start time and cgroups; a read
// still using the previous cgroup reader fails over to its fallback.
func (c *container) register(initPid int, start time.Time, cgroupPaths map[string]string, host handler.Host) {
	cg := handler.NewCgroupFiles(cgroupPaths)
	c.state.Store(&handler.Container{
		ID:        c.id,
		StartTime: start,
		InitPid:   initPid,
		Cgroups:   cg,
		Host:      host,
	})
	c.regMu.Lock()
	c.cgroupPaths = maps.Clone(cgroupPaths)
	c.regMu.Unlock()
	if old := c.cgroups.Swap(cg); old != nil {
		old.Close()
	}
}

// New prepares the mount root (created 0755 if missing: a runtime hook
// running as the container's root must be able to reach the trees) and
// cleans what a killed predecessor left in it, then takes over the
// containers that predecessor recorded (restore). The caller must hold the
// daemon's pid file.
func New(cfg Config) (*Server, error) {
	if err := cfg.Table.Validate(); err != nil {
		return nil, err
	}
	if cfg.Host.Now == nil || cfg.Host.ProcRoot == "" {
		return nil, errors.New("config: Host needs a clock and a /proc root")
	}
	if err := os.MkdirAll(cfg.MountRoot, 0o755); err != nil {
		return nil, fmt.Errorf("create mount root: %w", err)
	}
	// mountinfo shows resolved paths: compare and mount under the same.
	root, err := filepath.EvalSymlinks(cfg.MountRoot)
	if err != nil {
		return nil, fmt.Errorf("resolve mount root: %w", err)
	}
	if root, err = filepath.Abs(root); err != nil {
		return nil, fmt.Errorf("resolve mount root: %w", err)
	}
	cfg.MountRoot = root
	if _, err := fusefs.CleanStale(root, cfg.Log); err != nil {
		return nil, fmt.Errorf("clean stale mounts: %w", err)
	}
	srv := &Server{cfg: cfg, containers: map[string]*container{}}
	if cfg.SysFiles != nil {
		srv.sysctls = sysctl.NewTable(cfg.SysFiles.Host, sysctl.Knobs())
	}
	srv.restore()
	return srv, nil
}

// MountRoot is the resolved mount root.
func (s *Server) MountRoot() string { return s.cfg.MountRoot }

// Serve answers gRPC calls on l until ctx is cancelled, then stops taking
// calls and unmounts every container's tree.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	g := grpc.NewServer(grpc.UnaryInterceptor(s.logCalls))
	pb.RegisterSysFsServer(g, s)
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(l) }()
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go daemon.Every(sweepCtx, sweepInterval, s.sweep)
	var serveErr error
	select {
	case <-ctx.Done():
		if daemon.StopGRPC(g, stopGrace) {
			s.cfg.Log.Warn("calls still running after the stop grace: cut off")
		}
	case serveErr = <-errc:
		serveErr = fmt.Errorf("grpc serve: %w", serveErr)
	}
	return errors.Join(serveErr, s.unmountAll())
}

// unmountAll unmounts every tree (lazily if busy) and forgets the containers.
func (s *Server) unmountAll() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for id, c := range s.containers {
		if err := c.mount.Unmount(); err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", id, err))
			continue
		}
		c.release()
		s.deleteLocked(id)
		s.cfg.Log.WithField("id", id).Debug("fuse tree unmounted at shutdown")
	}
	return errors.Join(errs...)
}

func (s *Server) logCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	method := info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]
	entry := s.cfg.Log.WithField("call", method)
	if r, ok := req.(interface{ GetId() string }); ok {
		entry = entry.WithField("id", r.GetId())
	}
	if err != nil {
		entry.WithError(err).Warn("call failed")
	} else {
		entry.Debug("call")
	}
	return resp, err
}

func (s *Server) files(dir string, c *container) []*pb.VirtualFile {
	var files []*pb.VirtualFile
	for _, p := range append(s.cfg.Table.Paths(), c.extraPaths...) {
		files = append(files, &pb.VirtualFile{Destination: "/" + p, Source: filepath.Join(dir, p)})
	}
	return files
}

// PreRegister mounts <mount-root>/<id>; for a known id it answers the same
// again without touching the tree.
func (s *Server) PreRegister(ctx context.Context, req *pb.PreRegisterRequest) (*pb.PreRegisterResponse, error) {
	id := req.GetId()
	if err := validateID(id); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "container id %q: %v", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.containers[id]; ok {
		return &pb.PreRegisterResponse{Mountpoint: c.mount.Dir(), Files: s.files(c.mount.Dir(), c)}, nil
	}
	c, err := s.mountTree(id, owner{UID: req.GetUid(), GID: req.GetGid(), Size: req.GetSize()})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "container %s: %v", id, err)
	}
	s.setLocked(c)
	s.save(c)
	s.cfg.Log.WithFields(logrus.Fields{"id": id, "mountpoint": c.mount.Dir()}).Info("fuse tree mounted")
	return &pb.PreRegisterResponse{Mountpoint: c.mount.Dir(), Files: s.files(c.mount.Dir(), c)}, nil
}

// mountTree mounts a new tree for container id at <mount-root>/<id>.
func (s *Server) mountTree(id string, o owner) (*container, error) {
	log := s.cfg.Log.WithField("id", id)
	c := &container{id: id, owner: o, preRegistered: s.cfg.Host.Now()}
	c.state.Store(&handler.Container{ID: id, StartTime: s.cfg.Host.Now(), Host: s.cfg.Host})
	dir := filepath.Join(s.cfg.MountRoot, id)
	var customNodes []fusefs.CustomNode
	if sys := s.cfg.SysFiles; sys != nil {
		vals := sysctl.NewValues(s.sysctls, sys.Host)
		c.sysctl = sysctl.NewContainer(vals, sys.Proc, sys.ProcDir, func() int { return c.view().InitPid })
		vals.OnChange(func() { s.save(c) }) // a restarted daemon keeps the container's values
		customNodes, c.extraPaths = s.sysNodes(id, c.sysctl, fusefs.Owner{UID: o.UID, GID: o.GID})
	}
	m, err := fusefs.New(dir, s.cfg.Table, c.view, log, fusefs.Options{Callers: fusefs.IDRange{UID: o.UID, GID: o.GID, Size: o.Size}}, customNodes...)
	if err != nil {
		c.release()
		return nil, err
	}
	c.mount = m
	return c, nil
}

// Register records the container's init pid, start time and cgroups.
func (s *Server) Register(ctx context.Context, req *pb.RegisterRequest) (*pb.RegisterResponse, error) {
	id := req.GetId()
	if req.GetInitPid() <= 0 || req.GetStartTimeUnixNano() <= 0 {
		return nil, status.Errorf(codes.InvalidArgument, "container %s: init_pid and start_time_unix_nano must be positive (got %d, %d)",
			id, req.GetInitPid(), req.GetStartTimeUnixNano())
	}
	s.mu.Lock()
	c, ok := s.containers[id]
	s.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "container %q is not pre-registered", id)
	}
	c.register(int(req.GetInitPid()), time.Unix(0, req.GetStartTimeUnixNano()), req.GetCgroupPaths(), s.cfg.Host)
	if ticks, err := processStartTicks(s.procDir(), int(req.GetInitPid())); err == nil {
		c.initTicks.Store(ticks)
	}
	s.save(c)
	s.cfg.Log.WithFields(logrus.Fields{"id": id, "init_pid": req.GetInitPid()}).Debug("container registered")
	return &pb.RegisterResponse{}, nil
}

// Unregister unmounts the container's tree (lazily if busy) and removes its
// directory. An unknown id is not an error: the runtime calls Unregister on
// delete even when create failed before PreRegister.
func (s *Server) Unregister(ctx context.Context, req *pb.UnregisterRequest) (*pb.UnregisterResponse, error) {
	id := req.GetId()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	if !ok {
		s.cfg.Log.WithField("id", id).Debug("unregister of an unknown container: nothing to do")
		return &pb.UnregisterResponse{}, nil
	}
	if err := s.dropLocked(c); err != nil {
		return nil, status.Errorf(codes.Internal, "container %s: %v", id, err)
	}
	s.cfg.Log.WithField("id", id).Info("fuse tree unmounted")
	return &pb.UnregisterResponse{}, nil
}

// dropLocked unmounts c's tree (lazily if busy), releases what it holds
// and forgets it and its record. s.mu is held.
func (s *Server) dropLocked(c *container) error {
	if err := c.mount.Unmount(); err != nil {
		return err
	}
	c.release()
	s.deleteLocked(c.id)
	s.forget(c.id)
	return nil
}

// setLocked adds c to the containers; s.mu is held.
func (s *Server) setLocked(c *container) {
	s.containers[c.id] = c
	s.counted()
}

// deleteLocked forgets container id; s.mu is held.
func (s *Server) deleteLocked(id string) {
	delete(s.containers, id)
	s.counted()
}

func (s *Server) counted() {
	if s.cfg.OnCount != nil {
		s.cfg.OnCount(len(s.containers))
	}
}

// Status lists the containers, sorted by id.
func (s *Server) Status(ctx context.Context, req *pb.StatusRequest) (*pb.StatusResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &pb.StatusResponse{}
	for _, id := range slices.Sorted(maps.Keys(s.containers)) {
		c := s.containers[id]
		st := c.view()
		resp.Containers = append(resp.Containers, &pb.Container{
			Id:                id,
			Mountpoint:        c.mount.Dir(),
			InitPid:           int32(st.InitPid),
			StartTimeUnixNano: st.StartTime.UnixNano(),
		})
	}
	return resp, nil
}
