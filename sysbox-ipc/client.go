package ipc

import (
	"context"
	"time"

	"google.golang.org/grpc"
)

// Client is what every thin daemon client shares: the connection, and
// calls with a timeout whose errors name the daemon, its socket and the
// call.
type Client struct {
	daemon, socket string
	conn           *grpc.ClientConn
	// Timeout bounds each call; DefaultTimeout from NewClient.
	Timeout time.Duration
}

// NewClient connects (lazily) to daemon's socket.
func NewClient(daemon, socket string) (*Client, error) {
	conn, err := Dial(socket)
	if err != nil {
		return nil, CallError(daemon, socket, "connect", err)
	}
	return &Client{daemon: daemon, socket: socket, conn: conn, Timeout: DefaultTimeout}, nil
}

// Conn is the connection the generated client is built on.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Call runs one RPC under c.Timeout.
func (c *Client) Call(parent context.Context, method string, rpc func(context.Context) error) error {
	return c.CallWithin(parent, c.Timeout, method, rpc)
}

// CallWithin runs one RPC under timeout, for a call whose work grows with
// the data it handles.
func (c *Client) CallWithin(parent context.Context, timeout time.Duration, method string, rpc func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	return CallError(c.daemon, c.socket, method, rpc(ctx))
}
