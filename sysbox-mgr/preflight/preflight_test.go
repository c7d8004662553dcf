package preflight

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseRelease(t *testing.T) {
	tests := []struct {
		rel          string
		major, minor int
		wantErr      bool
	}{
		{"6.1.0-18-amd64", 6, 1, false},
		{"6.18.44-fc-v1252", 6, 18, false},
		{"5.19.0", 5, 19, false},
		{"6.5-rc3", 6, 5, false},
		{"6.10+", 6, 10, false},
		{"six.one", 0, 0, true},
		{"6", 0, 0, true},
		{"6.x", 0, 0, true},
	}
	for _, tc := range tests {
		major, minor, err := parseRelease(tc.rel)
		if (err != nil) != tc.wantErr || major != tc.major || minor != tc.minor {
			t.Errorf("parseRelease(%q) = %d, %d, %v; want %d, %d, error %v", tc.rel, major, minor, err, tc.major, tc.minor, tc.wantErr)
		}
	}
}

func TestCheckKernelNeedsMinKernel(t *testing.T) {
	tests := []struct {
		rel  string
		want Status
	}{
		{"5.15.0-91-generic", Missing},
		{"5.19.0", OK},
		{"6.1.0-18-amd64", OK},
		{"garbage", Missing},
	}
	for _, tc := range tests {
		h := &Host{Release: func() (string, error) { return tc.rel, nil }}
		if r := h.checkKernel(); r.Status != tc.want {
			t.Errorf("kernel %s: %v (%s), want %v", tc.rel, r.Status, r.Detail, tc.want)
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckSubids(t *testing.T) {
	tests := []struct {
		name, subuid, subgid string
		want                 Status
		detail               string
	}{
		{"pool in both", "sysbox:1048576:268435456\n", "sysbox:1048576:268435456\n", OK, "4096 containers"},
		{"no entry", "other:100000:65536\n", "sysbox:1048576:268435456\n", Missing, "no subordinate id entry"},
		{"gid entry missing", "sysbox:1048576:268435456\n", "", Missing, "subgid"},
		{"room for few", "sysbox:1048576:262144\n", "sysbox:1048576:262144\n", Warn, "4 containers"},
		{"smaller than a block", "sysbox:1048576:1000\n", "sysbox:1048576:1000\n", Missing, "smaller than one container block"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			h := &Host{
				SubidUser:  "sysbox",
				SubuidFile: writeFile(t, dir, "subuid", tc.subuid),
				SubgidFile: writeFile(t, dir, "subgid", tc.subgid),
			}
			r := h.checkSubids()
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("%v %q; want %v containing %q", r.Status, r.Detail, tc.want, tc.detail)
			}
		})
	}
}

func TestCgroupVersion(t *testing.T) {
	tests := []struct {
		name          string
		root, unified int64
		unifiedErr    error
		want          string
		known         bool
	}{
		{"v2", unix.CGROUP2_SUPER_MAGIC, 0, unix.ENOENT, "v2", true},
		{"hybrid", unix.TMPFS_MAGIC, unix.CGROUP2_SUPER_MAGIC, nil, "v1 (hybrid", true},
		{"legacy", unix.TMPFS_MAGIC, 0, unix.ENOENT, "v1 (legacy)", true},
		{"legacy, unified is something else", unix.TMPFS_MAGIC, unix.TMPFS_MAGIC, nil, "v1 (legacy)", true},
		{"ext4 root", 0xef53, 0, unix.ENOENT, "unknown", false},
	}
	for _, tc := range tests {
		got, known := cgroupVersion(tc.root, tc.unified, tc.unifiedErr)
		if known != tc.known || !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, %v; want prefix %q, %v", tc.name, got, known, tc.want, tc.known)
		}
	}
}

func TestDockerDriverResult(t *testing.T) {
	tests := []struct {
		driver string
		err    error
		want   Status
	}{
		{"systemd", nil, OK},
		{"cgroupfs", nil, OK},
		{"none", nil, Warn},
		{"", errors.New("Cannot connect to the Docker daemon"), Warn},
		{"weird", nil, Warn},
	}
	for _, tc := range tests {
		if r := dockerDriverResult(tc.driver, tc.err); r.Status != tc.want {
			t.Errorf("driver %q err %v: %v (%s), want %v", tc.driver, tc.err, r.Status, r.Detail, tc.want)
		}
	}
}

func TestCheckAppArmor(t *testing.T) {
	tests := []struct {
		name, enabled, profiles string
		want                    Status
		detail                  string
	}{
		{"off", "N\n", "", OK, "not enabled"},
		{"loaded", "Y\n", "docker-default (enforce)\nsysbox-container (enforce)\n", OK, "loaded (enforce)"},
		{"not loaded", "Y\n", "docker-default (enforce)\nsysbox-container-old (enforce)\n", Missing, "not loaded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			h := &Host{
				ReadFile:         os.ReadFile,
				AppArmorEnabled:  writeFile(t, dir, "enabled", tc.enabled),
				AppArmorProfiles: writeFile(t, dir, "profiles", tc.profiles),
				AppArmorProfile:  "sysbox-container",
			}
			r := h.checkAppArmor()
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("%v %q; want %v containing %q", r.Status, r.Detail, tc.want, tc.detail)
			}
		})
	}
	// A kernel without the AppArmor module has no "enabled" file at all.
	h := &Host{ReadFile: os.ReadFile, AppArmorEnabled: filepath.Join(t.TempDir(), "missing")}
	if r := h.checkAppArmor(); r.Status != OK {
		t.Errorf("no AppArmor module: %v (%s), want ok", r.Status, r.Detail)
	}
}

func TestOverlayResult(t *testing.T) {
	einval := unix.EINVAL
	tests := []struct {
		name               string
		attached, detached error
		want               Status
		detail             string
	}{
		{"both", nil, nil, OK, "attached and detached layers work"},
		{"attached only (6.1)", nil, einval, OK, "detached layers refused"},
		{"neither", einval, einval, Missing, "attached ID-mapped layers failed"},
	}
	for _, tc := range tests {
		r := overlayResult("/var/lib/sysbox", tc.attached, tc.detached)
		if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) {
			t.Errorf("%s: %v %q; want %v containing %q", tc.name, r.Status, r.Detail, tc.want, tc.detail)
		}
	}
}

func TestBeneathResult(t *testing.T) {
	tests := []struct {
		err      error
		wantMiss bool
	}{
		{unix.EBADF, false},
		{unix.ENOENT, false},
		{unix.EINVAL, true},
		{unix.ENOSYS, true},
		{nil, true},
	}
	for _, tc := range tests {
		if got := beneathResult(tc.err); (got != nil) != tc.wantMiss {
			t.Errorf("move_mount error %v: %v, want missing=%v", tc.err, got, tc.wantMiss)
		}
	}
}

// The ID-map check probes sysbox-mgr's data root and Docker's, each once,
// and falls back to Docker's default root when Docker does not answer.
func TestCheckIDMapProbesBothDataRoots(t *testing.T) {
	dataRoot := t.TempDir()
	dockerRoot := t.TempDir()
	tests := []struct {
		name     string
		docker   func(string) (string, error)
		failOn   string
		want     Status
		probed   []string
		inDetail string
	}{
		{"docker answers", func(string) (string, error) { return dockerRoot, nil }, "", OK, []string{dataRoot, dockerRoot}, dockerRoot},
		{"docker down", func(string) (string, error) { return "", errors.New("no daemon") }, "", OK,
			[]string{dataRoot, filepath.Dir(dataRoot)}, "Docker not answering"},
		{"same fs dir twice", func(string) (string, error) { return dataRoot, nil }, "", OK, []string{dataRoot}, dataRoot},
		{"docker root refused", func(string) (string, error) { return dockerRoot, nil }, dockerRoot, Missing,
			[]string{dataRoot, dockerRoot}, dockerRoot},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var probed []string
			h := &Host{
				Statfs:            unix.Statfs,
				Docker:            tc.docker,
				DataRoot:          dataRoot,
				DockerRootDefault: filepath.Join(filepath.Dir(dataRoot), "no-such-docker-root"),
				Probes: Probes{IDMap: func(p string) error {
					probed = append(probed, p)
					if p == tc.failOn {
						return unix.EINVAL
					}
					return nil
				}},
			}
			r := h.checkIDMap()
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.inDetail) {
				t.Errorf("%v %q; want %v containing %q", r.Status, r.Detail, tc.want, tc.inDetail)
			}
			if !reflect.DeepEqual(probed, tc.probed) {
				t.Errorf("probed %v, want %v", probed, tc.probed)
			}
		})
	}
}

// Only a required check that misses its feature fails the run; an optional
// one is printed as "missing (optional)".
func TestFailedAndPrint(t *testing.T) {
	checks := []Check{
		{"a", true, func() Result { return ok("fine") }},
		{"b", true, func() Result { return missing("gone") }},
		{"c", false, func() Result { return missing("absent") }},
		{"d", false, func() Result { return warn("meh") }},
	}
	outcomes := Run(checks)
	if got := Failed(outcomes); !reflect.DeepEqual(got, []string{"b"}) {
		t.Errorf("Failed = %v, want [b]", got)
	}
	var buf bytes.Buffer
	if err := Print(&buf, outcomes); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := [][]string{{"a", "ok", "fine"}, {"b", "missing", "gone"}, {"c", "missing", "(optional)", "absent"}, {"d", "warn", "meh"}}
	if len(lines) != len(want) {
		t.Fatalf("printed %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, l := range lines {
		if f := strings.Fields(l); !reflect.DeepEqual(f, want[i]) {
			t.Errorf("line %d: %q, want fields %v", i, l, want[i])
		}
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates user namespaces and mounts")
	}
}

// The real probes succeed on a kernel that has the features (the CI kernel
// does) and the overlay probe leaves no mount and no directory behind.
func TestKernelProbesOnThisHost(t *testing.T) {
	requireRoot(t)
	p := kernelProbes()
	if err := p.Userns(); err != nil {
		t.Errorf("user namespace probe: %v", err)
	}
	dir := t.TempDir()
	if !idmapCapable(dir) {
		t.Skipf("needs a filesystem that takes ID-mapped mounts for %s", dir)
	}
	if err := p.IDMap(dir); err != nil {
		t.Errorf("ID-map probe of %s: %v", dir, err)
	}
	attached, _ := p.Overlay(dir)
	if attached != nil {
		t.Errorf("overlay of attached ID-mapped layers: %v", attached)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the overlay probe left %v in %s", entries, dir)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), dir) {
		t.Errorf("a mount below %s is left in this mount namespace", dir)
	}
	if err := p.UserNotif(); err != nil {
		t.Errorf("seccomp user notification probe: %v", err)
	}
}

func idmapCapable(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false
	}
	switch fsTypeName(st.Type) {
	case "ext4", "xfs", "btrfs", "tmpfs":
		return true
	}
	return false
}
