package lifecycle

import (
	"os"
	"path/filepath"
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
