package handler

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// writeTree creates files (path relative to root -> content) under root.
func writeTree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeHost is a host with a fixed clock and a fake /proc whose stat lists
// cpus online CPUs.
func fakeHost(t testing.TB, now time.Time, cpus int) Host {
	t.Helper()
	proc := filepath.Join(t.TempDir(), "proc")
	stat := "cpu  1 2 3 4 5 6 7 0 0 0\n"
	for i := 0; i < cpus; i++ {
		stat += "cpu" + strconv.Itoa(i) + " 1 2 3 4 5 6 7 0 0 0\n"
	}
	stat += "intr 12345 0 0\nctxt 999\nbtime 1700000000\n"
	writeTree(t, proc, map[string]string{"stat": stat})
	return Host{Now: func() time.Time { return now }, ProcRoot: proc}
}

// cgroupV1 builds a fake v1 tree (one dir per controller) and returns the
// CgroupDirs the runtime would register for it.
func cgroupV1(t testing.TB, files map[string]map[string]string) CgroupDirs {
	t.Helper()
	root := t.TempDir()
	dirs := CgroupDirs{}
	for controller, fs := range files {
		dir := filepath.Join(root, controller, "docker", "c1")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeTree(t, dir, fs)
		dirs[controller] = dir
	}
	return dirs
}

// cgroupV2 builds a fake unified cgroup dir and returns its CgroupDirs.
func cgroupV2(t testing.TB, files map[string]string) CgroupDirs {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "system.slice", "docker-c1.scope")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, files)
	return CgroupDirs{"": dir}
}
