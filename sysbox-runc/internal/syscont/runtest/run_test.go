// Package runtest runs a transformed spec with the real libcontainer v1.5.3, as sysbox-runc
// does, to prove the kernel and libcontainer accept what package syscont produces. It needs
// root, cgo and /bin/busybox (busybox-static); build with -tags seccomp to include Docker's
// seccomp profile (without the tag libcontainer refuses any profile, so the test drops it).
package runtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/sys/capability"
	_ "github.com/opencontainers/cgroups/devices" // device cgroup rules
	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // the C half of "init"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysboxd/sysboxd/sysbox-runc/internal/syscont"
)

// TestMain doubles as the container's init: libcontainer re-executes this test binary with
// the argument "init".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init() // does not return
	}
	os.Exit(m.Run())
}

const hostID = 3145728 // 48 * 65536: a range nothing else on a test host uses

func knownCaps(t *testing.T) []string {
	last, err := capability.LastCap()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range capability.ListKnown() {
		if c <= last {
			names = append(names, "CAP_"+strings.ToUpper(c.String()))
		}
	}
	return names
}

func writeFile(t *testing.T, path, content string, uid int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}

// makeRootfs builds a busybox rootfs owned by the container's root (the real runtime
// ID-maps the image instead; that is not what this test is about).
func makeRootfs(t *testing.T, dir string) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("no /bin/busybox: %v", err)
	}
	for _, d := range []string{"bin", "proc", "sys", "dev", "etc", "tmp", "mnt", "run", "var/lib/docker"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"etc/hosts", "etc/hostname", "etc/resolv.conf"} {
		writeFile(t, filepath.Join(dir, f), "", 0)
	}
	err = filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, hostID, hostID)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// script prints key=value lines the test checks.
const script = `
echo "uidmap=$(cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //')"
echo "uptime=$(cat /proc/uptime)"
echo "hostsuid=$(stat -c %u /etc/hosts)"
echo "hostswrite=$( (echo '# added inside' >> /etc/hosts) 2>&1 && echo ok)"
echo "volumeuid=$(stat -c %u /host/owned-by-host-root)"
echo "dockeruid=$(stat -c %u /var/lib/docker)"
echo "capeff=$(grep CapEff /proc/self/status | cut -f2)"
echo "kmsg=$(stat -c %F /dev/kmsg)"
echo "ipfwd=$( (echo 1 > /proc/sys/net/ipv4/ip_forward) 2>&1 && cat /proc/sys/net/ipv4/ip_forward)"
echo "mount=$(mount -t tmpfs none /mnt 2>&1 && echo ok)"
echo "unshare=$(unshare -m -u true 2>&1 && echo ok)"
echo "cgroupfs=$(grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' -f6)"
echo "timens=$(readlink /proc/self/ns/time)"
echo "cgroupns=$(readlink /proc/self/ns/cgroup)"
echo "oom=$(cat /proc/self/oom_score_adj)"
echo "run=$(grep ' /run ' /proc/self/mountinfo | cut -d' ' -f9)"
echo "runlock=$(grep ' /run/lock ' /proc/self/mountinfo | cut -d' ' -f9)"
echo "container=$container"
echo "sysfs=$(grep ' /sys ' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1)"
echo "devices=$(ls /dev | wc -l)"
echo "sysinfo=$(busybox free -m | awk '/^Mem:/{print $2}') $(busybox uptime | grep -o 'up [^,]*')"
echo "end=1"
`

func TestTransformedDockerSpecsRunInLibcontainer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, name := range []string{"docker-default", "docker-privileged", "docker-systemd"} {
		t.Run(name, func(t *testing.T) { runSpec(t, "../testdata/"+name+".json") })
	}
}

func runSpec(t *testing.T, specPath string) {
	tmp := t.TempDir()
	// The container's root (an unprivileged host uid) must traverse to the rootfs and the
	// bind sources; t.TempDir makes its directories 0700.
	for _, d := range []string{filepath.Dir(tmp), tmp} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rootfs := filepath.Join(tmp, "rootfs")
	makeRootfs(t, rootfs)

	// Host side: Docker's per-container files and a -v volume owned by host root, a
	// special dir owned by the container's root, a stand-in for a sysbox-fs file.
	hostFiles := filepath.Join(tmp, "docker-container")
	for _, f := range []string{"hosts", "hostname", "resolv.conf"} {
		writeFile(t, filepath.Join(hostFiles, f), "# from the host\n", 0)
	}
	volume := filepath.Join(tmp, "volume")
	writeFile(t, filepath.Join(volume, "owned-by-host-root"), "x", 0)
	special := filepath.Join(tmp, "special-docker")
	if err := os.MkdirAll(special, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(special, hostID, hostID); err != nil {
		t.Fatal(err)
	}
	fsTree := filepath.Join(tmp, "sysboxfs")
	writeFile(t, filepath.Join(fsTree, "proc/uptime"), "4242.00 1.00\n", 0)

	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s.Root.Path = rootfs
	s.Hooks = nil // Docker's libnetwork hook
	s.Hostname = "box"
	s.Linux.CgroupsPath = fmt.Sprintf("/syscont-runtest-%d", os.Getpid())
	s.Process.Env = []string{"PATH=/bin", "SYSBOX_HONOR_CAPS=FALSE"}
	for i, m := range s.Mounts {
		if strings.HasPrefix(m.Destination, "/etc/") {
			s.Mounts[i].Source = filepath.Join(hostFiles, filepath.Base(m.Destination))
		}
	}
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/host", Type: "bind", Source: volume, Options: []string{"rbind", "rprivate"}})
	if !seccomp.Enabled {
		t.Log("built without -tags seccomp: running without Docker's seccomp profile")
		s.Linux.Seccomp = nil
	}

	o, err := syscont.Validate(&s, syscont.Options{SysContMode: true})
	if err != nil {
		t.Fatal(err)
	}
	oomText, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	callerOOM, err := strconv.Atoi(strings.TrimSpace(string(oomText)))
	if err != nil {
		t.Fatal(err)
	}
	in := syscont.Inputs{
		HostUID: hostID, HostGID: hostID, Size: 65536,
		VirtualFiles: []syscont.VirtualFile{
			{Dest: "/proc/uptime", Source: filepath.Join(fsTree, "proc/uptime")},
			{Dest: "/proc/sys", Source: filepath.Join(fsTree, "proc/sys")}, // deferred: not in the spec
		},
		SpecialMounts:     []specs.Mount{{Destination: "/var/lib/docker", Type: "bind", Source: special, Options: []string{"rbind", "rprivate"}}},
		IDMappable:        func(src string) bool { return strings.HasPrefix(src, tmp) }, // ext4 here
		CallerOOMScoreAdj: callerOOM,
		KnownCaps:         knownCaps(t),
		Warn:              func(msg string) { t.Log("warning:", msg) },
	}
	if err := syscont.Transform(&s, o, in); err != nil {
		t.Fatal(err)
	}
	if !seccomp.Enabled { // Transform adds a profile (sysinfo goes to sysbox-fs's agent)
		s.Linux.Seccomp = nil
	} else { // serve sysinfo from a test agent
		s.Linux.Seccomp.ListenerPath = startAgent(t, filepath.Join(tmp, "agent.sock"))
	}
	isInit := syscont.IsInitEntrypoint(s.Process.Args)
	s.Process.Args = []string{"/bin/busybox", "sh", "-c", script} // after Transform saw the entrypoint

	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: "x", Spec: &s})
	if err != nil {
		t.Fatal(err)
	}
	c, err := libcontainer.Create(filepath.Join(tmp, "state"), "runtest", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Destroy(); err != nil {
			t.Errorf("destroy: %v", err)
		}
	}()
	var stdout, stderr bytes.Buffer
	p := &libcontainer.Process{
		Args: s.Process.Args, Env: s.Process.Env, UID: int(s.Process.User.UID), GID: int(s.Process.User.GID), Cwd: "/", Init: true,
		Stdout: &stdout, Stderr: &stderr,
	}
	if err := c.Run(p); err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatalf("wait: %v (stderr %q)", err, stderr.String())
	}
	got := map[string]string{}
	for line := range strings.Lines(stdout.String()) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			got[k] = v
		}
	}
	t.Logf("container said:\n%s%s", stdout.String(), stderr.String())
	if got["end"] != "1" {
		t.Fatalf("script did not finish: %q %q", stdout.String(), stderr.String())
	}

	if isInit {
		for k, want := range map[string]string{"run": "tmpfs", "runlock": "tmpfs", "container": "private-users"} {
			if got[k] != want {
				t.Errorf("init entrypoint: %s = %q, want %q", k, got[k], want)
			}
		}
	} else if got["run"] != "" || got["container"] != "" {
		t.Errorf("not an init, yet /run is %q and container=%q", got["run"], got["container"])
	}
	if got["sysfs"] != "ro" {
		t.Errorf("/sys mounted %q, want ro", got["sysfs"])
	}
	if n, _ := strconv.Atoi(got["devices"]); n == 0 || n > 20 {
		t.Errorf("%s entries in /dev, want the standard few (no host devices)", got["devices"])
	}
	hostTimeNS, _ := os.Readlink("/proc/self/ns/time")
	hostCgroupNS, _ := os.Readlink("/proc/self/ns/cgroup")
	for _, tc := range []struct{ key, want, why string }{
		{"uidmap", fmt.Sprintf("0 %d 65536", hostID), "the lease is the container's uid map"},
		{"uptime", "4242.00 1.00", "the virtual file is bound over /proc/uptime"},
		{"hostsuid", "0", "Docker's /etc/hosts (host root's) is ID-mapped to container root"},
		{"hostswrite", "ok", "container root can write its /etc/hosts"},
		{"volumeuid", "0", "a -v volume owned by host root shows as root"},
		{"dockeruid", "0", "the special dir (owned by the range) shows as root, unmapped"},
		{"capeff", "000001ffffffffff", "root has every capability (cap_last_cap 40)"},
		{"kmsg", "character special file", "/dev/kmsg is /dev/null"},
		{"ipfwd", "1", "/proc/sys is writable (namespaced sysctl)"},
		{"mount", "ok", "mount is allowed"},
		{"unshare", "ok", "unshare is allowed"},
		{"cgroupfs", "rw,nosuid,nodev,noexec,relatime", "/sys/fs/cgroup is read-write"},
		{"oom", strconv.Itoa(max(callerOOM, 0)), "oom_score_adj not below the runtime's"},
		{"sysinfo", "1048576 up 42 min", "sysinfo is answered by the seccomp agent"},
	} {
		if tc.key == "capeff" && len(knownCaps(t)) != 41 || tc.key == "sysinfo" && !seccomp.Enabled {
			continue
		}
		if got[tc.key] != tc.want {
			t.Errorf("%s = %q, want %q (%s)", tc.key, got[tc.key], tc.want, tc.why)
		}
	}
	if got["timens"] == "" || got["timens"] == hostTimeNS {
		t.Errorf("time namespace %q, want a new one (host %q)", got["timens"], hostTimeNS)
	}
	if got["cgroupns"] == "" || got["cgroupns"] == hostCgroupNS {
		t.Errorf("cgroup namespace %q, want a new one (host %q)", got["cgroupns"], hostCgroupNS)
	}
	// On the host, the write landed in the host file and kept host root as owner.
	if b, err := os.ReadFile(filepath.Join(hostFiles, "hosts")); err != nil || !strings.Contains(string(b), "# added inside") {
		t.Errorf("host's hosts file: %q, %v", b, err)
	}
}
