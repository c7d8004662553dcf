package preflight

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/internal/idmap"
)

// moveMountBeneath is MOVE_MOUNT_BENEATH (Linux 6.5), not in x/sys/unix yet.
const moveMountBeneath = 0x200

// probeMapping is the id mapping of the probes' user namespaces. Any range
// works for root; this one lies above the 16-bit ids files on disk use.
var probeMapping = idmap.Mapping{HostUID: 1 << 30, HostGID: 1 << 30, Size: 65536}

func kernelProbes() Probes {
	return Probes{
		Userns:           probeUserns,
		IDMap:            probeIDMap,
		Overlay:          probeOverlay,
		UserNotif:        probeUserNotif,
		OpenFuse:         probeFuse,
		MoveMountBeneath: probeBeneath,
	}
}

func probeUserns() error {
	u, err := idmap.NewUserns(probeMapping)
	if err != nil {
		return err
	}
	return u.Close()
}

func probeIDMap(path string) error {
	u, err := idmap.NewUserns(probeMapping)
	if err != nil {
		return fmt.Errorf("user namespace: %w", err)
	}
	defer u.Close()
	tree, err := idmap.IDMapTree(path, u, false)
	if err != nil {
		return err
	}
	return tree.Close() // a detached clone: closing it discards it
}

func probeUserNotif() error {
	action := uint32(unix.SECCOMP_RET_USER_NOTIF)
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action)))
	if errno != 0 {
		return fmt.Errorf("seccomp(SECCOMP_GET_ACTION_AVAIL): %w", errno)
	}
	return nil
}

func probeFuse() error {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// probeBeneath calls move_mount with MOVE_MOUNT_BENEATH and no valid fd: a
// kernel that does not know the flag refuses it first (EINVAL), one that
// knows it goes on to the bad fd (EBADF) or path.
func probeBeneath() error {
	err := unix.MoveMount(-1, "", -1, "", moveMountBeneath|unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	return beneathResult(err)
}

func beneathResult(err error) error {
	switch {
	case err == nil:
		return errors.New("move_mount accepted invalid fds")
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("move_mount refuses the flag: %w", err)
	case errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("no move_mount: %w", err)
	}
	return nil // EBADF, ENOENT: the flag was accepted
}

// probeOverlay makes, in a temporary directory below dir (on the data
// filesystem), a lower layer holding a file owned by 0:0 and an upper
// layer, ID-maps both, and mounts an overlay of them twice: once with the
// ID-mapped layers attached to the mount tree (what sysbox-runc does), once
// with them detached (/proc/self/fd paths). The mounts are made in a
// private mount namespace of a thread that exits afterwards, so nothing
// reaches the host's mount table even if the probe is interrupted.
func probeOverlay(dir string) (attached, detached error) {
	tmp, err := os.MkdirTemp(dir, ".sysbox-check-")
	if err != nil {
		return err, err
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"lower", "rw/upper", "rw/work", "lmnt", "umnt", "merged"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o700); err != nil {
			return err, err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "lower", "file"), nil, 0o644); err != nil {
		return err, err
	}
	u, err := idmap.NewUserns(probeMapping)
	if err != nil {
		err = fmt.Errorf("user namespace: %w", err)
		return err, err
	}
	defer u.Close()

	type result struct{ attached, detached error }
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread, with its mount namespace, dies with
		// the goroutine.
		runtime.LockOSThread()
		var r result
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			err = fmt.Errorf("unshare mount namespace: %w", err)
			done <- result{err, err}
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			err = fmt.Errorf("make mounts private: %w", err)
			done <- result{err, err}
			return
		}
		r.detached = overlayDetached(tmp, u)
		r.attached = overlayAttached(tmp, u)
		done <- r
	}()
	r := <-done
	return r.attached, r.detached
}

// idmappedLayers returns ID-mapped detached clones of tmp/lower and tmp/rw.
func idmappedLayers(tmp string, u *idmap.Userns) (lower, rw *os.File, err error) {
	lower, err = idmap.IDMapTree(filepath.Join(tmp, "lower"), u, false)
	if err != nil {
		return nil, nil, err
	}
	rw, err = idmap.IDMapTree(filepath.Join(tmp, "rw"), u, false)
	if err != nil {
		lower.Close()
		return nil, nil, err
	}
	return lower, rw, nil
}

// mountOverlay mounts the overlay on tmp/merged, checks that the lower
// file shows the mapped owner, and unmounts it.
func mountOverlay(tmp, lower, upper, work string) error {
	merged := filepath.Join(tmp, "merged")
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay: %w", err)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(merged, "file"), &st); err != nil {
		return fmt.Errorf("stat through the overlay: %w", err)
	}
	if st.Uid != probeMapping.HostUID {
		return fmt.Errorf("a file owned by 0 on disk shows uid %d through the overlay, want %d", st.Uid, probeMapping.HostUID)
	}
	return nil
}

func overlayDetached(tmp string, u *idmap.Userns) error {
	lower, rw, err := idmappedLayers(tmp, u)
	if err != nil {
		return err
	}
	defer lower.Close()
	defer rw.Close()
	rwPath := idmap.ProcPath(rw)
	return mountOverlay(tmp, idmap.ProcPath(lower), rwPath+"/upper", rwPath+"/work")
}

func overlayAttached(tmp string, u *idmap.Userns) error {
	lower, rw, err := idmappedLayers(tmp, u)
	if err != nil {
		return err
	}
	defer lower.Close()
	defer rw.Close()
	lmnt, umnt := filepath.Join(tmp, "lmnt"), filepath.Join(tmp, "umnt")
	for _, m := range []struct {
		tree *os.File
		dest string
	}{{lower, lmnt}, {rw, umnt}} {
		if err := unix.MoveMount(int(m.tree.Fd()), "", unix.AT_FDCWD, m.dest, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("attach ID-mapped layer on %s: %w", m.dest, err)
		}
		defer unix.Unmount(m.dest, unix.MNT_DETACH)
	}
	return mountOverlay(tmp, lmnt, umnt+"/upper", umnt+"/work")
}
