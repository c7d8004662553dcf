package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// stagedUpperName is the directory of a layer stage where the parent of the
// upper and work dirs is attached. Lower layers get decimal names ("0",
// "1", ...), so neither can be mistaken for a Docker layer path ("l/<id>",
// "<64 hex>/diff").
const stagedUpperName = "upper"

// layerStage is a private mount on which the ID-mapped layers of one
// overlay are attached while the overlay is mounted.
//
// Overlay takes its own private clones of the layers at mount time, so the
// layers need to stay attached only for the mount(2) call. They must be
// attached at all because kernels before 6.x refuse detached mounts as
// layers (seen on Debian 12's 6.1: EINVAL, "overlayfs: failed to clone
// upperpath"; 6.18 takes them). The overlay names the layers relative to
// the stage (the mounting thread's cwd), which keeps the option string
// short for any number of layers.
type layerStage struct {
	dir   string
	names []string // attached layer dirs, relative to dir
}

// newLayerStage makes a fresh directory under root (created 0700 if
// needed), binds it onto itself and makes that mount private, so that the
// layers attached below it propagate nowhere.
func newLayerStage(root string) (*layerStage, error) {
	if root == "" {
		return nil, errors.New("layer stage: no directory given")
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("layer stage: %w", err)
	}
	dir, err := os.MkdirTemp(root, "ovl")
	if err != nil {
		return nil, fmt.Errorf("layer stage: %w", err)
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		_ = unix.Rmdir(dir)
		return nil, fmt.Errorf("layer stage: bind %s: %w", dir, err)
	}
	s := &layerStage{dir: dir}
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		s.remove()
		return nil, fmt.Errorf("layer stage: make %s private: %w", dir, err)
	}
	return s, nil
}

// attach attaches the detached mount tree at the stage's directory name
// and returns name.
func (s *layerStage) attach(tree *os.File, name string) (string, error) {
	p := filepath.Join(s.dir, name)
	if err := unix.Mkdir(p, 0o700); err != nil {
		return "", fmt.Errorf("layer stage: %w", &os.PathError{Op: "mkdir", Path: p, Err: err})
	}
	s.names = append(s.names, name)
	if err := unix.MoveMount(int(tree.Fd()), "", unix.AT_FDCWD, p, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return "", fmt.Errorf("layer stage: attach %s at %s: %w", tree.Name(), p, err)
	}
	return name, nil
}

// attachLower attaches the next lower layer.
func (s *layerStage) attachLower(tree *os.File) (string, error) {
	return s.attach(tree, strconv.Itoa(len(s.names)))
}

// remove detaches the stage with every layer on it and removes its
// directories. The directories are removed one by one with rmdir, never
// recursively: were a layer still attached, its files must not be touched.
func (s *layerStage) remove() {
	_ = unix.Unmount(s.dir, unix.MNT_DETACH)
	for _, n := range s.names {
		_ = unix.Rmdir(filepath.Join(s.dir, n))
	}
	_ = unix.Rmdir(s.dir)
}

// isStagedLayer reports whether p names a layer the way a layer stage does
// (an overlay this package mounted).
func isStagedLayer(p string) bool {
	if strings.HasPrefix(p, stagedUpperName+"/") {
		return true
	}
	if p == "" {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
