package daemon

import (
	"net"
	"path/filepath"
	"testing"
)

// NotifyReady sends READY=1 to the datagram socket in NOTIFY_SOCKET, and
// does nothing without it.
func TestNotifyReadySendsReadyToTheNotifySocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := NotifyReady(); err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v", err)
	}

	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	if err := NotifyReady(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("received %q, %v; want READY=1", buf[:n], err)
	}

	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "nobody-listens"))
	if err := NotifyReady(); err == nil {
		t.Fatal("no error for a socket nobody listens on")
	}
}
