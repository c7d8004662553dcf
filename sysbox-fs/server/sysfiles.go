package server

import (
	"math"
	"os"
	"path/filepath"

	"github.com/sysboxd/sysboxd/sysbox-fs/fusefs"
	"github.com/sysboxd/sysboxd/sysbox-fs/sysctl"
)

// SysFilesConfig configures the per-container /proc/sys and /sys files.
type SysFilesConfig struct {
	// Proc is the procfs pass-through sysctl files are opened through
	// (sysctl.OpenProc("/proc")).
	Proc *sysctl.Proc
	// ProcDir is the host's /proc, where /proc/<init pid>/ns is found.
	ProcDir string
	// Host is the host's /proc/sys, where emulated knobs start from.
	Host sysctl.Host
	// SysDir is the host's /sys: a /sys file is served (and mounted by
	// the runtime) only where the host has its directory, since the
	// runtime cannot create a mountpoint inside sysfs.
	SysDir string
}

// sysDirs are the /sys/kernel directories a container finds empty.
var sysDirs = []string{"config", "debug", "security", "tracing"}

const (
	productUUID = "sys/devices/virtual/dmi/id/product_uuid"
	hashsize    = "sys/module/nf_conntrack/parameters/hashsize"
)

// sysNodes builds one container's /proc/sys and /sys nodes, and the
// paths the runtime mounts (inside the tree, e.g. "proc/sys").
func (s *Server) sysNodes(id string, sc *sysctl.Container, owner fusefs.Owner) ([]fusefs.CustomNode, []string) {
	cfg := s.cfg.SysFiles
	customNodes := []fusefs.CustomNode{fusefs.SysctlDir("proc/sys", sc, owner)}
	paths := []string{"proc/sys"}
	host := func(p string) string { return filepath.Join(cfg.SysDir, filepath.FromSlash(p[len("sys/"):])) }
	// The file itself must exist: a host whose firmware gives no SMBIOS
	// UUID has the dmi/id directory without product_uuid.
	if isRegular(host(productUUID)) {
		uuid := []byte(sysctl.ProductUUID(id) + "\n")
		customNodes = append(customNodes, fusefs.ValueFile(productUUID, 0o400, owner,
			func() ([]byte, error) { return uuid, nil }, nil))
		paths = append(paths, productUUID)
	}
	if isRegular(host(hashsize)) {
		v := sysctl.NewValue(host(hashsize), sysctl.IntVec{Fields: 1, Min: 1, Max: math.MaxInt32})
		customNodes = append(customNodes, fusefs.ValueFile(hashsize, 0o600, owner, v.Read, v.Write))
		paths = append(paths, hashsize)
	}
	for _, d := range sysDirs {
		p := "sys/kernel/" + d
		if isDir(host(p)) {
			customNodes = append(customNodes, fusefs.EmptyDir(p, owner))
			paths = append(paths, p)
		}
	}
	return customNodes, paths
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func isRegular(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
