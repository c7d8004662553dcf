// Package mountstage gives host-side code a private place to assemble
// mounts: a fresh directory bound onto itself and made private, so that
// what is attached below it propagates nowhere and is seen only by host
// root, for as long as the assembly takes.
//
// Kernels before 6.x need it where newer ones take detached mounts
// directly (seen on Debian 12's 6.1): overlay refuses detached mounts as
// layers, and move_mount refuses a detached mount as a target. Attached
// on a stage first, the layers can be named by path, and a tree can be
// put together and then cloned whole (open_tree OPEN_TREE_CLONE |
// AT_RECURSIVE) into a detached copy.
package mountstage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Stage is one private assembly directory.
type Stage struct {
	// Dir is the stage's directory (a private mount).
	Dir   string
	names []string // directories made on the stage, relative to Dir
}

// New makes a fresh directory under root (created 0700 if needed), binds
// it onto itself and makes that mount private. prefix starts its name.
func New(root, prefix string) (*Stage, error) {
	if root == "" {
		return nil, errors.New("mount stage: no directory given")
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("mount stage: %w", err)
	}
	dir, err := os.MkdirTemp(root, prefix)
	if err != nil {
		return nil, fmt.Errorf("mount stage: %w", err)
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		_ = unix.Rmdir(dir)
		return nil, fmt.Errorf("mount stage: bind %s: %w", dir, err)
	}
	s := &Stage{Dir: dir}
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		s.Remove()
		return nil, fmt.Errorf("mount stage: make %s private: %w", dir, err)
	}
	return s, nil
}

// Attach attaches the detached mount tree (an open_tree or fsmount fd) at
// a new directory name on the stage and returns its path.
//
// The tree is made private first (every mount in it). A clone of a shared
// mount (open_tree OPEN_TREE_CLONE of Docker's data dir on a host whose /
// is shared) is a peer of its source: a mount made at the source later
// (the overlay at Docker's merged dir) would propagate into the clone on
// the stage, and removing the stage would propagate that unmount back and
// take the source's mount away too.
func (s *Stage) Attach(tree int, name string) (string, error) {
	private := unix.MountAttr{Propagation: unix.MS_PRIVATE}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &private); err != nil {
		return "", fmt.Errorf("mount stage: make the tree for %s private: %w", name, err)
	}
	p := filepath.Join(s.Dir, name)
	if err := unix.Mkdir(p, 0o700); err != nil {
		return "", fmt.Errorf("mount stage: %w", &os.PathError{Op: "mkdir", Path: p, Err: err})
	}
	s.names = append(s.names, name)
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, p, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return "", fmt.Errorf("mount stage: attach at %s: %w", p, err)
	}
	return p, nil
}

// Attached is how many trees Attach was asked to attach.
func (s *Stage) Attached() int { return len(s.names) }

// Remove detaches the stage with everything on it and removes its
// directories. They are removed one by one with rmdir, never recursively:
// were a mount still attached, its files must not be touched.
func (s *Stage) Remove() {
	_ = unix.Unmount(s.Dir, unix.MNT_DETACH)
	for _, n := range s.names {
		_ = unix.Rmdir(filepath.Join(s.Dir, n))
	}
	_ = unix.Rmdir(s.Dir)
}
