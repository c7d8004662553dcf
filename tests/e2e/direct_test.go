//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// TestSpecWritesABundleConfigThatRunsARootShellWithATerminal checks what
// `sysbox-runc spec` writes: a shell as root with a terminal on the bundle's
// rootfs, with private namespaces and no uid mappings of its own (create
// adds the user namespace and the container's range).
func TestSpecWritesABundleConfigThatRunsARootShellWithATerminal(t *testing.T) {
	dir := t.TempDir()
	must(t, runtime, "spec", "--bundle", dir)
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("config.json written by spec is not an OCI spec: %v", err)
	}
	p := s.Process
	if p == nil || !p.Terminal || len(p.Args) != 1 || p.Args[0] != "sh" || p.User.UID != 0 || p.User.GID != 0 {
		t.Fatalf("process = %+v, want sh as root with a terminal", p)
	}
	if s.Root == nil || s.Root.Path != "rootfs" {
		t.Fatalf("root = %+v, want rootfs", s.Root)
	}
	if s.Linux == nil {
		t.Fatal("no linux section")
	}
	have := map[specs.LinuxNamespaceType]string{}
	for _, ns := range s.Linux.Namespaces {
		have[ns.Type] = ns.Path
	}
	for _, want := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace} {
		if path, ok := have[want]; !ok || path != "" {
			t.Errorf("namespace %s: present %v, path %q; want a new one", want, ok, path)
		}
	}
	if len(s.Linux.UIDMappings) != 0 || len(s.Linux.GIDMappings) != 0 {
		t.Errorf("spec carries id mappings %v %v; create must pick the range", s.Linux.UIDMappings, s.Linux.GIDMappings)
	}
}

// TestRunFromATerminalGivesARootShellInASystemContainer drives the spec as
// written (sh with a terminal) through a pseudo-terminal made by script(1),
// as a person at a terminal would: the shell's stdin is a tty, it is root
// mapped to an exclusive range, and its exit code comes back through run.
func TestRunFromATerminalGivesARootShellInASystemContainer(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Fatalf("script(1) (util-linux) is needed to give the runtime a terminal: %v", err)
	}
	dir := bundle(t)
	root := t.TempDir()
	id := "e2e-tty-" + strings.TrimPrefix(uniqueName(t), "sysbox-e2e-")
	t.Cleanup(func() { run(t, runtime, "--root", root, "delete", "--force", id) })

	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout*slow())
	defer cancel()
	// script -e returns the exit code of the command it ran; its stdin is
	// typed into the terminal.
	cmd := exec.CommandContext(ctx, "script", "-qec",
		runtime+" --root "+root+" run --bundle "+dir+" "+id, "/dev/null")
	cmd.Stdin = strings.NewReader("tty; [ -t 0 ] && echo stdin-is-a-tty; id -u; cat /proc/self/uid_map; exit 3\n")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("run from a terminal: err = %v, want exit code 3 from the shell\n%s", err, out)
	}
	text := strings.ReplaceAll(string(out), "\r", "")
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	// The typed line is echoed by the terminal; the answers follow it.
	i := len(lines) - 1
	for i >= 0 && !strings.HasPrefix(lines[i], "/dev/pts/") {
		i--
	}
	if i < 0 || len(lines) < i+4 {
		t.Fatalf("no tty name in the shell's output:\n%s", text)
	}
	if lines[i+1] != "stdin-is-a-tty" {
		t.Fatalf("the shell's stdin is not a terminal:\n%s", text)
	}
	if lines[i+2] != "0" {
		t.Fatalf("the shell runs as uid %q, want 0:\n%s", lines[i+2], text)
	}
	m := parseIDMap(t, lines[i+3])
	if len(m) != 1 || m[0].inside != 0 || m[0].outside == 0 || m[0].count != 65536 {
		t.Fatalf("uid_map %q: want root mapped to an exclusive 65536-id range", lines[i+3])
	}

	// run deleted the container when the shell exited: nothing is left.
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("state left in --root after run: %v", entries)
	}
	if m := mountsUnder(t, filepath.Join(fuseRoot, id)); len(m) != 0 {
		t.Fatalf("FUSE tree left after run: %v", m)
	}
	if m := mountsUnder(t, "/run/sysbox/rootfs/"+id); len(m) != 0 {
		t.Fatalf("rootfs staging mount left after run: %v", m)
	}
}
