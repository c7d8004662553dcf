//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bundle makes an OCI bundle whose rootfs is the busybox test image,
// exported from docker, with config.json from `sysbox-runc spec`.
func bundle(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	cid := strings.TrimSpace(docker(t, "create", busybox, "true"))
	defer run(t, "docker", "rm", cid)
	exp := exec.Command("sh", "-c", "docker export "+cid+" | tar -C "+rootfs+" -x")
	if out, err := exp.CombinedOutput(); err != nil {
		t.Fatalf("export rootfs: %v: %s", err, out)
	}
	must(t, runtime, "spec", "--bundle", dir)
	return dir
}

// setProcess rewrites the bundle's process args and terminal flag.
func setProcess(t *testing.T, dir string, args ...string) {
	t.Helper()
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = `"` + a + `"`
	}
	must(t, "sh", "-c", `jq '.process.terminal=false | .process.args=[`+strings.Join(quoted, ",")+`]' `+
		dir+`/config.json > `+dir+`/c.json && mv `+dir+`/c.json `+dir+`/config.json`)
}

func TestDirectRunOnBundleIsASystemContainer(t *testing.T) {
	dir := bundle(t)
	setProcess(t, dir, "sh", "-c", "cat /proc/self/uid_map; touch /made-here; stat -c %u /made-here")
	root := t.TempDir()
	out := must(t, runtime, "--root", root, "run", "--bundle", dir, "e2e-direct")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("unexpected output %q", out)
	}
	m := parseIDMap(t, lines[0])
	if len(m) != 1 || m[0].outside == 0 || m[0].count != 65536 {
		t.Fatalf("uid_map %q is not an exclusive range", lines[0])
	}
	if lines[1] != "0" {
		t.Fatalf("file made by root shows owner %q inside", lines[1])
	}
	if uid := ownerOf(t, filepath.Join(dir, "rootfs", "made-here")); uid != 0 {
		t.Fatalf("file made by container root stored as uid %d in the plain rootfs, want 0", uid)
	}
	if m := mountsUnder(t, filepath.Join(fuseRoot, "e2e-direct")); len(m) != 0 {
		t.Fatalf("FUSE tree left after run: %v", m)
	}
	if m := mountsUnder(t, "/run/sysbox/rootfs/e2e-direct"); len(m) != 0 {
		t.Fatalf("rootfs staging mount left after run: %v", m)
	}
}

func TestExitCodeOfForegroundRunIsTheProcess(t *testing.T) {
	dir := bundle(t)
	setProcess(t, dir, "sh", "-c", "exit 7")
	cmd := exec.Command(runtime, "--root", t.TempDir(), "run", "--bundle", dir, "e2e-exit")
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("exit = %v, want code 7", err)
	}
}

func TestMalformedConfigFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"ociVersion": "1.0.2", "process": {`), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	_, err := run(t, runtime, "--root", root, "create", "--bundle", dir, "e2e-malformed")
	if err == nil {
		t.Fatal("create accepted a malformed config.json")
	}
	if !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("error does not name config.json: %v", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("state left in --root: %v", entries)
	}
	if m := mountsUnder(t, filepath.Join(fuseRoot, "e2e-malformed")); len(m) != 0 {
		t.Fatalf("FUSE tree left: %v", m)
	}
	if l, held := mgrLeases(t)["e2e-malformed"]; held {
		t.Fatalf("a refused create holds a lease: %+v", l)
	}
}

func TestRefusedSpecLeavesNoLease(t *testing.T) {
	dir := bundle(t)
	// A host pid namespace cannot be a system container.
	must(t, "sh", "-c", `jq '.linux.namespaces |= map(select(.type != "pid"))' `+dir+`/config.json > `+dir+`/c.json && mv `+dir+`/c.json `+dir+`/config.json`)
	_, err := run(t, runtime, "--root", t.TempDir(), "create", "--bundle", dir, "e2e-hostpid")
	if err == nil || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("create with the host pid namespace: err = %v, want a refusal naming pid", err)
	}
	if l, held := mgrLeases(t)["e2e-hostpid"]; held {
		t.Fatalf("a refused create holds a lease: %+v", l)
	}
}

// A failing poststop hook fails delete (as with runc), but the container's
// FUSE tree and rootfs mount are given back all the same.
func TestDeleteWithFailingPoststopHookLeavesNothing(t *testing.T) {
	dir := bundle(t)
	setProcess(t, dir, "true")
	must(t, "sh", "-c", `jq '.hooks.poststop=[{"path":"/bin/false"}]' `+dir+`/config.json > `+dir+`/c.json && mv `+dir+`/c.json `+dir+`/config.json`)
	root, id := t.TempDir(), "e2e-poststop"
	t.Cleanup(func() { run(t, runtime, "--root", root, "delete", "--force", id) })
	must(t, runtime, "--root", root, "create", "--bundle", dir, id)
	must(t, runtime, "--root", root, "start", id)
	waitFor(t, 10*time.Second, "the container to stop", func() bool {
		out, err := run(t, runtime, "--root", root, "state", id)
		return err == nil && strings.Contains(out, `"stopped"`)
	})
	if _, err := run(t, runtime, "--root", root, "delete", id); err == nil || !strings.Contains(err.Error(), "poststop") {
		t.Fatalf("delete with a failing poststop hook: %v, want the hook's error", err)
	}
	if m := mountsUnder(t, filepath.Join(fuseRoot, id)); len(m) != 0 {
		t.Fatalf("FUSE tree left: %v", m)
	}
	if m := mountsUnder(t, "/run/sysbox/rootfs/"+id); len(m) != 0 {
		t.Fatalf("rootfs staging mount left: %v", m)
	}
}
