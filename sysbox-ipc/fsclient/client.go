// Package fsclient is the thin client sysbox-runc uses to talk to
// sysbox-fs. Every call has a timeout and every error names sysbox-fs and
// its socket.
package fsclient

import (
	"context"

	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysfspb"
)

// Client calls sysbox-fs.
type Client struct {
	*ipc.Client
	api pb.SysFsClient
}

// New returns a client for the sysbox-fs socket (ipc.FsSocket normally).
func New(socket string) (*Client, error) {
	base, err := ipc.NewClient(ipc.FsName, socket)
	if err != nil {
		return nil, err
	}
	return &Client{Client: base, api: pb.NewSysFsClient(base.Conn())}, nil
}

// PreRegister mounts the container's FUSE tree and lists its virtual files.
func (c *Client) PreRegister(ctx context.Context, req *pb.PreRegisterRequest) (resp *pb.PreRegisterResponse, err error) {
	err = c.Call(ctx, "PreRegister", func(ctx context.Context) (err error) {
		resp, err = c.api.PreRegister(ctx, req)
		return err
	})
	return resp, err
}

// Register passes the container's init pid, start time and cgroups.
func (c *Client) Register(ctx context.Context, req *pb.RegisterRequest) error {
	return c.Call(ctx, "Register", func(ctx context.Context) error {
		_, err := c.api.Register(ctx, req)
		return err
	})
}

// Unregister unmounts the container's FUSE tree.
func (c *Client) Unregister(ctx context.Context, id string) error {
	return c.Call(ctx, "Unregister", func(ctx context.Context) error {
		_, err := c.api.Unregister(ctx, &pb.UnregisterRequest{Id: id})
		return err
	})
}

// Status lists registered containers.
func (c *Client) Status(ctx context.Context) (resp *pb.StatusResponse, err error) {
	err = c.Call(ctx, "Status", func(ctx context.Context) (err error) {
		resp, err = c.api.Status(ctx, &pb.StatusRequest{})
		return err
	})
	return resp, err
}
