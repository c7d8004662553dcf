package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
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

// InitLeaf is the cgroup v2 child of the container's cgroup that its init process is
// moved into, so that the root of the container's cgroup namespace holds no process.
//
// cgroup v2 lets a cgroup enable controllers for its children (cgroup.subtree_control)
// only while it has no process of its own ("no internal processes"). The host's root
// cgroup is exempt; the root of a cgroup namespace is not. With the init process in a
// leaf, root inside can enable memory, cpu, pids, io at once, as on a VM: inner Docker
// (cgroupfs driver) creates /docker/<id> with limits, and systemd as PID 1, which takes
// a cgroup named init.scope for its own and the parent of it for the root of its tree,
// lays out its slices under the namespace root. Limits stay on the container's cgroup
// and hold for everything below it. runc exec joins the init process's cgroup when the
// container's refuses it (EBUSY), so exec'd processes land in the leaf too.
const InitLeaf = "init.scope"

// NestInitInLeaf creates InitLeaf under the container's cgroup v2 directory dir,
// delegates it to uid/gid like the container's own cgroup and moves the process pid into
// it. Call it between create and start, on cgroup v2 hosts only.
func NestInitInLeaf(dir string, pid, uid, gid int) error {
	leaf := filepath.Join(dir, InitLeaf)
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("init cgroup leaf: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(leaf, "cgroup.procs"), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("init cgroup leaf: %w", err)
	}
	_, werr := f.WriteString(strconv.Itoa(pid))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("init cgroup leaf: move pid %d into %s: %w", pid, leaf, werr)
	}
	if err := DelegateCgroups(map[string]string{"": leaf}, uid, gid); err != nil {
		return fmt.Errorf("init cgroup leaf: %w", err)
	}
	return nil
}
