package handler

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCgroupFilesRereadsFreshContentFromOpenFile(t *testing.T) {
	dirs := cgroupV1(t, map[string]map[string]string{"cpuacct": {"cpuacct.usage": "100\n"}})
	r := NewCgroupFiles(dirs)
	defer r.Close()
	p := filepath.Join(dirs["cpuacct"], "cpuacct.usage")
	for _, want := range []string{"100\n", "2000000\n", "3\n"} {
		// Rewrite in place (same inode), as cgroupfs regenerates content.
		if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := r.ReadFile("cpuacct", "cpuacct.usage")
		if err != nil || string(got) != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	if n := len(r.files); n != 1 {
		t.Fatalf("%d files held open, want 1", n)
	}
}

func TestCgroupFilesReadsContentLargerThanFirstBuffer(t *testing.T) {
	big := strings.Repeat("total_cache 12345\n", 1000) // 18 KB
	dirs := cgroupV1(t, map[string]map[string]string{"memory": {"memory.stat": big}})
	r := NewCgroupFiles(dirs)
	defer r.Close()
	got, err := r.ReadFile("memory", "memory.stat")
	if err != nil || string(got) != big {
		t.Fatalf("got %d bytes, %v; want %d", len(got), err, len(big))
	}
}

func TestCgroupFilesReopensAfterFailureAndStopsAfterClose(t *testing.T) {
	dirs := cgroupV1(t, map[string]map[string]string{"cpuacct": {"cpuacct.usage": "1\n"}})
	r := NewCgroupFiles(dirs)
	if _, err := r.ReadFile("cpuset", "cpuset.cpus"); !errors.Is(err, ErrNoController) {
		t.Fatalf("unknown controller: %v, want ErrNoController", err)
	}
	if got, err := r.ReadFile("cpuacct", "cpuacct.usage"); err != nil || string(got) != "1\n" {
		t.Fatalf("first read: %q, %v", got, err)
	}
	// The held file stops working (as cgroupfs answers ENODEV once the
	// cgroup is removed): the read fails, the file is dropped, and the next
	// read opens the path again.
	p := filepath.Join(dirs["cpuacct"], "cpuacct.usage")
	r.files[p].Close()
	if _, err := r.ReadFile("cpuacct", "cpuacct.usage"); err == nil {
		t.Fatal("read of a broken held file succeeded")
	}
	writeTree(t, dirs["cpuacct"], map[string]string{"cpuacct.usage": "7\n"})
	if got, err := r.ReadFile("cpuacct", "cpuacct.usage"); err != nil || string(got) != "7\n" {
		t.Fatalf("after the failure: %q, %v", got, err)
	}
	r.Close()
	if _, err := r.ReadFile("cpuacct", "cpuacct.usage"); !errors.Is(err, ErrReaderClosed) {
		t.Fatalf("after Close: %v, want ErrReaderClosed", err)
	}
}
