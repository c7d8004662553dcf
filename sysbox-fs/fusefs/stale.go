package fusefs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// CleanStale removes what a killed predecessor left under root: every
// sysboxfs FUSE mount (its connection is dead: reads give ENOTCONN) is lazily
// unmounted and its directory removed, as are empty directories left without
// a mount. The caller must hold the daemon's pid-file lock, so that no live
// server owns a mount under root. It returns the mountpoints it unmounted.
// What it cannot clean is logged as a warning, not returned: a stray file
// under root must not keep the daemon from starting. Only a mountinfo that
// cannot be read is an error.
func CleanStale(root string, log logrus.FieldLogger) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	return cleanStale(root, f, unix.Unmount, log)
}

func cleanStale(root string, mountinfoData io.Reader, unmountFn func(string, int) error, log logrus.FieldLogger) ([]string, error) {
	root = filepath.Clean(root)
	all, err := mountinfo.GetMountsFromReader(mountinfoData, mountinfo.PrefixFilter(root))
	if err != nil {
		return nil, fmt.Errorf("parse mountinfo: %w", err)
	}
	var ours []*mountinfo.Info
	others := map[string]bool{} // mountpoints under root that are not ours
	for _, m := range all {
		switch {
		case m.Mountpoint == root:
		case m.FSType == FsType:
			ours = append(ours, m)
		default:
			others[m.Mountpoint] = true
		}
	}
	// Deepest first, so a mount stacked inside another goes before it.
	sort.Slice(ours, func(i, j int) bool { return len(ours[i].Mountpoint) > len(ours[j].Mountpoint) })

	var cleaned []string
	for _, m := range ours {
		// Lazily: a dead connection cannot answer, and nothing may block
		// the daemon's start. A mountpoint no longer mounted gives EINVAL.
		if err := unmountFn(m.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			log.WithError(err).WithFields(logrus.Fields{"id": filepath.Base(m.Mountpoint), "mountpoint": m.Mountpoint}).
				Warn("cannot unmount stale fuse tree")
			others[m.Mountpoint] = true // never read a dead mount
			continue
		}
		log.WithFields(logrus.Fields{"id": filepath.Base(m.Mountpoint), "mountpoint": m.Mountpoint}).Info("unmounted stale fuse tree")
		cleaned = append(cleaned, m.Mountpoint)
	}

	// Then every directory left under root: a mountpoint just detached, or
	// one whose mount never happened. Only empty ones are removed (rmdir),
	// so nothing that still holds data can be lost, and none that is or
	// holds a mount not ours.
	entries, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		log.WithError(err).Warn("cannot list mount root")
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if !e.IsDir() || holdsMount(dir, others) {
			continue
		}
		if err := removeEmptyTree(dir); err != nil {
			log.WithError(err).WithField("dir", dir).Warn("cannot remove stale directory")
		}
	}
	return cleaned, nil
}

// removeEmptyTree removes dir and its sub-directories if they contain no
// files.
func removeEmptyTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			return fmt.Errorf("not empty: holds %s", e.Name())
		}
		if err := removeEmptyTree(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return os.Remove(dir)
}

// holdsMount reports whether dir is, or contains, one of mounts.
func holdsMount(dir string, mounts map[string]bool) bool {
	for mp := range mounts {
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			return true
		}
	}
	return false
}
