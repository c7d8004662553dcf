// Package specialdir manages the host directories that back container
// paths which cannot live on the container's overlay rootfs (an overlay
// upper dir on another overlay is refused by the kernel): /var/lib/docker,
// /var/lib/containerd, /var/lib/kubelet and the like.
//
// Each one is <data-root>/<kind>/<container-id>, owned by the container's
// root host uid/gid, created on first use (seeded with what the image has
// at that path, ids shifted into the container's range) and deleted when
// the container is removed.
package specialdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Kind is one special dir: its name under the data root and the path it
// backs inside the container.
type Kind struct {
	Name string
	Dest string
}

// Kinds lists every special dir, in the order their mounts are returned.
func Kinds() []Kind {
	return []Kind{
		{Name: "docker", Dest: "/var/lib/docker"},
		{Name: "containerd", Dest: "/var/lib/containerd"},
		{Name: "kubelet", Dest: "/var/lib/kubelet"},
		{Name: "buildkit", Dest: "/var/lib/buildkit"},
		{Name: "k3s", Dest: "/var/lib/rancher/k3s"},
		{Name: "rke2", Dest: "/var/lib/rancher/rke2"},
		{Name: "k0s", Dest: "/var/lib/k0s"},
	}
}

const (
	// DataRootMode lets container roots (unmapped others on the host)
	// traverse to their own dir but not list anyone's.
	DataRootMode = 0o711
	// DirMode is the mode of a container's special dir. Docker itself sets
	// 0711 on its data root at every start: processes running as non-root
	// (e.g. in an inner container's user namespace) must traverse it to
	// reach the layers mounted below it. containerd does the same for its
	// root. Starting with 0711 spares the inner daemons a chmod and gives
	// the host no more than Docker gives on a normal host.
	DirMode = 0o711
	// tmpPrefix marks a dir being seeded: it becomes <id> by rename once
	// complete, so a crash never leaves a half-copied dir in use.
	tmpPrefix = ".tmp-"
	// maxIDLen keeps both <id> and tmpPrefix+<id> within NAME_MAX (255
	// bytes), so that a valid id can always name its dirs.
	maxIDLen = 255 - len(tmpPrefix)
	// maxDaemonJSON bounds how much of an image's daemon.json is read.
	maxDaemonJSON = 1 << 20
)

// ValidID reports whether id is usable as a directory name here: runc's
// id alphabet (letters, digits, _ + - .), no leading dot, at most
// maxIDLen (250) bytes.
func ValidID(id string) bool {
	if id == "" || len(id) > maxIDLen || id[0] == '.' {
		return false
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '_' || r == '+' || r == '-' || r == '.'
		if !ok {
			return false
		}
	}
	return true
}

// Owner is the container's id block: host ids [UID, UID+Size) and
// [GID, GID+Size) are in-container ids 0..Size-1.
type Owner struct {
	UID, GID, Size uint32
}

// overflowID is the id a host file gets when its in-image owner does not
// fit the container's block (it shows as nobody inside, as it would for an
// unmapped owner). It never lands in another container's block.
const overflowID = 65534

// ShiftUID maps an in-image uid to its host uid.
func (o Owner) ShiftUID(u uint32) uint32 {
	if u >= o.Size {
		return overflowID
	}
	return o.UID + u
}

// ShiftGID maps an in-image gid to its host gid.
func (o Owner) ShiftGID(g uint32) uint32 {
	if g >= o.Size {
		return overflowID
	}
	return o.GID + g
}

// Statfs is unix.Statfs, replaceable in tests.
type Statfs func(path string, buf *unix.Statfs_t) error

// PrepareDataRoot creates the data root (0711, root) if needed and refuses
// one on overlayfs or tmpfs: the special dirs must be on a filesystem an
// inner overlay can use as its upper layer, and must survive a reboot.
// The filesystem is checked before anything is created (on the nearest
// existing ancestor when dir does not exist yet).
func PrepareDataRoot(dir string, statfs Statfs) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("data root %q: must be an absolute path", dir)
	}
	dir = filepath.Clean(dir)
	probe := dir
	for {
		if _, err := os.Stat(probe); err == nil || probe == "/" {
			break
		}
		probe = filepath.Dir(probe)
	}
	var st unix.Statfs_t
	var st0 unix.Stat_t
	if err := statfs(probe, &st); err != nil {
		return fmt.Errorf("statfs data root %s: %w", probe, err)
	}
	switch int64(st.Type) {
	case unix.OVERLAYFS_SUPER_MAGIC:
		return fmt.Errorf("data root %s is on overlayfs: inner overlay mounts cannot use it; pick a dir on ext4/xfs/btrfs with --data-root", dir)
	case unix.TMPFS_MAGIC:
		return fmt.Errorf("data root %s is on tmpfs: container data would vanish at reboot; pick a dir on ext4/xfs/btrfs with --data-root", dir)
	}
	if err := os.MkdirAll(dir, DataRootMode); err != nil {
		return fmt.Errorf("create data root: %w", err)
	}
	if err := os.Chmod(dir, DataRootMode); err != nil {
		return fmt.Errorf("chmod data root: %w", err)
	}
	// Only root may rename or replace what is in it.
	if err := unix.Stat(dir, &st0); err == nil && st0.Uid != 0 && os.Geteuid() == 0 {
		if err := os.Chown(dir, 0, 0); err != nil {
			return fmt.Errorf("chown data root to root: %w", err)
		}
	}
	return nil
}

// Destinations returns the special dirs a container gets, with their
// container paths, minus those the user mounts something at. The docker
// one moves to the image's /etc/docker/daemon.json "data-root" when set.
// rootfs may be empty (no image to look into).
func Destinations(rootfs string, userDests []string) ([]Kind, error) {
	skip := map[string]bool{}
	for _, d := range userDests {
		skip[path.Clean("/"+d)] = true
	}
	dockerDest := "/var/lib/docker"
	if rootfs != "" {
		if _, err := os.Stat(rootfs); err != nil {
			return nil, fmt.Errorf("rootfs: %w", err)
		}
		dr, err := imageDockerDataRoot(rootfs)
		if err != nil {
			return nil, err
		}
		if dr != "" {
			dockerDest = dr
		}
	}
	var out []Kind
	for _, k := range Kinds() {
		if k.Name == "docker" {
			k.Dest = dockerDest
		}
		if !skip[k.Dest] {
			out = append(out, k)
		}
	}
	return out, nil
}

// imageDockerDataRoot reads "data-root" from the image's daemon.json.
// The file is resolved inside rootfs (the image's symlinks cannot point
// outside it). A missing or unparsable file, or a value that is not an
// absolute path below /, yields "".
func imageDockerDataRoot(rootfs string) (string, error) {
	f, err := openInRoot(rootfs, "/etc/docker/daemon.json", unix.O_RDONLY|unix.O_NONBLOCK)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxDaemonJSON))
	if err != nil {
		return "", fmt.Errorf("read %s/etc/docker/daemon.json: %w", rootfs, err)
	}
	var cfg struct {
		DataRoot string `json:"data-root"`
	}
	if json.Unmarshal(data, &cfg) != nil || !path.IsAbs(cfg.DataRoot) {
		return "", nil
	}
	if p := path.Clean(cfg.DataRoot); p != "/" {
		return p, nil
	}
	return "", nil
}

// openInRoot opens name (a container path) inside rootfs, resolving every
// symlink as if rootfs were "/" (openat2 RESOLVE_IN_ROOT).
func openInRoot(rootfs, name string, flags int) (*os.File, error) {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs %s: %w", rootfs, err)
	}
	defer unix.Close(root)
	rel := strings.TrimLeft(path.Clean("/"+name), "/")
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s in rootfs %s: %w", name, rootfs, err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(rootfs, rel)), nil
}

// HostDir is where kind's dir of container id lives on the host.
func HostDir(dataRoot, kind, id string) string {
	return filepath.Join(dataRoot, kind, id)
}

// Prepare makes sure container id's dir of kind k exists and returns its
// host path. On creation, the image's content at the container path
// (under rootfs, when rootfs is not empty) is copied in with its ids
// shifted into owner's block; created says whether this call made it.
func Prepare(dataRoot string, k Kind, id string, owner Owner, rootfs string, c *Copier) (dir string, created bool, err error) {
	if !ValidID(id) {
		return "", false, fmt.Errorf("container id %q is not usable as a directory name", id)
	}
	dir = HostDir(dataRoot, k.Name, id)
	fi, err := os.Lstat(dir)
	switch {
	case err == nil && fi.IsDir():
		return dir, false, nil
	case err == nil:
		return "", false, fmt.Errorf("special dir %s exists and is not a directory", dir)
	case !errors.Is(err, os.ErrNotExist):
		return "", false, fmt.Errorf("special dir %s: %w", dir, err)
	}
	kindDir := filepath.Join(dataRoot, k.Name)
	if err := os.MkdirAll(kindDir, DataRootMode); err != nil {
		return "", false, fmt.Errorf("create %s: %w", kindDir, err)
	}
	if err := os.Chmod(kindDir, DataRootMode); err != nil {
		return "", false, fmt.Errorf("chmod %s: %w", kindDir, err)
	}
	tmp := filepath.Join(kindDir, tmpPrefix+id)
	if err := os.RemoveAll(tmp); err != nil {
		return "", false, fmt.Errorf("remove leftover %s: %w", tmp, err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return "", false, fmt.Errorf("create %s: %w", tmp, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if rootfs != "" {
		if _, err := c.CopyIn(rootfs, k.Dest, tmp, owner); err != nil {
			return "", false, fmt.Errorf("seed %s from the image's %s: %w", dir, k.Dest, err)
		}
	}
	if err := os.Lchown(tmp, int(owner.UID), int(owner.GID)); err != nil {
		return "", false, fmt.Errorf("chown %s: %w", tmp, err)
	}
	if err := os.Chmod(tmp, DirMode); err != nil {
		return "", false, fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", false, fmt.Errorf("move %s into place: %w", dir, err)
	}
	ok = true
	return dir, true, nil
}

// Remove deletes every special dir of container id (and any half-made
// one). It carries on past failures and returns them joined.
func Remove(dataRoot, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("container id %q is not usable as a directory name", id)
	}
	var errs []error
	for _, k := range Kinds() {
		for _, name := range []string{id, tmpPrefix + id} {
			if err := os.RemoveAll(filepath.Join(dataRoot, k.Name, name)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Sweep deletes special dirs whose container holds no lease (keep returns
// false), e.g. left behind when the daemon died between forgetting a lease
// and deleting its dirs, and half-made dirs of an interrupted seeding. It
// returns the container ids it cleaned.
func Sweep(dataRoot string, keep func(id string) bool) ([]string, error) {
	var removed []string
	var errs []error
	seen := map[string]bool{}
	for _, k := range Kinds() {
		kindDir := filepath.Join(dataRoot, k.Name)
		entries, err := os.ReadDir(kindDir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", kindDir, err))
			continue
		}
		for _, e := range entries {
			name := e.Name()
			id, half := strings.CutPrefix(name, tmpPrefix)
			if !half && keep(id) {
				continue
			}
			if err := os.RemoveAll(filepath.Join(kindDir, name)); err != nil {
				errs = append(errs, err)
				continue
			}
			if !seen[id] {
				seen[id] = true
				removed = append(removed, id)
			}
		}
	}
	return removed, errors.Join(errs...)
}
