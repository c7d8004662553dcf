package mountns

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// standIn starts a process in a mount namespace of its own (private
// propagation) and returns its pid.
func standIn(t *testing.T) int {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", "echo ready && exec sleep 600")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("stand-in did not start: %q %v", line, err)
	}
	return cmd.Process.Pid
}

// tmpfsWith mounts a tmpfs on a new directory holding file name with
// content, and returns the directory.
func tmpfsWith(t *testing.T, name, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// mountsAt returns the mountinfo lines of pid whose mount point is dest.
func mountsAt(t *testing.T, pid int, dest string) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dest {
			out = append(out, l)
		}
	}
	return out
}

func readIn(t *testing.T, pid int, p string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root%s", pid, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAttachAndReplaceWorkInAnotherMountNamespaceOnly(t *testing.T) {
	pid := standIn(t)
	dest := t.TempDir() // exists in both namespaces (same root)
	first := tmpfsWith(t, "f", "first")
	second := tmpfsWith(t, "f", "second")

	tree, err := Clone(first)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(tree)
	if err := SetFlags(tree, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID); err != nil {
		t.Fatal(err)
	}
	if err := Run(pid, func() error { return Attach(tree, dest) }); err != nil {
		t.Fatal(err)
	}
	if got := readIn(t, pid, dest+"/f"); got != "first" {
		t.Fatalf("after Attach the namespace reads %q, want first", got)
	}
	if m := mountsAt(t, pid, dest); len(m) != 1 || !strings.Contains(m[0], " ro,nosuid") {
		t.Fatalf("mounts at %s in the namespace: %q, want one ro,nosuid", dest, m)
	}
	if m := mountsAt(t, os.Getpid(), dest); len(m) != 0 {
		t.Fatalf("the caller's namespace got the mount too: %q", m)
	}
	// The test's own thread is still in the caller's namespace.
	if _, err := os.Stat(filepath.Join(dest, "f")); err == nil {
		t.Fatal("the caller sees the file: Run leaked the namespace into the calling thread")
	}

	tree2, err := Clone(second)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(tree2)
	if err := Run(pid, func() error { return Replace(tree2, dest) }); err != nil {
		t.Fatal(err)
	}
	if got := readIn(t, pid, dest+"/f"); got != "second" {
		t.Fatalf("after Replace the namespace reads %q, want second", got)
	}
	if m := mountsAt(t, pid, dest); len(m) != 1 {
		t.Fatalf("after Replace %d mounts at %s, want 1 (the old one unmounted): %q", len(m), dest, m)
	}
}

func TestRunReportsAMissingProcess(t *testing.T) {
	err := Run(1<<22+12345, func() error { return nil })
	if err == nil || !strings.Contains(err.Error(), "/ns/mnt") {
		t.Fatalf("got %v, want an error naming the namespace file", err)
	}
}

func TestCloneNamesTheMissingSource(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("open_tree with OPEN_TREE_CLONE needs CAP_SYS_ADMIN")
	}
	_, err := Clone("/nonexistent/source")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/source") {
		t.Fatalf("got %v, want an error naming the source", err)
	}
}
