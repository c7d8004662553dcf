// Package mgrclient is the thin client sysbox-runc uses to talk to
// sysbox-mgr. Every call has a timeout and every error names sysbox-mgr and
// its socket.
package mgrclient

import (
	"context"

	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysmgrpb"
)

// Client calls sysbox-mgr.
type Client struct {
	*ipc.Client
	api pb.SysMgrClient
}

// New returns a client for the sysbox-mgr socket (ipc.MgrSocket normally).
func New(socket string) (*Client, error) {
	base, err := ipc.NewClient(ipc.MgrName, socket)
	if err != nil {
		return nil, err
	}
	return &Client{Client: base, api: pb.NewSysMgrClient(base.Conn())}, nil
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
	err = c.Call(ctx, "ReqMounts", func(ctx context.Context) error {
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
