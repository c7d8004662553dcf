package syscont

import (
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func nsTypes(s *specs.Spec) []specs.LinuxNamespaceType {
	var out []specs.LinuxNamespaceType
	for _, ns := range s.Linux.Namespaces {
		out = append(out, ns.Type)
	}
	return out
}

func TestStepNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(*specs.Spec)
		want    []specs.LinuxNamespaceType
		wantErr bool
	}{
		{
			name: "adds user, cgroup and time",
			edit: func(*specs.Spec) {},
			want: []specs.LinuxNamespaceType{"mount", "network", "uts", "pid", "ipc", "user", "cgroup", "time"},
		},
		{
			name: "keeps present ones without duplicates",
			edit: func(s *specs.Spec) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "cgroup"}, specs.LinuxNamespace{Type: "user"})
			},
			want: []specs.LinuxNamespaceType{"mount", "network", "uts", "pid", "ipc", "cgroup", "user", "time"},
		},
		{
			name:    "refuses host pid",
			edit:    func(s *specs.Spec) { withoutNamespace(s, specs.PIDNamespace) },
			wantErr: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := minimalSpec()
			tc.edit(s)
			err := stepNamespaces(s, Options{}, Inputs{})
			if tc.wantErr {
				if !errors.Is(err, ErrNotSupported) {
					t.Fatalf("err = %v, want ErrNotSupported", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := nsTypes(s); !slices.Equal(got, tc.want) {
				t.Errorf("namespaces = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStepNamespacesKeepsJoinedNetnsPath(t *testing.T) {
	s := minimalSpec()
	s.Linux.Namespaces[1].Path = "/proc/77/ns/net"
	if err := stepNamespaces(s, Options{}, Inputs{}); err != nil {
		t.Fatal(err)
	}
	if p := namespacePath(s.Linux.Namespaces, specs.NetworkNamespace); p != "/proc/77/ns/net" {
		t.Errorf("net path = %q", p)
	}
	if p := namespacePath(s.Linux.Namespaces, specs.TimeNamespace); p != "" || len(s.Linux.TimeOffsets) != 0 {
		t.Errorf("time namespace got a path %q or offsets %v", p, s.Linux.TimeOffsets)
	}
}

func TestStepIDMappings(t *testing.T) {
	lease := Inputs{HostUID: 165536, HostGID: 265536, Size: 65536}
	remap := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 231072, Size: 65536}}
	for _, tc := range []struct {
		name             string
		engine           []specs.LinuxIDMapping
		in               Inputs
		wantUID, wantGID uint32
		wantErr          bool
	}{
		{name: "lease applied", in: lease, wantUID: 165536, wantGID: 265536},
		{name: "engine mappings kept, lease ignored", engine: remap, in: lease, wantUID: 231072, wantGID: 231072},
		{name: "lease of host root refused", in: Inputs{HostUID: 0, HostGID: 1, Size: 65536}, wantErr: true},
		{name: "narrow lease refused", in: Inputs{HostUID: 165536, HostGID: 165536, Size: 1000}, wantErr: true},
		{name: "bad engine mappings refused", engine: []specs.LinuxIDMapping{{HostID: 0, Size: 65536}}, in: lease, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := minimalSpec()
			s.Linux.UIDMappings, s.Linux.GIDMappings = slices.Clone(tc.engine), slices.Clone(tc.engine)
			err := stepIDMappings(s, Options{}, tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrNotSupported) {
					t.Fatalf("err = %v, want ErrNotSupported", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u, g := s.Linux.UIDMappings, s.Linux.GIDMappings
			if len(u) != 1 || len(g) != 1 || u[0].ContainerID != 0 || u[0].HostID != tc.wantUID || g[0].HostID != tc.wantGID || u[0].Size != 65536 || g[0].Size != 65536 {
				t.Errorf("mappings uid %v gid %v, want 0->%d / 0->%d size 65536", u, g, tc.wantUID, tc.wantGID)
			}
		})
	}
}

func TestProcessCaps(t *testing.T) {
	known := []string{"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"}
	engine := &specs.LinuxCapabilities{
		Bounding: []string{"CAP_CHOWN"}, Effective: []string{"CAP_CHOWN"}, Permitted: []string{"CAP_CHOWN"},
		Inheritable: []string{"CAP_CHOWN"}, Ambient: []string{"CAP_CHOWN"},
	}
	for _, tc := range []struct {
		name   string
		uid    uint32
		o      Options
		caps   *specs.LinuxCapabilities
		want   specs.LinuxCapabilities
		engine bool
	}{
		{name: "root gets every known cap", uid: 0, caps: engine,
			want: specs.LinuxCapabilities{Bounding: known, Effective: known, Permitted: known}},
		{name: "root without engine caps", uid: 0, caps: nil,
			want: specs.LinuxCapabilities{Bounding: known, Effective: known, Permitted: known}},
		{name: "non-root gets bounding only", uid: 1000, caps: engine,
			want: specs.LinuxCapabilities{Bounding: known}},
		{name: "honor caps keeps root's engine caps", uid: 0, o: Options{HonorCaps: true}, caps: engine, engine: true},
		{name: "honor caps keeps non-root's engine caps", uid: 1000, o: Options{HonorCaps: true}, caps: engine, engine: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &specs.Process{User: specs.User{UID: tc.uid}}
			if tc.caps != nil {
				c := *tc.caps
				p.Capabilities = &c
			}
			ProcessCaps(p, tc.o, known)
			want := tc.want
			if tc.engine {
				want = *engine
			}
			c := p.Capabilities
			if c == nil {
				t.Fatal("capabilities nil")
			}
			for _, set := range []struct {
				name      string
				got, want []string
			}{
				{"bounding", c.Bounding, want.Bounding}, {"effective", c.Effective, want.Effective},
				{"permitted", c.Permitted, want.Permitted}, {"inheritable", c.Inheritable, want.Inheritable},
				{"ambient", c.Ambient, want.Ambient},
			} {
				if !slices.Equal(set.got, set.want) {
					t.Errorf("%s = %v, want %v", set.name, set.got, set.want)
				}
			}
		})
	}
}

func TestProcessCapsDoesNotAliasKnownList(t *testing.T) {
	known := []string{"CAP_CHOWN", "CAP_KILL"}
	p := &specs.Process{}
	ProcessCaps(p, Options{}, known)
	p.Capabilities.Effective[0] = "CHANGED"
	if known[0] != "CAP_CHOWN" || p.Capabilities.Bounding[0] != "CAP_CHOWN" {
		t.Error("cap sets share memory with each other or with the known list")
	}
}

func TestStepOOMScoreAdj(t *testing.T) {
	ptr := func(v int) *int { return &v }
	for _, tc := range []struct {
		name     string
		spec     *int
		caller   int
		want     *int
		wantWarn bool
	}{
		{"unset stays unset", nil, 0, nil, false},
		{"zero kept", ptr(0), 0, ptr(0), false},
		{"positive kept", ptr(500), 0, ptr(500), false},
		{"-1000 raised to -999", ptr(-1000), -1000, ptr(-999), true},
		{"-999 kept when the runtime is lower", ptr(-999), -1000, ptr(-999), false},
		{"negative raised to the runtime's value", ptr(-500), 0, ptr(0), true},
		{"negative above the runtime's value kept", ptr(-500), -900, ptr(-500), false},
		{"-1000 with runtime at -500", ptr(-1000), -500, ptr(-500), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := minimalSpec()
			s.Process.OOMScoreAdj = tc.spec
			var warns []string
			in := Inputs{CallerOOMScoreAdj: tc.caller, Warn: func(m string) { warns = append(warns, m) }}
			if err := stepOOMScoreAdj(s, Options{}, in); err != nil {
				t.Fatal(err)
			}
			got := s.Process.OOMScoreAdj
			if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
				t.Errorf("oomScoreAdj = %v, want %v", deref(got), deref(tc.want))
			}
			if (len(warns) > 0) != tc.wantWarn {
				t.Errorf("warnings %v, want warning: %v", warns, tc.wantWarn)
			}
		})
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestStepPaths(t *testing.T) {
	in := Inputs{VirtualFiles: []VirtualFile{
		{Dest: "/proc/uptime"}, {Dest: "/proc/keys"}, {Dest: "/sys/firmware/x"}, {Dest: "/proc/bus"},
	}}
	s := minimalSpec()
	s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/proc/uptime", "/proc/keys/sub")
	if err := stepPaths(s, Options{}, in); err != nil {
		t.Fatal(err)
	}
	wantMasked := []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/latency_stats", "/proc/timer_list",
		"/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"}
	if !slices.Equal(s.Linux.MaskedPaths, wantMasked) {
		t.Errorf("masked = %v, want %v", s.Linux.MaskedPaths, wantMasked)
	}
	// /proc/sys unmasked always; /proc/bus because a virtual file is there.
	wantRO := []string{"/proc/fs", "/proc/irq", "/proc/sysrq-trigger"}
	if !slices.Equal(s.Linux.ReadonlyPaths, wantRO) {
		t.Errorf("readonly = %v, want %v", s.Linux.ReadonlyPaths, wantRO)
	}
}

func TestStepPathsKeepsProtectionsWithoutVirtualFiles(t *testing.T) {
	s := minimalSpec()
	if err := stepPaths(s, Options{}, Inputs{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware"} {
		if !slices.Contains(s.Linux.MaskedPaths, p) {
			t.Errorf("%s no longer masked", p)
		}
	}
	for _, p := range []string{"/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"} {
		if !slices.Contains(s.Linux.ReadonlyPaths, p) {
			t.Errorf("%s no longer read-only", p)
		}
	}
	if slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") {
		t.Error("/proc/sys still read-only")
	}
}

func TestIsPrivileged(t *testing.T) {
	priv := func() *specs.Spec {
		s := minimalSpec()
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/sda", Type: "b", Major: 8}}
		return s
	}
	major := int64(10)
	for _, tc := range []struct {
		name string
		edit func(*specs.Spec)
		want bool
	}{
		{"privileged", func(*specs.Spec) {}, true},
		{"allow-all with type a", func(s *specs.Spec) { s.Linux.Resources.Devices[0].Type = "a" }, true},
		{"seccomp profile present", func(s *specs.Spec) { s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno} }, false},
		{"masked paths present", func(s *specs.Spec) { s.Linux.MaskedPaths = []string{"/proc/kcore"} }, false},
		{"one device allowed only", func(s *specs.Spec) {
			s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: &major, Access: "rwm"}}
		}, false},
		{"no resources", func(s *specs.Spec) { s.Linux.Resources = nil }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := priv()
			tc.edit(s)
			if got := IsPrivileged(s); got != tc.want {
				t.Errorf("IsPrivileged = %v, want %v", got, tc.want)
			}
		})
	}
	if IsPrivileged(minimalSpec()) {
		t.Error("ordinary spec taken for privileged")
	}
}

func TestPrivilegedDockerSpecRunsAsOrdinarySystemContainer(t *testing.T) {
	s := loadSpec(t, "testdata/docker-privileged.json")
	if !IsPrivileged(s) || len(s.Linux.Devices) < 10 {
		t.Fatalf("testdata privileged spec not recognised (devices: %d)", len(s.Linux.Devices))
	}
	o, err := Validate(s, Options{SysContMode: true})
	if err != nil {
		t.Fatal(err)
	}
	var warns []string
	if err := Transform(s, o, testInputs(&warns)); err != nil {
		t.Fatal(err)
	}
	if len(s.Linux.Devices) != 0 {
		t.Errorf("%d host devices left", len(s.Linux.Devices))
	}
	if slices.ContainsFunc(s.Linux.Resources.Devices, allowsAllDevices) {
		t.Error("device cgroup still allows every device")
	}
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sysrq-trigger") {
		t.Errorf("default protections not restored: masked %v readonly %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if m, _ := findMount(s, "/sys"); !slices.Contains(m.Options, "ro") {
		t.Errorf("/sys options %v, want ro", m.Options)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "--privileged") {
		t.Errorf("warnings = %v, want one about --privileged", warns)
	}
	// The only profile added allows everything and hands sysinfo to sysbox-fs.
	if sc := s.Linux.Seccomp; sc == nil || sc.DefaultAction != specs.ActAllow || sc.ListenerPath != SeccompAgentSocket {
		t.Errorf("seccomp profile %+v, want default ALLOW with sysbox-fs's listener", sc)
	}
}

func TestStepSysctlFitsPingGroupRangeToTheMappedGids(t *testing.T) {
	lease := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 165536, Size: 65536}}
	for _, tc := range []struct {
		name    string
		value   string
		gids    []specs.LinuxIDMapping
		want    string
		wantErr bool
	}{
		{"docker's default clamped", "0 2147483647", lease, "0 65535", false},
		{"inside the range kept", "100 200", lease, "100 200", false},
		{"top clamped", "1000 70000", lease, "1000 65535", false},
		{"outside the range disabled", "70000 80000", lease, "1 0", false},
		{"already disabled kept", "1 0", lease, "1 0", false},
		{"wider engine mapping", "0 2147483647", []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1 << 20}}, "0 1048575", false},
		{"no mapping: unchanged", "0 2147483647", nil, "0 2147483647", false},
		{"malformed", "0", lease, "", true},
		{"not numbers", "a b", lease, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := minimalSpec()
			s.Linux.GIDMappings = tc.gids
			s.Linux.Sysctl = map[string]string{pingGroupRange: tc.value, "net.ipv4.ip_unprivileged_port_start": "0"}
			err := stepSysctl(s, Options{}, Inputs{})
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Linux.Sysctl[pingGroupRange]; got != tc.want {
				t.Errorf("%s = %q, want %q", pingGroupRange, got, tc.want)
			}
			if s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "0" {
				t.Error("other sysctl changed")
			}
		})
	}
}

func TestStepSysctlWithoutPingGroupRange(t *testing.T) {
	s := minimalSpec()
	if err := stepSysctl(s, Options{}, Inputs{}); err != nil || s.Linux.Sysctl != nil {
		t.Errorf("err %v, sysctl %v", err, s.Linux.Sysctl)
	}
}
