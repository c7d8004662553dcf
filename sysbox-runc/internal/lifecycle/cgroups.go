package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// delegatedFiles are the files of the container's own cgroup that container
// root gets to write: enough to create child cgroups and move tasks into
// them. The limit files (memory.limit_in_bytes, cpu.max, ...) stay owned by
// host root, so the container cannot raise its own limits; inside children
// it creates, root owns everything.
var delegatedFiles = []string{
	"cgroup.procs",
	"tasks",
	"cgroup.clone_children",
	"cgroup.subtree_control",
	"cgroup.threads",
}

// DelegateCgroups chowns the container's cgroup directories (every v1
// hierarchy, or the v2 directory) and their delegation files to the host
// ids of container root.
func DelegateCgroups(paths map[string]string, uid, gid int) error {
	seen := map[string]bool{}
	dirs := make([]string, 0, len(paths))
	for _, p := range paths {
		if p != "" && !seen[p] {
			seen[p] = true
			dirs = append(dirs, p)
		}
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		if err := os.Chown(dir, uid, gid); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // controller not in use for this container
			}
			return fmt.Errorf("delegate cgroup %s: %w", dir, err)
		}
		for _, name := range delegatedFiles {
			if err := os.Chown(filepath.Join(dir, name), uid, gid); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("delegate cgroup %s: %w", dir, err)
			}
		}
	}
	return nil
}
