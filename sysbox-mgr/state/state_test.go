package state

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSaveThenLoadRoundTripsAndLeavesNoTempFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	want := &File{Version: Version, Leases: []Lease{
		{ID: "a", UID: 165536, GID: 165536, Size: 65536, Rootfs: "/r/a", Bundle: "/b/a", Running: true,
			Mounts: []Mount{{Kind: "docker", Source: "/var/lib/sysbox/docker/a", Destination: "/var/lib/docker"}}},
		{ID: "b", Rootfs: "/r/b"},
	}}
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("state dir holds %d entries, want only %s", len(entries), FileName)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestLoadMissingFileIsEmptyState(t *testing.T) {
	f, err := Load(filepath.Join(t.TempDir(), FileName))
	if err != nil || f.Version != Version || len(f.Leases) != 0 {
		t.Fatalf("got %+v %v", f, err)
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	tests := []struct {
		name, content, wantErr string
	}{
		{"truncated JSON", `{"version":1,"leases":[{"id":"a"`, "corrupt"},
		{"not JSON", "garbage", "corrupt"},
		{"unknown version", `{"version":7,"leases":[]}`, "version 7"},
		{"missing version", `{"leases":[]}`, "version 0"},
		{"unknown field", `{"version":1,"leases":[],"extra":1}`, "corrupt"},
		{"lease without id", `{"version":1,"leases":[{"uid":1}]}`, "no id"},
		{"duplicate id", `{"version":1,"leases":[{"id":"a"},{"id":"a"}]}`, "listed twice"},
		{"trailing data", `{"version":1,"leases":[]} {}`, "trailing"},
		// json.Decoder.More does not see a stray closing bracket (FuzzLoadAll's property).
		{"trailing bracket", `{"version":1,"leases":[]}}`, "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("got %v; want an error naming %s with %q", err, path, tt.wantErr)
			}
		})
	}
}
