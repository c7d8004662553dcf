package server

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzValidateID fuzzes the container id of sysbox-fs's gRPC requests (PreRegister and the
// calls after it; validateID also checks the ids of the records read back at start).
// Properties: no panic; a refusal is errBadID; an accepted id names exactly one directory
// directly under the mount root (not empty, ".", "..", no '/', no NUL, at most 255 bytes).
func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"0123456789abcdef", "", ".", "..", "a..b", "../x", "a/b", "/", "a\x00b", strings.Repeat("a", 255), strings.Repeat("a", 256), "é"} {
		f.Add(s)
	}
	const root = "/var/lib/sysboxfs"
	f.Fuzz(func(t *testing.T, id string) {
		err := validateID(id)
		if err != nil {
			if !errors.Is(err, errBadID) {
				t.Fatalf("validateID(%q) = %v, want errBadID", id, err)
			}
			return
		}
		if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") || len(id) > 255 {
			t.Fatalf("validateID accepted %q", id)
		}
		if p := filepath.Join(root, id); filepath.Dir(p) != root || filepath.Base(p) != id {
			t.Fatalf("validateID accepted %q, which does not name one entry under %s (%s)", id, root, p)
		}
	})
}
