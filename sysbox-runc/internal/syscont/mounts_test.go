package syscont

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// mountsInputs: a lease-mapped spec needs the mappings set before idmapBindMounts runs.
func mappedSpec() *specs.Spec {
	s := minimalSpec()
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 165536, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 165536, Size: 65536}}
	return s
}

func dests(s *specs.Spec) []string {
	var out []string
	for _, m := range s.Mounts {
		out = append(out, m.Destination)
	}
	return out
}

func TestStepMountsCgroupReadWrite(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mounts   []specs.Mount
		wantOpts []string
		wantType string
	}{
		{"docker's ro cgroup made rw",
			[]specs.Mount{{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}}},
			[]string{"nosuid", "noexec", "nodev", "rw"}, "cgroup"},
		{"cgroup2 ro made rw",
			[]specs.Mount{{Destination: "/sys/fs/cgroup/", Type: "cgroup2", Source: "cgroup", Options: []string{"nosuid", "ro"}}},
			[]string{"nosuid", "rw"}, "cgroup2"},
		{"missing cgroup mount added rw", nil,
			[]string{"nosuid", "noexec", "nodev", "relatime", "rw"}, "cgroup"},
		{"user's bind at /sys/fs/cgroup left alone",
			[]specs.Mount{{Destination: "/sys/fs/cgroup", Type: "bind", Source: "/somewhere", Options: []string{"rbind", "ro"}}},
			[]string{"rbind", "ro"}, "bind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mappedSpec()
			s.Mounts = append(slices.DeleteFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/sys/fs/cgroup" }), tc.mounts...)
			if err := stepMounts(s, Options{}, Inputs{}); err != nil {
				t.Fatal(err)
			}
			var found []specs.Mount
			for _, m := range s.Mounts {
				if cleanDest(m.Destination) == "/sys/fs/cgroup" {
					found = append(found, m)
				}
			}
			if len(found) != 1 {
				t.Fatalf("%d mounts at /sys/fs/cgroup", len(found))
			}
			if !slices.Equal(found[0].Options, tc.wantOpts) || found[0].Type != tc.wantType {
				t.Errorf("cgroup mount %+v, want type %s options %v", found[0], tc.wantType, tc.wantOpts)
			}
		})
	}
}

func TestStepMountsDevKmsgFromDevNull(t *testing.T) {
	s := mappedSpec()
	if err := stepMounts(s, Options{}, Inputs{IDMappable: func(string) bool { return true }}); err != nil {
		t.Fatal(err)
	}
	m, ok := findMount(s, "/dev/kmsg")
	if !ok || m.Source != "/dev/null" || !slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "nodev") || len(m.UIDMappings) != 0 {
		t.Errorf("/dev/kmsg mount = %+v (found %v), want an unmapped bind of /dev/null without nodev", m, ok)
	}
}

func TestStepMountsKeepsTheUsersKmsgDevice(t *testing.T) {
	s := mappedSpec()
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11}}
	if err := stepMounts(s, Options{}, Inputs{}); err != nil {
		t.Fatal(err)
	}
	if m, ok := findMount(s, "/dev/kmsg"); ok {
		t.Errorf("/dev/kmsg bind %+v added over the user's --device /dev/kmsg", m)
	}
}

func TestStepMountsVirtualFiles(t *testing.T) {
	s := mappedSpec()
	in := Inputs{VirtualFiles: testVirtualFiles(), IDMappable: func(string) bool { return true }}
	if err := stepMounts(s, Options{}, in); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dest   string
		want   bool
		rwOrRO string
	}{
		{"/proc/uptime", true, "ro"},
		{"/proc/meminfo", true, "ro"},
		{"/proc/sys", false, ""}, // refused by libcontainer: attached by the caller
		{"/sys/devices/system/cpu/online", true, "ro"},
		{"/sys/module/nf_conntrack/parameters/hashsize", true, "rw"},
	} {
		m, ok := findMount(s, tc.dest)
		if ok != tc.want {
			t.Errorf("%s mounted: %v, want %v", tc.dest, ok, tc.want)
			continue
		}
		if !ok {
			continue
		}
		if m.Type != "bind" || m.Source != "/var/lib/sysboxfs/"+testContainerID+tc.dest || !slices.Contains(m.Options, "bind") {
			t.Errorf("%s: %+v, want a bind from sysbox-fs", tc.dest, m)
		}
		if !slices.Contains(m.Options, tc.rwOrRO) || len(m.UIDMappings) != 0 {
			t.Errorf("%s: options %v mappings %v, want %s and no ID mapping (FUSE)", tc.dest, m.Options, m.UIDMappings, tc.rwOrRO)
		}
	}
	if got := DeferredVirtualFiles(testVirtualFiles()); len(got) != 1 || got[0].Dest != "/proc/sys" {
		t.Errorf("deferred = %v, want only /proc/sys", got)
	}
}

func TestSpecMountable(t *testing.T) {
	for dest, want := range map[string]bool{
		"/proc/uptime": true, "/proc/cpuinfo": true, "/proc/slabinfo": true, "proc/loadavg": true,
		"/proc/sys/kernel/ns_last_pid": true, "/proc/sys/crypto/fips_enabled": true,
		"/proc": false, "/proc/sys": false, "/proc/sys/net/core/somaxconn": false, "/proc/uptime/x": false,
		"/proc/kmsg": false, "/sys/kernel": true, "/procfoo": true, "/etc/hosts": true,
	} {
		if got := SpecMountable(dest); got != want {
			t.Errorf("SpecMountable(%q) = %v, want %v", dest, got, want)
		}
	}
}

func TestStepMountsSpecialMounts(t *testing.T) {
	special := specs.Mount{Destination: "/var/lib/docker", Type: "bind", Source: "/var/lib/sysbox/docker/c1", Options: []string{"rbind", "rprivate"}}
	user := specs.Mount{Destination: "/var/lib/docker/", Type: "bind", Source: "/srv/mydocker", Options: []string{"rbind", "rprivate"}}
	for _, tc := range []struct {
		name       string
		userMounts []specs.Mount
		wantSource string
	}{
		{"special mount added", nil, "/var/lib/sysbox/docker/c1"},
		{"user mount at the same destination wins", []specs.Mount{user}, "/srv/mydocker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mappedSpec()
			s.Mounts = append(s.Mounts, tc.userMounts...)
			in := Inputs{SpecialMounts: []specs.Mount{special}, IDMappable: func(string) bool { return true }}
			if err := stepMounts(s, Options{}, in); err != nil {
				t.Fatal(err)
			}
			var got []specs.Mount
			for _, m := range s.Mounts {
				if cleanDest(m.Destination) == "/var/lib/docker" {
					got = append(got, m)
				}
			}
			if len(got) != 1 || got[0].Source != tc.wantSource {
				t.Fatalf("mounts at /var/lib/docker = %+v, want one from %s", got, tc.wantSource)
			}
			// The special dir is owned by the container's range: never ID-mapped. The
			// user's host dir is.
			mapped := len(got[0].UIDMappings) > 0
			if wantMapped := tc.wantSource == "/srv/mydocker"; mapped != wantMapped {
				t.Errorf("ID-mapped = %v, want %v", mapped, wantMapped)
			}
		})
	}
}

func TestStepMountsSpecialMountIsNotAliasedToInputs(t *testing.T) {
	in := Inputs{SpecialMounts: testSpecialMounts()}
	s := mappedSpec()
	if err := stepMounts(s, Options{}, in); err != nil {
		t.Fatal(err)
	}
	for i := range s.Mounts {
		if s.Mounts[i].Destination == "/var/lib/docker" {
			s.Mounts[i].Options[0] = "changed"
		}
	}
	if in.SpecialMounts[0].Options[0] != "rbind" {
		t.Error("spec shares option slices with Inputs.SpecialMounts")
	}
}

func TestIsInitEntrypoint(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"/sbin/init"}, true},
		{[]string{"/usr/sbin/init", "--log-level=debug"}, true},
		{[]string{"/lib/systemd/systemd"}, true},
		{[]string{"/usr/lib/systemd/systemd", "--system"}, true},
		{[]string{"init"}, true},
		{[]string{"/sbin/docker-init", "--", "/sbin/init"}, true},
		{[]string{"/sbin/docker-init", "--", "/bin/sh"}, false},
		{[]string{"tini", "-s", "--", "/lib/systemd/systemd"}, true},
		{[]string{"/bin/sh", "-c", "/sbin/init"}, false},
		{[]string{"/usr/bin/systemd-analyze"}, false},
		{[]string{"/usr/local/bin/initdb"}, false},
		{nil, false},
	} {
		if got := IsInitEntrypoint(tc.args); got != tc.want {
			t.Errorf("IsInitEntrypoint(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestStepMountsInitEntrypoint(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		env       []string
		extra     []specs.Mount
		wantRun   string // source of the mount at /run, "" for none
		wantLock  bool
		wantEnvCt string // value of container=, "" for unset
	}{
		{name: "systemd gets /run, /run/lock and container=", args: []string{"/sbin/init"},
			wantRun: "tmpfs", wantLock: true, wantEnvCt: "private-users"},
		{name: "user's /run and container= kept", args: []string{"/lib/systemd/systemd"}, env: []string{"container=docker"},
			extra:   []specs.Mount{{Destination: "/run", Type: "bind", Source: "/srv/run", Options: []string{"rbind"}}},
			wantRun: "/srv/run", wantLock: true, wantEnvCt: "docker"},
		{name: "shell gets nothing", args: []string{"/bin/sh"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mappedSpec()
			s.Process.Args, s.Process.Env = tc.args, tc.env
			s.Mounts = append(s.Mounts, tc.extra...)
			if err := stepMounts(s, Options{}, Inputs{}); err != nil {
				t.Fatal(err)
			}
			run, hasRun := findMount(s, "/run")
			if gotRun := map[bool]string{true: run.Source, false: ""}[hasRun]; gotRun != tc.wantRun {
				t.Errorf("/run source %q, want %q", gotRun, tc.wantRun)
			}
			lock, hasLock := findMount(s, "/run/lock")
			if hasLock != tc.wantLock || (hasLock && (lock.Type != "tmpfs" || !slices.Contains(lock.Options, "mode=1777"))) {
				t.Errorf("/run/lock = %+v (present %v), want present=%v tmpfs mode=1777", lock, hasLock, tc.wantLock)
			}
			if hasRun && hasLock && slices.Index(dests(s), "/run") > slices.Index(dests(s), "/run/lock") {
				t.Errorf("/run/lock mounted before /run: %v", dests(s))
			}
			var ct string
			for _, e := range s.Process.Env {
				if v, ok := strings.CutPrefix(e, "container="); ok {
					if ct != "" {
						t.Errorf("container= set twice: %v", s.Process.Env)
					}
					ct = v
				}
			}
			if ct != tc.wantEnvCt {
				t.Errorf("container=%q, want %q", ct, tc.wantEnvCt)
			}
		})
	}
}

func TestAddMountPutsParentsBeforeChildren(t *testing.T) {
	s := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/proc"}, {Destination: "/run/secrets/x"}, {Destination: "/data"},
	}}
	addMount(s, specs.Mount{Destination: "/run"})
	addMount(s, specs.Mount{Destination: "/zzz"})
	if added := addMount(s, specs.Mount{Destination: "/data/"}); added {
		t.Error("second mount at /data added")
	}
	want := []string{"/proc", "/run", "/run/secrets/x", "/data", "/zzz"}
	if got := dests(s); !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func TestIDMapBindMounts(t *testing.T) {
	vf := VirtualFile{Dest: "/proc/uptime", Source: "/var/lib/sysboxfs/c1/proc/uptime"}
	special := specs.Mount{Destination: "/var/lib/docker", Type: "bind", Source: "/var/lib/sysbox/docker/c1", Options: []string{"rbind"}}
	notMappable := func(src string) bool { return src != "/mnt/fuse" }
	for _, tc := range []struct {
		name     string
		m        specs.Mount
		skip     []string
		wantMap  bool
		wantOpts []string
	}{
		{"docker -v rbind", specs.Mount{Destination: "/host", Type: "bind", Source: "/tmp", Options: []string{"rbind", "rprivate"}},
			nil, true, []string{"rbind", "rprivate", "idmap"}},
		{"bind option without type", specs.Mount{Destination: "/a", Source: "/srv/a", Options: []string{"bind", "ro"}},
			nil, true, []string{"bind", "ro", "idmap"}},
		{"type bind without bind option gets one", specs.Mount{Destination: "/a", Type: "bind", Source: "/srv/a"},
			nil, true, []string{"bind", "idmap"}},
		{"ridmap already asked for", specs.Mount{Destination: "/a", Type: "bind", Source: "/srv/a", Options: []string{"rbind", "ridmap"}},
			nil, true, []string{"rbind", "ridmap"}},
		{"file bind (/etc/hosts)", specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: "/var/lib/docker/containers/c1/hosts", Options: []string{"rbind", "rprivate"}},
			nil, true, []string{"rbind", "rprivate", "idmap"}},
		{"from /proc", specs.Mount{Destination: "/x", Type: "bind", Source: "/proc/self", Options: []string{"rbind"}}, nil, false, []string{"rbind"}},
		{"from /sys", specs.Mount{Destination: "/x", Type: "bind", Source: "/sys/kernel", Options: []string{"rbind"}}, nil, false, []string{"rbind"}},
		{"from /dev", specs.Mount{Destination: "/dev/fuse", Type: "bind", Source: "/dev/fuse", Options: []string{"bind"}}, nil, false, []string{"bind"}},
		{"/devices is not /dev", specs.Mount{Destination: "/x", Type: "bind", Source: "/devices", Options: []string{"bind"}}, nil, true, []string{"bind", "idmap"}},
		{"virtual file", specs.Mount{Destination: vf.Dest, Type: "bind", Source: vf.Source, Options: []string{"bind"}}, nil, false, []string{"bind"}},
		{"special mount", special, nil, false, []string{"rbind"}},
		{"not ID-mappable fs", specs.Mount{Destination: "/f", Type: "bind", Source: "/mnt/fuse", Options: []string{"rbind"}}, nil, false, []string{"rbind"}},
		{"tmpfs is not a bind", specs.Mount{Destination: "/t", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}}, nil, false, []string{"size=1m"}},
		{"relative source", specs.Mount{Destination: "/r", Type: "bind", Source: "rel", Options: []string{"bind"}}, nil, false, []string{"bind"}},
		{"skipped by destination", specs.Mount{Destination: "/data/sub", Type: "bind", Source: "/srv/a", Options: []string{"rbind"}},
			[]string{"/data"}, false, []string{"rbind"}},
		{"skipped by source", specs.Mount{Destination: "/a", Type: "bind", Source: "/srv/a", Options: []string{"rbind"}},
			[]string{"/srv"}, false, []string{"rbind"}},
		{"skip path is not a string prefix", specs.Mount{Destination: "/database", Type: "bind", Source: "/srv/a", Options: []string{"rbind"}},
			[]string{"/data"}, true, []string{"rbind", "idmap"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mappedSpec()
			s.Mounts = []specs.Mount{tc.m}
			in := Inputs{VirtualFiles: []VirtualFile{vf}, SpecialMounts: []specs.Mount{special}, IDMappable: notMappable}
			idmapBindMounts(s, Options{SkipUIDShift: tc.skip}, in)
			m := s.Mounts[0]
			if mapped := len(m.UIDMappings) > 0; mapped != tc.wantMap {
				t.Errorf("mapped = %v, want %v", mapped, tc.wantMap)
			}
			if tc.wantMap && (!slices.Equal(m.UIDMappings, s.Linux.UIDMappings) || !slices.Equal(m.GIDMappings, s.Linux.GIDMappings)) {
				t.Errorf("mappings %v/%v, want the container's", m.UIDMappings, m.GIDMappings)
			}
			if !slices.Equal(m.Options, tc.wantOpts) {
				t.Errorf("options = %v, want %v", m.Options, tc.wantOpts)
			}
		})
	}
}

func TestIDMapBindMountsKeepsEngineMappingsOnAMount(t *testing.T) {
	s := mappedSpec()
	own := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 500000, Size: 10}}
	s.Mounts = []specs.Mount{{Destination: "/a", Type: "bind", Source: "/srv/a", Options: []string{"rbind"}, UIDMappings: own, GIDMappings: own}}
	idmapBindMounts(s, Options{}, Inputs{IDMappable: func(string) bool { return true }})
	if m := s.Mounts[0]; !slices.Equal(m.UIDMappings, own) || !slices.Equal(m.Options, []string{"rbind"}) {
		t.Errorf("mount changed: %+v", m)
	}
}

func TestIDMapBindMountsWithoutIDMappableMapsNothing(t *testing.T) {
	s := mappedSpec()
	s.Mounts = []specs.Mount{{Destination: "/a", Type: "bind", Source: "/srv/a", Options: []string{"rbind"}}}
	idmapBindMounts(s, Options{}, Inputs{})
	if len(s.Mounts[0].UIDMappings) != 0 {
		t.Error("mapped without an IDMappable answer")
	}
}

func TestIDMapBindMountsLeavesEngineMappedContainersAlone(t *testing.T) {
	s := mappedSpec()
	s.Mounts = []specs.Mount{{Destination: "/etc/hosts", Type: "bind", Source: "/var/lib/docker/231072.231072/containers/c1/hosts", Options: []string{"rbind"}}}
	idmapBindMounts(s, Options{EngineIDMappings: true}, Inputs{IDMappable: func(string) bool { return true }})
	if m := s.Mounts[0]; len(m.UIDMappings) != 0 || !slices.Equal(m.Options, []string{"rbind"}) {
		t.Errorf("mount changed: %+v", m)
	}
}
