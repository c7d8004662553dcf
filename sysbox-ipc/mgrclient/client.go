// Package mgrclient is the thin client sysbox-runc uses to talk to
// sysbox-mgr. Every call has a timeout and every error names sysbox-mgr and
// its socket.
package mgrclient

import (
	"context"

	"google.golang.org/grpc"

	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysmgrpb"
)

// Client calls sysbox-mgr.
type Client struct {
	socket string
	conn   *grpc.ClientConn
	api    pb.SysMgrClient
}

// New returns a client for the sysbox-mgr socket (ipc.MgrSocket normally).
func New(socket string) (*Client, error) {
	conn, err := ipc.Dial(socket)
	if err != nil {
		return nil, ipc.CallError(ipc.MgrName, socket, "connect", err)
	}
	return &Client{socket: socket, conn: conn, api: pb.NewSysMgrClient(conn)}, nil
}

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, ipc.DefaultTimeout)
}

func (c *Client) wrap(method string, err error) error {
	return ipc.CallError(ipc.MgrName, c.socket, method, err)
}

// Register announces a container being created.
func (c *Client) Register(ctx context.Context, id, rootfs, bundle string) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	_, err := c.api.Register(ctx, &pb.RegisterRequest{Id: id, Rootfs: rootfs, Bundle: bundle})
	return c.wrap("Register", err)
}

// SubidAlloc leases (or returns the existing lease of) size ids for id.
func (c *Client) SubidAlloc(ctx context.Context, id string, size uint32) (*pb.SubidAllocResponse, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	resp, err := c.api.SubidAlloc(ctx, &pb.SubidAllocRequest{Id: id, Size: size})
	return resp, c.wrap("SubidAlloc", err)
}

// ReqMounts returns the special-dir mounts for the container.
func (c *Client) ReqMounts(ctx context.Context, id, rootfs string, userDests []string) ([]*pb.Mount, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	resp, err := c.api.ReqMounts(ctx, &pb.ReqMountsRequest{Id: id, Rootfs: rootfs, UserDestinations: userDests})
	if err != nil {
		return nil, c.wrap("ReqMounts", err)
	}
	return resp.GetMounts(), nil
}

// Unregister says the runtime deleted the container; release frees its
// lease and special dirs at once.
func (c *Client) Unregister(ctx context.Context, id string, release bool) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	_, err := c.api.Unregister(ctx, &pb.UnregisterRequest{Id: id, Release: release})
	return c.wrap("Unregister", err)
}

// Status reports the manager's leases.
func (c *Client) Status(ctx context.Context) (*pb.StatusResponse, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	resp, err := c.api.Status(ctx, &pb.StatusRequest{})
	return resp, c.wrap("Status", err)
}
