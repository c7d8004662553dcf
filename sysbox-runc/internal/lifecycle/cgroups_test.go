package lifecycle

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestDelegateCgroupsChownsDirsAndDelegationFilesOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	root := t.TempDir()
	mem := filepath.Join(root, "memory", "docker", "c1")
	v2 := filepath.Join(root, "unified", "docker", "c1")
	for _, d := range []string{mem, v2} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"cgroup.procs", "tasks", "memory.limit_in_bytes"} {
		os.WriteFile(filepath.Join(mem, f), nil, 0o644)
	}
	for _, f := range []string{"cgroup.procs", "cgroup.subtree_control", "cgroup.threads", "memory.max"} {
		os.WriteFile(filepath.Join(v2, f), nil, 0o644)
	}
	paths := map[string]string{"memory": mem, "": v2, "cpuset": filepath.Join(root, "absent")}
	if err := DelegateCgroups(paths, 165536, 165537); err != nil {
		t.Fatal(err)
	}
	owner := func(p string) uint32 {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st.Uid
	}
	for _, p := range []string{mem, v2, filepath.Join(mem, "cgroup.procs"), filepath.Join(mem, "tasks"),
		filepath.Join(v2, "cgroup.procs"), filepath.Join(v2, "cgroup.subtree_control"), filepath.Join(v2, "cgroup.threads")} {
		if owner(p) != 165536 {
			t.Errorf("%s not delegated", p)
		}
	}
	for _, p := range []string{filepath.Join(mem, "memory.limit_in_bytes"), filepath.Join(v2, "memory.max")} {
		if owner(p) != 0 {
			t.Errorf("limit file %s was given to the container", p)
		}
	}
}

func TestNestInitInLeafMovesInitIntoADelegatedChild(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	// A fake cgroup v2 directory: cgroupfs creates the leaf's files by itself, a plain
	// directory gets cgroup.procs from the write.
	dir := filepath.Join(t.TempDir(), "system.slice", "docker-c1.scope")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := NestInitInLeaf(dir, 4242, 165536, 165537); err != nil {
		t.Fatal(err)
	}
	leaf := filepath.Join(dir, InitLeaf)
	b, err := os.ReadFile(filepath.Join(leaf, "cgroup.procs"))
	if err != nil || string(b) != "4242" {
		t.Fatalf("leaf cgroup.procs = %q, %v; want the init pid", b, err)
	}
	var st syscall.Stat_t
	for _, p := range []string{leaf, filepath.Join(leaf, "cgroup.procs")} {
		if err := syscall.Stat(p, &st); err != nil || st.Uid != 165536 || st.Gid != 165537 {
			t.Errorf("%s owned by %d:%d (%v), want the container root's 165536:165537", p, st.Uid, st.Gid, err)
		}
	}
	// Again (a second start of the same cgroup): the existing leaf is reused.
	if err := NestInitInLeaf(dir, 4343, 165536, 165537); err != nil {
		t.Fatalf("second NestInitInLeaf: %v", err)
	}
}

func TestNestInitInLeafFailsNamingTheLeafWhenTheCgroupIsGone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	err := NestInitInLeaf(dir, 1, 165536, 165536)
	if err == nil || !strings.Contains(err.Error(), "init cgroup leaf") {
		t.Fatalf("NestInitInLeaf on a missing cgroup = %v, want an error naming the init cgroup leaf", err)
	}
}
