// Package mgrclient is the thin client sysbox-runc (and sysbox-fs, for its
// seccomp notify fds) uses to talk to sysbox-mgr. Every call has a timeout and every error names sysbox-mgr and
// its socket.
package mgrclient

import (
	"context"
	"time"

	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysmgrpb"
)

// Client calls sysbox-mgr.
type Client struct {
	*ipc.Client
	api pb.SysMgrClient
	// CopyTimeout bounds ReqMounts, which seeds the special dirs from the
	// image: a copy of GBs at this host's 250-300 MB/s takes longer than
	// the other calls' ipc.DefaultTimeout. DefaultCopyTimeout from New.
	CopyTimeout time.Duration
}

// DefaultCopyTimeout bounds ReqMounts: 2 minutes is about 30 GB here.
const DefaultCopyTimeout = 2 * time.Minute

// New returns a client for the sysbox-mgr socket (ipc.MgrSocket normally).
func New(socket string) (*Client, error) {
	base, err := ipc.NewClient(ipc.MgrName, socket)
	if err != nil {
		return nil, err
	}
	return &Client{Client: base, api: pb.NewSysMgrClient(base.Conn()), CopyTimeout: DefaultCopyTimeout}, nil
}

// Register announces a container being created.
func (c *Client) Register(ctx context.Context, id, rootfs, bundle string) error {
	return c.Call(ctx, "Register", func(ctx context.Context) error {
		_, err := c.api.Register(ctx, &pb.RegisterRequest{Id: id, Rootfs: rootfs, Bundle: bundle})
		return err
	})
}

// SubidAlloc leases (or returns the existing lease of) size ids for id.
func (c *Client) SubidAlloc(ctx context.Context, id string, size uint32) (resp *pb.SubidAllocResponse, err error) {
	err = c.Call(ctx, "SubidAlloc", func(ctx context.Context) (err error) {
		resp, err = c.api.SubidAlloc(ctx, &pb.SubidAllocRequest{Id: id, Size: size})
		return err
	})
	return resp, err
}

// ReqMounts returns the special-dir mounts for the container.
func (c *Client) ReqMounts(ctx context.Context, id, rootfs string, userDests []string) (mounts []*pb.Mount, err error) {
	err = c.CallWithin(ctx, c.CopyTimeout, "ReqMounts", func(ctx context.Context) error {
		resp, err := c.api.ReqMounts(ctx, &pb.ReqMountsRequest{Id: id, Rootfs: rootfs, UserDestinations: userDests})
		mounts = resp.GetMounts()
		return err
	})
	return mounts, err
}

// Unregister says the runtime deleted the container; release frees its
// lease and special dirs at once.
func (c *Client) Unregister(ctx context.Context, id string, release bool) error {
	return c.Call(ctx, "Unregister", func(ctx context.Context) error {
		_, err := c.api.Unregister(ctx, &pb.UnregisterRequest{Id: id, Release: release})
		return err
	})
}

// Status reports the manager's leases.
func (c *Client) Status(ctx context.Context) (resp *pb.StatusResponse, err error) {
	err = c.Call(ctx, "Status", func(ctx context.Context) (err error) {
		resp, err = c.api.Status(ctx, &pb.StatusRequest{})
		return err
	})
	return resp, err
}

// KeepFd asks the manager to keep a copy of fd number fd of process pid
// (the caller, which keeps fd open until the call returns) under (id,
// tag).
func (c *Client) KeepFd(ctx context.Context, id string, pid, fd int, tag string) error {
	return c.Call(ctx, "KeepFd", func(ctx context.Context) error {
		_, err := c.api.KeepFd(ctx, &pb.KeepFdRequest{Id: id, Pid: int32(pid), Fd: int32(fd), Tag: tag})
		return err
	})
}

// DropFd asks the manager to close the copy kept under (id, tag).
func (c *Client) DropFd(ctx context.Context, id, tag string) error {
	return c.Call(ctx, "DropFd", func(ctx context.Context) error {
		_, err := c.api.DropFd(ctx, &pb.DropFdRequest{Id: id, Tag: tag})
		return err
	})
}

// KeptFds lists the copies the manager keeps, with the manager's pid.
func (c *Client) KeptFds(ctx context.Context) (resp *pb.KeptFdsResponse, err error) {
	err = c.Call(ctx, "KeptFds", func(ctx context.Context) (err error) {
		resp, err = c.api.KeptFds(ctx, &pb.KeptFdsRequest{})
		return err
	})
	return resp, err
}
