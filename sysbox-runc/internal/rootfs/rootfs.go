// Package rootfs presents a container's root filesystem ID-mapped to the
// container's user-namespace range without changing the owner of any file.
//
// Two kinds of rootfs are handled. A Docker overlay "merged" dir is
// replaced in place by an overlay of the same layers whose lowers and upper
// are ID-mapped mounts; it is mounted by host root acting with the
// container root's host fsuid/fsgid, so files keep their on-disk ids and
// Docker's trusted.overlay.* format. Any other directory is ID-mapped
// (recursively) and attached at a staging directory.
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/internal/idmap"
)

// Kind says how a rootfs was presented.
type Kind string

const (
	// KindOverlay: an overlay mountpoint (Docker's MergedDir) replaced in
	// place by an overlay of ID-mapped layers.
	KindOverlay Kind = "overlay"
	// KindBind: a plain directory, ID-mapped and attached at a staging dir.
	KindBind Kind = "bind"
)

// Dirs are the host directories Prepare works in.
type Dirs struct {
	// Staging is where the container's root is exposed (required for a
	// plain-directory rootfs; optional for an overlay, see Prepare).
	Staging string
	// Layers is where the ID-mapped layers of an overlay are attached
	// while it is mounted (each Prepare uses a fresh directory below it
	// and removes it before returning). Required for an overlay.
	Layers string
}

// State records what Prepare did. It is JSON-serialisable so that another
// process can Release it.
type State struct {
	Kind Kind `json:"kind"`
	// Path is the directory to use as the container's root (root.path).
	Path string `json:"path"`
	// Original is the rootfs Prepare was given (symlinks resolved).
	Original string `json:"original"`
	// Staging is the staging directory, if one was used; Path is then
	// Staging.
	Staging string `json:"staging,omitempty"`
	// OverlayMountID identifies the overlay Prepare mounted at Original
	// (KindOverlay), StagingMountID the mount it attached at Staging, so
	// that Release never unmounts someone else's mount at the same place.
	OverlayMountID uint64 `json:"overlayMountId,omitempty"`
	StagingMountID uint64 `json:"stagingMountId,omitempty"`
	// UniqueMountIDs says the ids are 64-bit never-reused ids
	// (STATX_MNT_ID_UNIQUE) rather than mountinfo ids.
	UniqueMountIDs bool `json:"uniqueMountIds,omitempty"`
	// Engine is the engine's overlay that Prepare replaced (KindOverlay):
	// Release mounts it again in place of ours, so the engine finds its
	// rootfs mounted for as long as it believes it is.
	Engine *OverlayMount `json:"engineOverlay,omitempty"`
}

// OverlayMount is enough to make an overlay mount again as it was.
type OverlayMount struct {
	Source string `json:"source"`
	// Flags are the mount flags (MS_*) of the mount.
	Flags uintptr `json:"flags"`
	// Options is the overlay option string as the mount was made.
	Options string `json:"options"`
	// Base is the directory relative layer paths are resolved against.
	Base string `json:"base"`
}

// mountOverlayFunc mounts an overlay whose relative layer paths in data are
// resolved against dir; replaced in tests to force failures.
type mountOverlayFunc func(source, target string, flags uintptr, data, dir string, m idmap.Mapping) error

// Prepare presents rootfs ID-mapped with u (whose mapping is m).
//
// If rootfs is an overlay mountpoint (Docker's MergedDir), the overlay is
// replaced in place by one whose lower and upper layers are ID-mapped
// mounts (attached below dirs.Layers for the moment of the mount). State.Path
// is then rootfs, or, if dirs.Staging is not empty, dirs.Staging with a bind
// of the new overlay on it: Docker's data root is 0710 root:root, which a
// user-namespaced root cannot traverse, so the container should be given
// the staging path.
//
// Otherwise rootfs is ID-mapped recursively and attached at dirs.Staging
// (required then); State.Path is dirs.Staging.
//
// dirs.Staging and missing parents are created (0711). A rootfs on a
// filesystem that cannot be ID-mapped gives an error wrapping
// idmap.ErrNotSupported that names the path and the filesystem type. On
// error nothing is left behind (Docker's overlay is mounted again).
func Prepare(rootfs string, dirs Dirs, u *idmap.Userns, m idmap.Mapping) (*State, error) {
	return prepare(rootfs, dirs, u, m, mountOverlayAsContainerRoot)
}

func prepare(rootfs string, dirs Dirs, u *idmap.Userns, m idmap.Mapping, mountOverlay mountOverlayFunc) (*State, error) {
	if u == nil || u.Fd() < 0 {
		return nil, errors.New("prepare rootfs: no user namespace")
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("prepare rootfs: %w", err)
	}
	if u.Mapping() != m {
		return nil, fmt.Errorf("prepare rootfs: mapping %+v differs from the user namespace's %+v", m, u.Mapping())
	}
	abs, err := filepath.Abs(rootfs)
	if err != nil {
		return nil, fmt.Errorf("prepare rootfs %s: %w", rootfs, err)
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("prepare rootfs: %w", err)
	}
	info, err := mountAt(resolved)
	if err != nil {
		return nil, fmt.Errorf("prepare rootfs %s: %w", resolved, err)
	}
	if info != nil && info.FSType == "overlay" {
		return prepareOverlay(resolved, dirs, info, u, m, mountOverlay)
	}
	return prepareBind(resolved, dirs.Staging, u)
}

// prepareBind ID-maps the tree at rootfs and attaches it at stagingDir.
func prepareBind(rootfs, stagingDir string, u *idmap.Userns) (*State, error) {
	if stagingDir == "" {
		return nil, fmt.Errorf("prepare rootfs %s: no staging dir", rootfs)
	}
	if err := idmap.CheckSupported(rootfs); err != nil {
		return nil, fmt.Errorf("prepare rootfs: %w", err)
	}
	tree, err := idmap.IDMapTree(rootfs, u, true)
	if err != nil {
		return nil, fmt.Errorf("prepare rootfs: %w", err)
	}
	defer tree.Close()
	s := &State{Kind: KindBind, Original: rootfs}
	if err := attachAtStaging(s, tree, stagingDir); err != nil {
		return nil, fmt.Errorf("prepare rootfs %s: %w", rootfs, err)
	}
	return s, nil
}

// attachAtStaging attaches the detached mount tree at stagingDir (created
// if needed) and records it in s. On error nothing is left behind.
func attachAtStaging(s *State, tree *os.File, stagingDir string) error {
	staging, err := filepath.Abs(stagingDir)
	if err != nil {
		return fmt.Errorf("staging dir %s: %w", stagingDir, err)
	}
	created, err := mkdirAllTracked(staging, 0o711)
	if err != nil {
		return fmt.Errorf("staging dir: %w", err)
	}
	undo := func() {
		for i := len(created) - 1; i >= 0; i-- {
			_ = unix.Rmdir(created[i])
		}
	}
	if info, err := mountAt(staging); err != nil || info != nil {
		undo()
		if err == nil {
			err = fmt.Errorf("%s is already a mountpoint (%s)", staging, info.FSType)
		}
		return fmt.Errorf("staging dir: %w", err)
	}
	if err := unix.MoveMount(int(tree.Fd()), "", unix.AT_FDCWD, staging, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		undo()
		return fmt.Errorf("attach at %s: %w", staging, err)
	}
	id, unique, err := mountID(staging)
	if err != nil {
		_ = unix.Unmount(staging, unix.MNT_DETACH)
		undo()
		return err
	}
	s.Path, s.Staging, s.StagingMountID, s.UniqueMountIDs = staging, staging, id, unique
	return nil
}

// prepareOverlay replaces the overlay mounted at merged (described by info)
// with one made of ID-mapped layers, and exposes it at dirs.Staging if set.
func prepareOverlay(merged string, dirs Dirs, info *mountinfo.Info, u *idmap.Userns, m idmap.Mapping, mountOverlay mountOverlayFunc) (*State, error) {
	cfg, err := parseOverlayOptions(info.VFSOptions)
	if err != nil {
		return nil, fmt.Errorf("prepare rootfs: overlay at %s: %w", merged, err)
	}
	if isStagedLayer(cfg.Upper) || isStagedLayer(cfg.Lowers[0]) {
		return nil, fmt.Errorf("prepare rootfs: overlay at %s is already made of ID-mapped layers", merged)
	}
	cfg.resolve(merged)

	stage, err := newLayerStage(dirs.Layers)
	if err != nil {
		return nil, fmt.Errorf("prepare rootfs: overlay at %s: %w", merged, err)
	}
	defer stage.Remove()
	data, err := idmappedOverlayOptions(cfg, u, stage)
	if err != nil {
		return nil, fmt.Errorf("prepare rootfs: overlay at %s: %w", merged, err)
	}
	flags := mountFlags(info.Options)
	if cfg.ReadOnly {
		flags |= unix.MS_RDONLY
	}

	// Docker's overlay goes first: two overlays sharing an upper dir must
	// never be mounted together. (Unmounting it syncs the upper
	// filesystem, as every overlay unmount does.)
	if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil {
		return nil, fmt.Errorf("prepare rootfs: unmount overlay at %s: %w", merged, err)
	}
	s := &State{Kind: KindOverlay, Path: merged, Original: merged,
		Engine: &OverlayMount{Source: info.Source, Flags: flags, Options: cfg.Original, Base: cfg.Base}}
	err = mountOverlay(info.Source, merged, flags, data, stage.Dir, m)
	if err == nil {
		err = finishOverlay(s, merged, dirs.Staging, flags)
		if err != nil {
			_ = unix.Unmount(merged, unix.MNT_DETACH)
		}
	}
	if err != nil {
		if rerr := remountOriginal(merged, s.Engine); rerr != nil {
			return nil, fmt.Errorf("prepare rootfs: overlay at %s: %w; restoring the original overlay failed: %w", merged, err, rerr)
		}
		return nil, fmt.Errorf("prepare rootfs: overlay at %s: %w", merged, err)
	}
	return s, nil
}

// finishOverlay checks the overlay just mounted at merged, records it in
// s and binds it at stagingDir if set. On error the staging mount is gone;
// the overlay is left to the caller.
func finishOverlay(s *State, merged, stagingDir string, flags uintptr) error {
	var err error
	if s.OverlayMountID, s.UniqueMountIDs, err = mountID(merged); err != nil {
		return err
	}
	if flags&unix.MS_RDONLY == 0 {
		if err := checkWritable(merged); err != nil {
			return err
		}
	}
	if stagingDir == "" {
		return nil
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, merged, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("open_tree %s: %w", merged, err)
	}
	tree := os.NewFile(uintptr(fd), merged)
	defer tree.Close()
	return attachAtStaging(s, tree, stagingDir)
}

// idmappedOverlayOptions ID-maps each layer of cfg, attaches the mapped
// trees on stage and returns overlay mount options that name them relative
// to the stage.
func idmappedOverlayOptions(cfg *overlayConfig, u *idmap.Userns, stage *layerStage) (string, error) {
	mapTree := func(path, name string) (string, error) {
		if err := idmap.CheckSupported(path); err != nil {
			return "", fmt.Errorf("layer: %w", err)
		}
		t, err := idmap.IDMapTree(path, u, false)
		if err != nil {
			return "", err
		}
		defer t.Close()
		if name == "" {
			return stage.attachLower(t)
		}
		return stage.attach(t, name)
	}
	mapAll := func(paths []string) ([]string, error) {
		out := make([]string, 0, len(paths))
		for _, p := range paths {
			mp, err := mapTree(p, "")
			if err != nil {
				return nil, err
			}
			out = append(out, mp)
		}
		return out, nil
	}

	lowers, err := mapAll(cfg.Lowers)
	if err != nil {
		return "", err
	}
	datas, err := mapAll(cfg.Datas)
	if err != nil {
		return "", err
	}
	opts := []string{"lowerdir=" + strings.Join(lowers, ":")}
	if len(datas) > 0 {
		opts[0] += "::" + strings.Join(datas, "::")
	}
	if cfg.Upper != "" {
		// upperdir and workdir must be on one mount: ID-map their parent.
		parent := filepath.Dir(cfg.Upper)
		if filepath.Dir(cfg.Work) != parent {
			return "", fmt.Errorf("upperdir %s and workdir %s have different parents", cfg.Upper, cfg.Work)
		}
		mp, err := mapTree(parent, stagedUpperName)
		if err != nil {
			return "", err
		}
		opts = append(opts,
			"upperdir="+mp+"/"+escapeLayer(filepath.Base(cfg.Upper)),
			"workdir="+mp+"/"+escapeLayer(filepath.Base(cfg.Work)))
	}
	opts = append(opts, "index=off")
	opts = append(opts, cfg.Extra...)
	data := strings.Join(opts, ",")
	if len(data) >= os.Getpagesize() {
		return "", fmt.Errorf("overlay options for %d layers exceed a page (%d bytes)", len(lowers)+len(datas), len(data))
	}
	return data, nil
}

// mountOverlayAsContainerRoot mounts the overlay from a throwaway thread
// whose fsuid/fsgid are the container root's host ids, keeping all
// capabilities. Overlay records the mounter's credentials and uses them on
// the upper layer: through the ID-mapped upper, host id m.HostUID is disk
// id 0, so work dir setup, copy-up and whiteouts are stored with on-disk
// ids (as host root, fsuid 0 has no mapping there and the overlay would come
// up read-only). Relative layer paths in data are resolved against dir.
func mountOverlayAsContainerRoot(source, target string, flags uintptr, data, dir string, m idmap.Mapping) error {
	return onThrowawayThread(func() error {
		if err := chdirThread(dir); err != nil {
			return err
		}
		if err := actAsHostID(m.HostUID, m.HostGID); err != nil {
			return err
		}
		if err := unix.Mount(source, target, "overlay", flags, data); err != nil {
			return fmt.Errorf("mount overlay (%s): %w", data, err)
		}
		return nil
	})
}

// remountOriginal mounts the overlay described by o at target again, as it
// was (options verbatim, relative paths from o.Base, host root
// credentials).
func remountOriginal(target string, o *OverlayMount) error {
	return onThrowawayThread(func() error {
		if err := chdirThread(o.Base); err != nil {
			return err
		}
		if err := unix.Mount(o.Source, target, "overlay", o.Flags, o.Options); err != nil {
			return fmt.Errorf("mount overlay (%s): %w", o.Options, err)
		}
		return nil
	})
}

// checkWritable fails if the overlay at path came up read-only (overlay
// falls back to read-only when it cannot use its work dir).
func checkWritable(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", path, err)
	}
	if st.Flags&unix.ST_RDONLY != 0 {
		return fmt.Errorf("overlay at %s came up read-only (see the kernel log)", path)
	}
	return nil
}

// Release undoes Prepare: it unmounts the mounts Prepare made (those still
// there), removes the staging dir and, where it unmounted the overlay that
// replaced the engine's, mounts the engine's overlay again. The engine
// counts its own mounts of a rootfs and unmounts it when the count drops to
// zero; `docker restart` holds an extra count across stop and start, so the
// rootfs must still be mounted when the container is created again. It is
// idempotent; what is already gone is not an error, and a mount someone
// else put at the rootfs is left alone.
func Release(s *State) error {
	if s == nil {
		return nil
	}
	if s.Kind != KindOverlay && s.Kind != KindBind {
		return fmt.Errorf("release rootfs: unknown kind %q", s.Kind)
	}
	if s.Staging != "" {
		if _, err := unmountIfOurs(s.Staging, s.StagingMountID, s.UniqueMountIDs); err != nil {
			return err
		}
		if err := unix.Rmdir(s.Staging); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("release rootfs: remove staging dir: %w", err)
		}
	}
	if s.Kind != KindOverlay {
		return nil
	}
	removed, err := unmountIfOurs(s.Original, s.OverlayMountID, s.UniqueMountIDs)
	if err != nil || !removed || s.Engine == nil {
		return err
	}
	info, err := mountAt(s.Original)
	if err != nil {
		return fmt.Errorf("release rootfs: %w", err)
	}
	if info != nil {
		return nil // something (the engine) is mounted there again already
	}
	if err := remountOriginal(s.Original, s.Engine); err != nil {
		return fmt.Errorf("release rootfs: give the engine its overlay back at %s: %w", s.Original, err)
	}
	return nil
}

// unmountIfOurs unmounts the mount at path if it is the one with ourID and
// reports whether it did.
func unmountIfOurs(path string, ourID uint64, unique bool) (bool, error) {
	if ourID == 0 {
		return false, nil
	}
	id, gotUnique, err := mountID(path)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("release rootfs: %w", err)
	}
	if id != ourID || gotUnique != unique {
		return false, nil
	}
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("release rootfs: unmount %s: %w", path, err)
	}
	return true, nil
}

// mountID returns the id of the mount path is on, the never-reused 64-bit
// one where the kernel has it.
func mountID(path string) (uint64, bool, error) {
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT, unix.STATX_MNT_ID_UNIQUE|unix.STATX_MNT_ID, &stx)
	if err != nil {
		return 0, false, fmt.Errorf("statx %s: %w", path, err)
	}
	switch {
	case stx.Mask&unix.STATX_MNT_ID_UNIQUE != 0:
		return stx.Mnt_id, true, nil
	case stx.Mask&unix.STATX_MNT_ID != 0:
		return stx.Mnt_id, false, nil
	}
	return 0, false, fmt.Errorf("statx %s: no mount id", path)
}

// mountAt returns the mountinfo entry of the mount whose mountpoint is path,
// or nil if path is not a mountpoint.
func mountAt(path string) (*mountinfo.Info, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT, unix.STATX_MNT_ID, &stx); err != nil {
		return nil, fmt.Errorf("statx %s: %w", path, err)
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return nil, fmt.Errorf("statx %s: no mount id", path)
	}
	id := int(stx.Mnt_id)
	mounts, err := mountinfo.GetMounts(func(i *mountinfo.Info) (skip, stop bool) {
		return i.ID != id, i.ID == id
	})
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	if len(mounts) == 0 || mounts[0].Mountpoint != path {
		return nil, nil
	}
	return mounts[0], nil
}

// mkdirAllTracked is os.MkdirAll that returns the dirs it created, topmost
// first.
func mkdirAllTracked(dir string, perm os.FileMode) ([]string, error) {
	var missing []string
	for p := dir; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		for _, p := range missing {
			_ = os.Remove(p)
		}
		return nil, err
	}
	created := make([]string, 0, len(missing))
	for i := len(missing) - 1; i >= 0; i-- {
		created = append(created, missing[i])
	}
	return created, nil
}
