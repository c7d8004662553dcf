//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// mountPropagationIn returns the optional fields (shared:N, master:N, unbindable) of the
// mount at dest in a mountinfo text, and whether dest is a mount point there.
func mountPropagationIn(mountinfo, dest string) (string, bool) {
	for _, line := range strings.Split(mountinfo, "\n") {
		pre, _, ok := strings.Cut(line, " - ")
		f := strings.Fields(pre)
		if ok && len(f) >= 6 && f[4] == dest {
			return strings.Join(f[6:], " "), true
		}
	}
	return "", false
}

// linux.rootfsPropagation "unbindable" and "runbindable" used to fail create with EINVAL
// (docs/oci-compat.md, bug 2): the special dirs and /dev/kmsg were bound from host mounts
// libcontainer had made unbindable. Now the container runs with its special dirs and
// /dev/kmsg, its root (and for runbindable every mount) shows unbindable, and binding its
// root fails with EINVAL, as with runc.
func TestRootfsPropagationUnbindableAndRunbindableRunWithSpecialDirs(t *testing.T) {
	for _, tc := range []struct {
		propagation  string
		submountsToo bool
	}{
		{"unbindable", false},
		{"runbindable", true},
	} {
		t.Run(tc.propagation, func(t *testing.T) {
			dir := bundle(t)
			setProcess(t, dir, "sh", "-c", "cat /proc/self/mountinfo; mkdir -p /bindtest; mount --bind / /bindtest 2>&1 && echo BIND-OK; true")
			cfg := filepath.Join(dir, "config.json")
			must(t, "sh", "-c", `jq '.linux.rootfsPropagation="`+tc.propagation+`"' `+cfg+` > `+cfg+`.new && mv `+cfg+`.new `+cfg)
			id := "e2e-prop-" + tc.propagation
			out := must(t, runtime, "--root", t.TempDir(), "run", "--bundle", dir, id)

			root, ok := mountPropagationIn(out, "/")
			if !ok || !strings.Contains(root, "unbindable") {
				t.Errorf("root mount propagation %q (found %v), want unbindable", root, ok)
			}
			for _, dest := range []string{"/var/lib/docker", "/dev/kmsg", "/proc"} {
				prop, ok := mountPropagationIn(out, dest)
				if !ok {
					t.Errorf("%s is not mounted in the container", dest)
					continue
				}
				if got := strings.Contains(prop, "unbindable"); got != tc.submountsToo {
					t.Errorf("%s propagation %q: unbindable = %v, want %v", dest, prop, got, tc.submountsToo)
				}
			}
			if strings.Contains(out, "BIND-OK") || !strings.Contains(out, "Invalid argument") {
				t.Errorf("bind of the unbindable root did not fail with EINVAL:\n%s", lastLines(out, 3))
			}
			if m := mountsUnder(t, filepath.Join(fuseRoot, id)); len(m) != 0 {
				t.Errorf("FUSE tree left after run: %v", m)
			}
			if m := mountsUnder(t, "/run/sysbox/rootfs/"+id); len(m) != 0 {
				t.Errorf("rootfs staging mount left after run: %v", m)
			}
		})
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
