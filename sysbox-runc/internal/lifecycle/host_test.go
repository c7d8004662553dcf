package lifecycle

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadedProfileReadsTheKernelsProfileList(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "profiles")
	if err := os.WriteFile(list, []byte("docker-default (enforce)\nsysbox-container (enforce)\n/usr/sbin/cups-browsed (enforce)\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, name, want string }{
		{list, "sysbox-container", "sysbox-container"},
		{list, "sysbox", ""}, // a prefix of a loaded name is not loaded
		{list, "docker-default", "docker-default"},
		{filepath.Join(dir, "missing"), "sysbox-container", ""}, // AppArmor off
	} {
		if got := loadedProfile(tc.file, tc.name); got != tc.want {
			t.Errorf("loadedProfile(%s, %q) = %q, want %q", filepath.Base(tc.file), tc.name, got, tc.want)
		}
	}
}
