package ipc

import (
	"context"

	"google.golang.org/grpc"
)

// Client is what every thin daemon client shares: the connection, and
// calls with a timeout whose errors name the daemon, its socket and the
// call.
type Client struct {
	daemon, socket string
	conn           *grpc.ClientConn
}

// NewClient connects (lazily) to daemon's socket.
func NewClient(daemon, socket string) (*Client, error) {
	conn, err := Dial(socket)
	if err != nil {
		return nil, CallError(daemon, socket, "connect", err)
	}
	return &Client{daemon: daemon, socket: socket, conn: conn}, nil
}

// Conn is the connection the generated client is built on.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Call runs one RPC under DefaultTimeout.
func (c *Client) Call(parent context.Context, method string, rpc func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(parent, DefaultTimeout)
	defer cancel()
	return CallError(c.daemon, c.socket, method, rpc(ctx))
}
