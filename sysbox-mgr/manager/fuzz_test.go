package manager

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sysboxd/sysboxd/sysbox-mgr/state"
)

// FuzzManagerRequestChecks fuzzes the id and rootfs fields of the gRPC requests
// sysbox-mgr accepts (Register, SubidAlloc, ReqMounts, Unregister all pass them through
// checkID and checkPath first) and of the records of a state file (checkRecord).
// Properties: no panic; a refusal wraps ErrInvalidArgument; an accepted id is one plain
// directory name (not empty, ".", "..", no '/', no NUL) that still fits NAME_MAX with the
// ".tmp-" prefix of a dir being seeded; an accepted path is empty or absolute and has no
// NUL; checkRecord accepts exactly what checkID and checkPath accept.
func FuzzManagerRequestChecks(f *testing.F) {
	for _, s := range []string{"0123456789abcdef", "", ".", "..", "../x", "a/b", "a\x00b", ".hidden", "my_box-1.2+x", strings.Repeat("a", 250), strings.Repeat("b", 251)} {
		f.Add(s, "/var/lib/docker/overlay2/x/merged")
	}
	f.Add("x", "relative/rootfs")
	f.Add("x", "/with\x00nul")
	f.Add("x", "")
	f.Fuzz(func(t *testing.T, id, rootfs string) {
		idErr := checkID(id)
		if idErr != nil && !errors.Is(idErr, ErrInvalidArgument) {
			t.Fatalf("checkID(%q) error does not wrap ErrInvalidArgument: %v", id, idErr)
		}
		if idErr == nil {
			if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") ||
				len(".tmp-"+id) > 255 || filepath.Base(id) != id {
				t.Fatalf("checkID accepted %q, which is no plain directory name that fits NAME_MAX", id)
			}
		}
		pathErr := checkPath("rootfs", rootfs)
		if pathErr != nil && !errors.Is(pathErr, ErrInvalidArgument) {
			t.Fatalf("checkPath(%q) error does not wrap ErrInvalidArgument: %v", rootfs, pathErr)
		}
		if pathErr == nil && rootfs != "" && (!filepath.IsAbs(rootfs) || strings.ContainsRune(rootfs, 0)) {
			t.Fatalf("checkPath accepted %q", rootfs)
		}
		recErr := checkRecord(&state.Lease{ID: id, Rootfs: rootfs})
		if (recErr == nil) != (idErr == nil && pathErr == nil) {
			t.Fatalf("checkRecord(%q, %q) = %v, but checkID = %v and checkPath = %v", id, rootfs, recErr, idErr, pathErr)
		}
	})
}
