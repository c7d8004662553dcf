package lifecycle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	"github.com/sysboxd/sysboxd/sysbox-ipc/sysfspb"
	"github.com/sysboxd/sysboxd/sysbox-ipc/sysmgrpb"
	"github.com/sysboxd/sysboxd/sysbox-runc/internal/rootfs"
	"github.com/sysboxd/sysboxd/sysbox-runc/internal/syscont"
)

// fakeMgr records what the lifecycle asked of sysbox-mgr.
type fakeMgr struct {
	registerErr, allocErr error
	fresh                 bool
	calls                 []string
	released              bool
}

func (m *fakeMgr) Register(_ context.Context, id, rootfs, bundle string) error {
	m.calls = append(m.calls, "Register")
	return m.registerErr
}

func (m *fakeMgr) SubidAlloc(_ context.Context, id string, size uint32) (*sysmgrpb.SubidAllocResponse, error) {
	m.calls = append(m.calls, "SubidAlloc")
	if m.allocErr != nil {
		return nil, m.allocErr
	}
	return &sysmgrpb.SubidAllocResponse{Uid: 1 << 20, Gid: 1 << 20, Size: size, Fresh: m.fresh}, nil
}

func (m *fakeMgr) ReqMounts(context.Context, string, string, []string) ([]*sysmgrpb.Mount, error) {
	m.calls = append(m.calls, "ReqMounts")
	return nil, nil
}

func (m *fakeMgr) Unregister(_ context.Context, id string, release bool) error {
	m.calls = append(m.calls, "Unregister")
	m.released = release
	return nil
}

type fakeFs struct {
	preErr       error
	calls        []string
	unregistered bool
}

func (f *fakeFs) PreRegister(_ context.Context, req *sysfspb.PreRegisterRequest) (*sysfspb.PreRegisterResponse, error) {
	f.calls = append(f.calls, "PreRegister")
	if f.preErr != nil {
		return nil, f.preErr
	}
	return &sysfspb.PreRegisterResponse{Mountpoint: "/nonexistent/" + req.Id}, nil
}

func (f *fakeFs) Register(context.Context, *sysfspb.RegisterRequest) error {
	f.calls = append(f.calls, "Register")
	return nil
}

func (f *fakeFs) Unregister(context.Context, string) error {
	f.calls = append(f.calls, "Unregister")
	f.unregistered = true
	return nil
}

func testSpec(root string) *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: root},
		Process: &specs.Process{Args: []string{"sh"}, Cwd: "/"},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
			{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
		}},
	}
}

func testConfig(t *testing.T) Config {
	return Config{ID: "c1", Bundle: t.TempDir(), Defaults: syscont.DefaultOptions(),
		RootfsDirs: rootfs.Dirs{Staging: filepath.Join(t.TempDir(), "staging"), Layers: filepath.Join(t.TempDir(), "layers")},
		Log:        logrus.NewEntry(logrus.New())}
}

func TestPrepareRefusesBadSpecBeforeAskingAnyDaemon(t *testing.T) {
	mgr, fs := &fakeMgr{}, &fakeFs{}
	spec := testSpec(t.TempDir())
	spec.Process.Env = []string{"SYSBOX_HONOR_CAPS=yes"}
	_, err := Prepare(context.Background(), testConfig(t), mgr, fs, spec)
	if !errors.Is(err, syscont.ErrBadOption) {
		t.Fatalf("err = %v, want ErrBadOption", err)
	}
	if len(mgr.calls)+len(fs.calls) != 0 {
		t.Fatalf("daemons were called: mgr %v fs %v", mgr.calls, fs.calls)
	}
}

// TestPrepareRefusesEngineMappingsBeforeLeasing: a spec with Docker's
// userns-remap mappings (0 -> 100000, 65536 ids) is refused with an error
// naming the Docker setting, before sysbox-mgr leases anything.
func TestPrepareRefusesEngineMappingsBeforeLeasing(t *testing.T) {
	mgr, fs := &fakeMgr{}, &fakeFs{}
	spec := testSpec(t.TempDir())
	remap := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	spec.Linux.UIDMappings, spec.Linux.GIDMappings = remap, remap
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	_, err := Prepare(context.Background(), testConfig(t), mgr, fs, spec)
	if !errors.Is(err, syscont.ErrNotSupported) || !strings.Contains(err.Error(), "userns-remap") {
		t.Fatalf("err = %v, want ErrNotSupported naming userns-remap", err)
	}
	if len(mgr.calls)+len(fs.calls) != 0 {
		t.Fatalf("daemons were called: mgr %v fs %v", mgr.calls, fs.calls)
	}
}

func TestPrepareWithMgrDownAcquiresNothing(t *testing.T) {
	down := errors.New("sysbox-mgr is not reachable at /run/sysbox/sysmgr.sock")
	mgr, fs := &fakeMgr{registerErr: down}, &fakeFs{}
	_, err := Prepare(context.Background(), testConfig(t), mgr, fs, testSpec(t.TempDir()))
	if !errors.Is(err, down) {
		t.Fatalf("err = %v, want the mgr error", err)
	}
	if len(fs.calls) != 0 {
		t.Fatalf("sysbox-fs was called with sysbox-mgr down: %v", fs.calls)
	}
}

func TestPrepareReleasesFreshLeaseWhenFsFails(t *testing.T) {
	mgr, fs := &fakeMgr{fresh: true}, &fakeFs{preErr: errors.New("sysbox-fs down")}
	if _, err := Prepare(context.Background(), testConfig(t), mgr, fs, testSpec(t.TempDir())); err == nil {
		t.Fatal("Prepare succeeded with sysbox-fs down")
	}
	if last := mgr.calls[len(mgr.calls)-1]; last != "Unregister" || !mgr.released {
		t.Fatalf("fresh lease not released: calls %v released %v", mgr.calls, mgr.released)
	}
}

func TestPrepareKeepsExistingLeaseWhenFsFails(t *testing.T) {
	mgr, fs := &fakeMgr{fresh: false}, &fakeFs{preErr: errors.New("sysbox-fs down")}
	if _, err := Prepare(context.Background(), testConfig(t), mgr, fs, testSpec(t.TempDir())); err == nil {
		t.Fatal("Prepare succeeded with sysbox-fs down")
	}
	if mgr.released {
		t.Fatal("the lease of a stopped container was released by a failed restart")
	}
}

func TestPrepareUndoesEverythingWhenRootfsCannotBeIDMapped(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for the ID-mapping user namespace")
	}
	// procfs cannot be ID-mapped: the last step fails after both daemons
	// handed something out.
	mgr, fs := &fakeMgr{fresh: true}, &fakeFs{}
	if _, err := Prepare(context.Background(), testConfig(t), mgr, fs, testSpec("/proc/sys")); err == nil {
		t.Fatal("Prepare succeeded on a procfs rootfs")
	}
	if !fs.unregistered || !mgr.released {
		t.Fatalf("not rolled back: fs unregistered %v, lease released %v", fs.unregistered, mgr.released)
	}
}

func TestSysContModeFalseLeasesNothing(t *testing.T) {
	mgr, fs := &fakeMgr{}, &fakeFs{}
	spec := testSpec(t.TempDir())
	spec.Process.Env = []string{"SYSBOX_SYSCONT_MODE=FALSE"}
	p, err := Prepare(context.Background(), testConfig(t), mgr, fs, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(mgr.calls)+len(fs.calls) != 0 || p.State.Size != 0 {
		t.Fatalf("plain container leased something: mgr %v fs %v", mgr.calls, fs.calls)
	}
}

func TestStateSurvivesSaveAndLoad(t *testing.T) {
	dir := t.TempDir()
	in := &State{ID: "c1", HostUID: 1 << 20, HostGID: 1 << 20, Size: 65536, FreshLease: true, Options: syscont.DefaultOptions()}
	if err := in.Save(dir); err != nil {
		t.Fatal(err)
	}
	out, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || out.HostUID != in.HostUID || out.Size != in.Size || !out.Options.SysContMode {
		t.Fatalf("loaded %+v, saved %+v", out, in)
	}
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(dir); err == nil {
		t.Fatal("a corrupt state file loaded without error")
	}
}
