package syscont

import (
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func withoutNamespace(s *specs.Spec, t specs.LinuxNamespaceType) *specs.Spec {
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == t })
	return s
}

func TestValidateRefusesEachHostNamespaceNamingTheDockerOption(t *testing.T) {
	for _, tc := range []struct {
		ns   specs.LinuxNamespaceType
		want string
	}{
		{specs.PIDNamespace, "--pid=host"},
		{specs.NetworkNamespace, "--net=host"},
		{specs.IPCNamespace, "--ipc=host"},
		{specs.UTSNamespace, "--uts=host"},
		{specs.MountNamespace, "host mount namespace"},
	} {
		t.Run(string(tc.ns), func(t *testing.T) {
			_, err := Validate(withoutNamespace(minimalSpec(), tc.ns), Options{SysContMode: true})
			if !errors.Is(err, ErrNotSupported) {
				t.Fatalf("err = %v, want ErrNotSupported", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestValidateNamesEveryHostNamespaceAtOnce(t *testing.T) {
	s := withoutNamespace(withoutNamespace(minimalSpec(), specs.PIDNamespace), specs.NetworkNamespace)
	_, err := Validate(s, Options{SysContMode: true})
	if err == nil || !strings.Contains(err.Error(), "--pid=host") || !strings.Contains(err.Error(), "--net=host") {
		t.Fatalf("err = %v, want both --pid=host and --net=host", err)
	}
}

func TestValidateRefusesJoiningAUserNamespace(t *testing.T) {
	s := minimalSpec()
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/4242/ns/user"})
	_, err := Validate(s, Options{SysContMode: true})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "joining the existing user namespace /proc/4242/ns/user") ||
		!strings.Contains(err.Error(), "new user namespace of its own") {
		t.Fatalf("err = %v, want a refusal naming the path and why", err)
	}
}

// Validate is pure: other namespace paths are left to CheckNamespacePaths.
func TestValidateLeavesOtherNamespacePathsToCheckNamespacePaths(t *testing.T) {
	s := minimalSpec()
	for i := range s.Linux.Namespaces {
		if s.Linux.Namespaces[i].Type == specs.NetworkNamespace {
			s.Linux.Namespaces[i].Path = "/proc/4242/ns/net" // docker --net=container:X
		}
	}
	if _, err := Validate(s, Options{SysContMode: true}); err != nil {
		t.Fatal(err)
	}
}

func TestValidateSysContModeFalseAllowsHostNamespaces(t *testing.T) {
	s := withoutNamespace(minimalSpec(), specs.PIDNamespace)
	s.Process.Env = append(s.Process.Env, "SYSBOX_SYSCONT_MODE=FALSE")
	o, err := Validate(s, Options{SysContMode: true})
	if err != nil {
		t.Fatal(err)
	}
	if o.SysContMode {
		t.Error("SysContMode still true")
	}
}

func TestValidateRejectsBadSysboxVariables(t *testing.T) {
	for _, tc := range []struct {
		env        string
		wantInText []string
	}{
		{"SYSBOX_HONOR_CAP=TRUE", []string{"SYSBOX_HONOR_CAP", "unknown"}},
		{"SYSBOX_FOO=1", []string{"SYSBOX_FOO"}},
		{"SYSBOX_HONOR_CAPS=true", []string{"SYSBOX_HONOR_CAPS", `"true"`}},
		{"SYSBOX_HONOR_CAPS=1", []string{"SYSBOX_HONOR_CAPS", `"1"`}},
		{"SYSBOX_HONOR_CAPS=", []string{"SYSBOX_HONOR_CAPS", `""`}},
		{"SYSBOX_HONOR_CAPS", []string{"SYSBOX_HONOR_CAPS", `""`}},
		{"SYSBOX_SYSCONT_MODE=TRUE ", []string{"SYSBOX_SYSCONT_MODE", `"TRUE "`}},
		{"SYSBOX_IGNORE_SYSFS_CHOWN=yes", []string{"SYSBOX_IGNORE_SYSFS_CHOWN", `"yes"`}},
		{"SYSBOX_ALLOW_TRUSTED_XATTR=False", []string{"SYSBOX_ALLOW_TRUSTED_XATTR", `"False"`}},
		{"SYSBOX_SKIP_UID_SHIFT=/ok,relative/path", []string{"SYSBOX_SKIP_UID_SHIFT", "relative/path"}},
	} {
		t.Run(tc.env, func(t *testing.T) {
			s := minimalSpec()
			s.Process.Env = append(s.Process.Env, tc.env)
			before := slices.Clone(s.Process.Env)
			_, err := Validate(s, Options{SysContMode: true})
			if !errors.Is(err, ErrBadOption) {
				t.Fatalf("err = %v, want ErrBadOption", err)
			}
			for _, w := range tc.wantInText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to contain %s", err, w)
				}
			}
			if !slices.Equal(s.Process.Env, before) {
				t.Errorf("env changed on error: %v", s.Process.Env)
			}
		})
	}
}

func TestValidateParsesAndRemovesSysboxVariables(t *testing.T) {
	s := minimalSpec()
	s.Process.Env = []string{
		"PATH=/bin",
		"SYSBOX_HONOR_CAPS=TRUE",
		"MY_SYSBOX_HONOR_CAPS=keep", // not a SYSBOX_ variable
		"SYSBOX_IGNORE_SYSFS_CHOWN=TRUE",
		"SYSBOX_ALLOW_TRUSTED_XATTR=TRUE",
		"SYSBOX_SKIP_UID_SHIFT=/data,/srv/x/",
		"SYSBOX_SYSCONT_MODE=TRUE",
		"HOME=/root",
	}
	o, err := Validate(s, Options{SysContMode: true, SkipUIDShift: []string{"/default"}})
	if err != nil {
		t.Fatal(err)
	}
	want := Options{
		HonorCaps: true, SysContMode: true, IgnoreSysfsChown: true, AllowTrustedXattr: true,
		SkipUIDShift: []string{"/default", "/data", "/srv/x"},
	}
	if o.HonorCaps != want.HonorCaps || o.SysContMode != want.SysContMode || o.IgnoreSysfsChown != want.IgnoreSysfsChown ||
		o.AllowTrustedXattr != want.AllowTrustedXattr || !slices.Equal(o.SkipUIDShift, want.SkipUIDShift) {
		t.Errorf("options = %+v, want %+v", o, want)
	}
	if o.EngineIDMappings {
		t.Error("EngineIDMappings set for a spec without mappings")
	}
	if wantEnv := []string{"PATH=/bin", "MY_SYSBOX_HONOR_CAPS=keep", "HOME=/root"}; !slices.Equal(s.Process.Env, wantEnv) {
		t.Errorf("env = %v, want %v", s.Process.Env, wantEnv)
	}
}

func TestValidateKeepsRuntimeDefaultsAndLastAssignmentWins(t *testing.T) {
	defaults := Options{SysContMode: true, HonorCaps: true, AllowTrustedXattr: true}
	for _, tc := range []struct {
		name string
		env  []string
		want Options
	}{
		{"no variables", nil, defaults},
		{"override one", []string{"SYSBOX_HONOR_CAPS=FALSE"}, Options{SysContMode: true, AllowTrustedXattr: true}},
		{"last wins", []string{"SYSBOX_HONOR_CAPS=FALSE", "SYSBOX_HONOR_CAPS=TRUE"}, defaults},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := minimalSpec()
			s.Process.Env = tc.env
			o, err := Validate(s, defaults)
			if err != nil {
				t.Fatal(err)
			}
			if o.HonorCaps != tc.want.HonorCaps || o.SysContMode != tc.want.SysContMode || o.AllowTrustedXattr != tc.want.AllowTrustedXattr {
				t.Errorf("options = %+v, want %+v", o, tc.want)
			}
		})
	}
}

func TestValidateRequiresProcessAndRoot(t *testing.T) {
	noProc := minimalSpec()
	noProc.Process = nil
	noRoot := minimalSpec()
	noRoot.Root = nil
	emptyRoot := minimalSpec()
	emptyRoot.Root.Path = ""
	for name, s := range map[string]*specs.Spec{"no process": noProc, "no root": noRoot, "empty root path": emptyRoot, "nil spec": nil} {
		t.Run(name, func(t *testing.T) {
			if _, err := Validate(s, Options{SysContMode: true}); !errors.Is(err, ErrIncomplete) {
				t.Errorf("err = %v, want ErrIncomplete", err)
			}
		})
	}
}

func TestValidateEngineSuppliedMappings(t *testing.T) {
	m := func(c, h, n uint32) specs.LinuxIDMapping {
		return specs.LinuxIDMapping{ContainerID: c, HostID: h, Size: n}
	}
	for _, tc := range []struct {
		name     string
		uid, gid []specs.LinuxIDMapping
		wantErr  string
	}{
		{"userns-remap range", []specs.LinuxIDMapping{m(0, 231072, 65536)}, []specs.LinuxIDMapping{m(0, 231072, 65536)}, ""},
		{"wider than needed", []specs.LinuxIDMapping{m(0, 100000, 1<<20)}, []specs.LinuxIDMapping{m(0, 100000, 1<<20)}, ""},
		{"two pieces covering 65536", []specs.LinuxIDMapping{m(1000, 301000, 64536), m(0, 300000, 1000)}, []specs.LinuxIDMapping{m(0, 300000, 65536)}, ""},
		{"narrower uid", []specs.LinuxIDMapping{m(0, 231072, 65535)}, []specs.LinuxIDMapping{m(0, 231072, 65536)}, "container id 65535 is not mapped"},
		{"narrower gid", []specs.LinuxIDMapping{m(0, 231072, 65536)}, []specs.LinuxIDMapping{m(0, 231072, 1000)}, "gid"},
		{"gap", []specs.LinuxIDMapping{m(0, 300000, 1000), m(1001, 301001, 70000)}, []specs.LinuxIDMapping{m(0, 300000, 65536)}, "container id 1000 is not mapped"},
		{"root not mapped", []specs.LinuxIDMapping{m(1, 231072, 65536)}, []specs.LinuxIDMapping{m(0, 231072, 65536)}, "container id 0 is not mapped"},
		{"maps host root", []specs.LinuxIDMapping{m(0, 0, 65536)}, []specs.LinuxIDMapping{m(0, 231072, 65536)}, "host id 0"},
		{"maps host root later", []specs.LinuxIDMapping{m(0, 231072, 65536), m(65536, 0, 1)}, []specs.LinuxIDMapping{m(0, 231072, 65536)}, "host id 0"},
		{"uid only", []specs.LinuxIDMapping{m(0, 231072, 65536)}, nil, "gid mappings []: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := minimalSpec()
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings, s.Linux.GIDMappings = tc.uid, tc.gid
			o, err := Validate(s, Options{SysContMode: true})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !o.EngineIDMappings {
					t.Error("EngineIDMappings not set")
				}
				return
			}
			if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want ErrNotSupported mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestDefaultOptionsRunSystemContainers(t *testing.T) {
	if o := DefaultOptions(); !o.SysContMode || o.HonorCaps || o.IgnoreSysfsChown || o.AllowTrustedXattr || len(o.SkipUIDShift) > 0 {
		t.Errorf("DefaultOptions() = %+v, want only SysContMode", o)
	}
}
