package ipc

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestCallErrorNamesDaemonAndSocketWhenUnreachable(t *testing.T) {
	err := CallError(MgrName, MgrSocket, "Register", status.Error(codes.Unavailable, "connection refused"))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("%v does not wrap ErrUnreachable", err)
	}
	for _, want := range []string{"sysbox-mgr", "/run/sysbox/sysmgr.sock", "Register"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not contain %q", err, want)
		}
	}
}

func TestCallErrorKeepsTheStatusCode(t *testing.T) {
	err := CallError(FsName, FsSocket, "Register", status.Error(codes.NotFound, "no container c1"))
	if !IsNotFound(err) {
		t.Fatalf("NotFound lost: %v", err)
	}
	if errors.Is(err, ErrUnreachable) {
		t.Fatal("a NotFound answer counted as unreachable")
	}
	if CallError(FsName, FsSocket, "x", nil) != nil {
		t.Fatal("nil error wrapped")
	}
}
