//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Docker's --network container:<other> joins the other container's net namespace, which
// belongs to that system container's user namespace: create refuses it at once, saying
// why, and takes no lease.
func TestNetworkOfAnotherSystemContainerIsRefusedFastWithoutLease(t *testing.T) {
	other := startSys(t)
	name := uniqueName(t)
	t.Cleanup(func() { run(t, "docker", "rm", "-f", name) })
	start := time.Now()
	_, err := run(t, "docker", "run", "--name", name, "--runtime="+runtime, "--network", "container:"+other, busybox, "true")
	took := time.Since(start)
	if err == nil {
		t.Fatal("a system container joined another system container's network namespace")
	}
	for _, want := range []string{"joining another container's network namespace", "own user namespace", "docker network create"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	if took > 30*time.Second {
		t.Errorf("refusal took %s", took)
	}
	id := fullID(t, name)
	if l, held := mgrLeases(t)[id]; held {
		t.Errorf("a refused create holds a lease: %+v", l)
	}
	if m := mountsUnder(t, filepath.Join(fuseRoot, id)); len(m) != 0 {
		t.Errorf("FUSE tree left: %v", m)
	}
	// the other container is untouched
	if out := docker(t, "exec", other, "true"); out != "" {
		t.Errorf("exec in the other container printed %q", out)
	}
}

// A spec that joins the host's net namespace by path (what some tools write for host
// networking) is refused like --net=host, before any lease.
func TestDirectBundleWithHostNetnsPathIsRefusedNamingTheOption(t *testing.T) {
	dir := bundle(t)
	setProcess(t, dir, "true")
	cfg := filepath.Join(dir, "config.json")
	must(t, "sh", "-c", `jq '.linux.namespaces |= map(if .type == "network" then .path = "/proc/1/ns/net" else . end)' `+
		cfg+` > `+cfg+`.new && mv `+cfg+`.new `+cfg)
	root, id := t.TempDir(), "e2e-hostnetns-path"
	t.Cleanup(func() { run(t, runtime, "--root", root, "delete", "--force", id) })
	_, err := run(t, runtime, "--root", root, "create", "--bundle", dir, id)
	if err == nil {
		t.Fatal("create joined the host's network namespace by path")
	}
	for _, want := range []string{"the host network namespace /proc/1/ns/net", "drop --net=host"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	if l, held := mgrLeases(t)[id]; held {
		t.Errorf("a refused create holds a lease: %+v", l)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("state left in --root: %v", entries)
	}
}
