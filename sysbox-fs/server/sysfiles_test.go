package server

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sysboxd/sysboxd/sysbox-fs/handler"
	"github.com/sysboxd/sysboxd/sysbox-fs/sysctl"
	pb "github.com/sysboxd/sysboxd/sysbox-ipc/sysfspb"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		dir := filepath.Dir(p)
		if content == "/" { // a directory
			dir = p
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if content == "/" {
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPreRegisterServesProcSysAndTheSysFilesTheHostHas(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount fuse")
	}
	base := t.TempDir()
	procDir, sysDir := filepath.Join(base, "proc"), filepath.Join(base, "sys")
	writeFiles(t, procDir, map[string]string{"sys/kernel/panic": "0\n"})
	writeFiles(t, sysDir, map[string]string{
		"devices/virtual/dmi/id/product_uuid":     "host-uuid\n",
		"module/nf_conntrack/parameters/hashsize": "262144\n",
		"kernel/debug/":   "/",
		"kernel/tracing/": "/",
	})
	proc, err := sysctl.OpenProcDir(procDir)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	clock := newFakeClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	srv, err := New(Config{
		MountRoot: filepath.Join(base, "mnt"), Table: handler.Table{"proc/uptime": handler.Uptime{}},
		Host: fakeHost(t, clock, 2), Log: testLog(t),
		SysFiles: &SysFilesConfig{Proc: proc, ProcDir: "/proc", Host: sysctl.Host{Dir: filepath.Join(procDir, "sys")}, SysDir: sysDir},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	uuids := map[string]string{}
	for _, id := range []string{"c1", "c2"} {
		r, err := srv.PreRegister(ctx, &pb.PreRegisterRequest{Id: id, Uid: 165536, Gid: 165536, Size: 65536})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Unregister(ctx, &pb.UnregisterRequest{Id: id}) })
		var dests []string
		for _, f := range r.GetFiles() {
			dests = append(dests, f.GetDestination())
		}
		want := []string{"/proc/uptime", "/proc/sys", "/" + productUUID, "/" + hashsize, "/sys/kernel/debug", "/sys/kernel/tracing"}
		if !slices.Equal(dests, want) {
			t.Fatalf("%s: files %q, want %q (no /sys/kernel/config: the host has none)", id, dests, want)
		}
		b, err := readAsContainerRoot(filepath.Join(r.GetMountpoint(), productUUID))
		if err != nil {
			t.Fatal(err)
		}
		uuids[id] = strings.TrimSpace(string(b))
		if _, err := srv.Register(ctx, &pb.RegisterRequest{Id: id, InitPid: int32(os.Getpid()), StartTimeUnixNano: clock.Now().UnixNano()}); err != nil {
			t.Fatal(err)
		}
		if b, err := readAsContainerRoot(filepath.Join(r.GetMountpoint(), "proc/sys/kernel/panic")); err != nil || string(b) != "0\n" {
			t.Errorf("%s: panic %q %v", id, b, err)
		}
	}
	if uuids["c1"] == uuids["c2"] || uuids["c1"] != sysctl.ProductUUID("c1") {
		t.Errorf("product uuids %v", uuids)
	}
}

// A host whose firmware gives no SMBIOS UUID has /sys/devices/virtual/dmi/id
// without product_uuid; the runtime cannot create that mountpoint in sysfs,
// so the file is not offered (seen on a qemu guest started without -uuid).
func TestPreRegisterOffersNoProductUUIDWhenTheHostHasNone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount fuse")
	}
	base := t.TempDir()
	procDir, sysDir := filepath.Join(base, "proc"), filepath.Join(base, "sys")
	writeFiles(t, procDir, map[string]string{"sys/kernel/panic": "0\n"})
	writeFiles(t, sysDir, map[string]string{"devices/virtual/dmi/id/sys_vendor": "QEMU\n"})
	proc, err := sysctl.OpenProcDir(procDir)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	srv, err := New(Config{
		MountRoot: filepath.Join(base, "mnt"), Table: handler.Table{"proc/uptime": handler.Uptime{}},
		Host: fakeHost(t, newFakeClock(time.Now()), 2), Log: testLog(t),
		SysFiles: &SysFilesConfig{Proc: proc, ProcDir: "/proc", Host: sysctl.Host{Dir: filepath.Join(procDir, "sys")}, SysDir: sysDir},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := srv.PreRegister(ctx, &pb.PreRegisterRequest{Id: "c1", Uid: 165536, Gid: 165536, Size: 65536})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Unregister(ctx, &pb.UnregisterRequest{Id: "c1"}) })
	for _, f := range r.GetFiles() {
		if f.GetDestination() == "/"+productUUID {
			t.Fatalf("product_uuid offered for mounting although the host has no such file")
		}
	}
}
