package rootfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dockerImage is a local image with /bin/sh and coreutils.
const dockerImage = "sysbox-test/debian"

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestPrepareOverlayOnARealDockerContainerKeepsDockersLayerFormat replaces
// the rootfs overlay of a real (stopped, re-mounted as dockerd does)
// container, writes through it as a user-namespaced root, and checks that
// docker diff and a later plain runc start see the changes with their
// on-disk ids. Opt-in (SYSBOX_TEST_DOCKER=1): it creates and removes a
// container on the host's dockerd.
func TestPrepareOverlayOnARealDockerContainerKeepsDockersLayerFormat(t *testing.T) {
	requireRoot(t)
	if os.Getenv("SYSBOX_TEST_DOCKER") != "1" {
		t.Skip("set SYSBOX_TEST_DOCKER=1 to run against the host's dockerd")
	}
	if err := exec.Command("docker", "image", "inspect", dockerImage).Run(); err != nil {
		t.Skipf("docker or image %s not available: %v", dockerImage, err)
	}
	name := "sysbox-rootfs-test-" + strings.TrimPrefix(filepath.Base(t.TempDir()), "0")
	docker(t, "run", "-d", "--name", name, dockerImage, "sleep", "600")
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
	merged := docker(t, "inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", name)
	info, err := mountAt(merged)
	if err != nil || info == nil {
		t.Fatalf("docker's rootfs mount at %s: %+v %v", merged, info, err)
	}
	t.Logf("docker's overlay: source %q options %q super %q", info.Source, info.Options, info.VFSOptions)
	cfg, err := parseOverlayOptions(info.VFSOptions)
	if err != nil {
		t.Fatal(err)
	}
	cfg.resolve(merged)
	docker(t, "stop", "-t", "0", name)

	// Mount it again as dockerd does, with nothing else holding it.
	if err := os.MkdirAll(merged, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := remountOriginal(merged, &OverlayMount{Source: info.Source, Flags: mountFlags(info.Options), Options: cfg.Original, Base: cfg.Base}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountAllAt(merged) })

	u := newUserns(t)
	// /var/lib/docker is 0710: the container's root cannot walk to merged,
	// so the overlay is exposed at a staging dir.
	staging := filepath.Join(testDir(t), "ctr", "rootfs")
	t.Cleanup(func() { unmountAllAt(staging) })
	s, err := Prepare(merged, testDirs(t, staging), u, testMapping)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	// Docker reads and writes the container's files through merged
	// (docker cp, docker diff): our overlay must be there, not only at the
	// staging dir.
	if info, err := mountAt(merged); err != nil || info == nil || !strings.Contains(info.VFSOptions, "upperdir="+stagedUpperName+"/") {
		t.Fatalf("after Prepare, merged holds %+v (%v), want our overlay", info, err)
	}
	out := runShellInContainer(t, s.Path, "/bin/sh", `
id -u
stat -c '%u:%g %a' /etc/passwd /usr/bin/passwd
echo x > /root/new
echo 'extra:x:1234:1234::/:/bin/false' >> /etc/passwd
rm /etc/issue
echo ok`)
	if want := "0\n0:0 644\n0:0 4755\nok\n"; out != want {
		t.Errorf("container output:\n%s\nwant:\n%s", out, want)
	}
	if err := Release(s); err != nil {
		t.Fatalf("Release: %v", err)
	}
	unmountAllAt(merged) // as dockerd does once the container stopped
	for _, p := range []string{"root/new", "etc/passwd"} {
		if got := ownerOf(t, filepath.Join(cfg.Upper, p)); got != (owner{0, 0}) {
			t.Errorf("upper %s owned by %v on disk", p, got)
		}
	}

	diff := docker(t, "diff", name)
	for _, want := range []string{"A /root/new", "C /etc/passwd", "D /etc/issue"} {
		if !strings.Contains(diff, want) {
			t.Errorf("docker diff lacks %q:\n%s", want, diff)
		}
	}
	// The engine starts it again with runc (no user namespace): the
	// changes are there with their plain ids.
	docker(t, "start", name)
	if got := docker(t, "exec", name, "stat", "-c", "%u:%g %s", "/root/new"); got != "0:0 2" {
		t.Errorf("after a runc start, /root/new: %q", got)
	}
	if got := docker(t, "exec", name, "sh", "-c", "grep -c ^extra: /etc/passwd; test ! -e /etc/issue && echo gone"); got != "1\ngone" {
		t.Errorf("after a runc start: %q", got)
	}
}
