// Package atomicfile writes files so that a reader finds either the old
// content or the new one, never a part. The work is github.com/google/renameio
// (a temporary file, fsync'ed, renamed over the target); this package fixes
// the options the project's callers share and names the path in errors.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// Write writes data to path with mode perm exactly (no umask, and not the
// mode of a file it replaces). The temporary file is made next to path:
// renameio's default probes os.TempDir on every write to find out whether
// a rename from there works, which costs syscalls in sysbox-runc's create.
func Write(path string, data []byte, perm os.FileMode) error {
	if err := write(path, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func write(path string, data []byte, perm os.FileMode) error {
	f, err := renameio.NewPendingFile(path, renameio.WithTempDir(filepath.Dir(path)), renameio.WithStaticPermissions(perm))
	if err != nil {
		return err
	}
	defer f.Cleanup() // a no-op once replaced
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.CloseAtomicallyReplace()
}
