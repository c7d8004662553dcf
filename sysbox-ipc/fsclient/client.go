// Package fsclient is the thin client sysbox-runc uses to talk to
// sysbox-fs. Every call has a timeout and every error names sysbox-fs and
// its socket.
package fsclient

import (
	"context"

	"google.golang.org/grpc"

	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysfspb"
)

// Client calls sysbox-fs.
type Client struct {
	socket string
	conn   *grpc.ClientConn
	api    pb.SysFsClient
}

// New returns a client for the sysbox-fs socket (ipc.FsSocket normally).
func New(socket string) (*Client, error) {
	conn, err := ipc.Dial(socket)
	if err != nil {
		return nil, ipc.CallError(ipc.FsName, socket, "connect", err)
	}
	return &Client{socket: socket, conn: conn, api: pb.NewSysFsClient(conn)}, nil
}

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, ipc.DefaultTimeout)
}

func (c *Client) wrap(method string, err error) error {
	return ipc.CallError(ipc.FsName, c.socket, method, err)
}

// PreRegister mounts the container's FUSE tree and lists its virtual files.
func (c *Client) PreRegister(ctx context.Context, req *pb.PreRegisterRequest) (*pb.PreRegisterResponse, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	resp, err := c.api.PreRegister(ctx, req)
	return resp, c.wrap("PreRegister", err)
}

// Register passes the container's init pid, start time and cgroups.
func (c *Client) Register(ctx context.Context, req *pb.RegisterRequest) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	_, err := c.api.Register(ctx, req)
	return c.wrap("Register", err)
}

// Unregister unmounts the container's FUSE tree.
func (c *Client) Unregister(ctx context.Context, id string) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	_, err := c.api.Unregister(ctx, &pb.UnregisterRequest{Id: id})
	return c.wrap("Unregister", err)
}

// Status lists registered containers.
func (c *Client) Status(ctx context.Context) (*pb.StatusResponse, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	resp, err := c.api.Status(ctx, &pb.StatusRequest{})
	return resp, c.wrap("Status", err)
}
