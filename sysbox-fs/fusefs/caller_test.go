package fusefs

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// asCaller runs f on a fresh OS thread whose filesystem ids are uid and
// gid, so that the FUSE requests f causes carry them, as a container
// process's do; it returns f's error. The thread is never unlocked: it
// ends with the goroutine instead of going back to the runtime with
// foreign ids.
func asCaller(uid, gid uint32, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := setFsIDs(uid, gid); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

// setFsIDs sets the calling thread's fsgid and fsuid, and checks they took.
func setFsIDs(uid, gid uint32) error {
	unix.SetfsgidRetGid(int(gid))
	unix.SetfsuidRetUid(int(uid))
	// setfs[ug]id answer the previous ids: setting -1 (invalid, ignored)
	// reads the current ones.
	gotG, _ := unix.SetfsgidRetGid(-1)
	gotU, _ := unix.SetfsuidRetUid(-1)
	if uint32(gotU) != uid || uint32(gotG) != gid {
		return fmt.Errorf("setfsuid/setfsgid(%d, %d): thread has %d, %d", uid, gid, gotU, gotG)
	}
	return nil
}

// testCallers is the test container's id range; its root is testOwner.
var testCallers = IDRange{UID: 165536, GID: 165536, Size: 65536}

// inContainer runs f as the test container's root (asCaller) and fails
// the test on its error.
func inContainer(t testing.TB, f func() error) {
	t.Helper()
	if err := asCaller(testOwner.UID, testOwner.GID, f); err != nil {
		t.Fatal(err)
	}
}

// readAs reads p as uid and gid.
func readAs(uid, gid uint32, p string) ([]byte, error) {
	var b []byte
	err := asCaller(uid, gid, func() error {
		var err error
		b, err = os.ReadFile(p)
		return err
	})
	return b, err
}

// readC reads p as the test container's root.
func readC(p string) ([]byte, error) { return readAs(testOwner.UID, testOwner.GID, p) }

// reachable lets other users walk down to dir: t.TempDir makes its
// parent 0700.
func reachable(t testing.TB, dir string) {
	t.Helper()
	for d := filepath.Dir(dir); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
