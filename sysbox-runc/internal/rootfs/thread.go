package rootfs

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// secbitNoSetuidFixup keeps the capabilities when fsuid changes from 0
// (linux/securebits.h SECBIT_NO_SETUID_FIXUP).
const secbitNoSetuidFixup = 1 << 2

// onThrowawayThread runs fn on an OS thread of its own that is discarded
// when fn returns. fn may change per-thread state (fsuid, securebits, cwd
// after unshare(CLONE_FS)) that must never leak to other goroutines. While
// the thread is locked, the Go runtime starts new threads from its template
// thread, so nothing inherits that state either.
func onThrowawayThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the goroutine exits locked, so the thread ends.
		errc <- fn()
	}()
	return <-errc
}

// actAsHostID sets this thread's fsuid/fsgid to uid/gid while keeping all
// its capabilities (SECBIT_NO_SETUID_FIXUP stops the kernel from clearing
// the file capabilities when fsuid leaves 0). Call on a throwaway thread.
func actAsHostID(uid, gid uint32) error {
	bits, err := unix.PrctlRetInt(unix.PR_GET_SECUREBITS, 0, 0, 0, 0)
	if err != nil {
		return fmt.Errorf("get securebits: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_SECUREBITS, uintptr(bits|secbitNoSetuidFixup), 0, 0, 0); err != nil {
		return fmt.Errorf("set SECBIT_NO_SETUID_FIXUP: %w", err)
	}
	// setfs[ug]id report no errors; asking with an invalid id (-1) returns
	// the current value.
	_, _ = unix.SetfsgidRetGid(int(gid))
	if cur, _ := unix.SetfsgidRetGid(-1); cur != int(gid) {
		return fmt.Errorf("setfsgid %d: fsgid is %d", gid, cur)
	}
	_, _ = unix.SetfsuidRetUid(int(uid))
	if cur, _ := unix.SetfsuidRetUid(-1); cur != int(uid) {
		return fmt.Errorf("setfsuid %d: fsuid is %d", uid, cur)
	}
	return nil
}

// chdirThread gives this thread a working directory of its own (it stops
// sharing the process's with unshare(CLONE_FS)) and changes it to dir.
// Call on a throwaway thread.
func chdirThread(dir string) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s: %w", dir, err)
	}
	return nil
}
