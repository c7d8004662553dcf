package server

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/internal/mountns"
	"github.com/sysboxd/sysboxd/sysbox-fs/fusefs"
)

// restore takes over the containers a previous daemon recorded in
// Config.StateDir. When a daemon stops (upgrade, restart, crash) its FUSE
// connections die and every virtual file inside its containers answers
// ENOTCONN. For each recorded container whose init still runs, restore
// mounts a new tree, registers the container as it was, and in each mount
// namespace of the container's processes puts the new tree's files in
// place of the dead ones. Records of containers that ended are dropped.
// It runs from New, before the daemon serves: it only logs.
func (s *Server) restore() {
	if s.cfg.StateDir == "" {
		return
	}
	log := s.cfg.Log
	if err := os.MkdirAll(s.cfg.StateDir, 0o700); err != nil {
		log.WithError(err).Warn("cannot create the state dir: running containers are not recorded")
		return
	}
	recs, bad, err := loadRecords(s.cfg.StateDir)
	if err != nil {
		log.WithError(err).Warn("cannot read the state dir: containers of the previous daemon are not taken over")
		return
	}
	for p, why := range bad {
		log.WithError(why).WithField("file", p).Warn("dropping an unreadable container record")
		os.Remove(p)
	}
	for _, r := range recs {
		s.restoreOne(r, log.WithField("id", r.ID))
	}
}

func (s *Server) restoreOne(r record, log logrus.FieldLogger) {
	preRegistered := time.Unix(0, r.PreRegisteredUnixNano)
	switch {
	case r.InitPid > 0 && !s.initAlive(r.InitPid, r.InitStartTicks):
		log.WithField("init_pid", r.InitPid).Info("container ended while sysbox-fs was down: record dropped")
		s.forget(r.ID)
		return
	case r.InitPid == 0 && s.cfg.Host.Now().Sub(preRegistered) > preRegisterTTL:
		log.Info("container pre-registered long ago and never registered: record dropped")
		s.forget(r.ID)
		return
	}
	c, err := s.mountTree(r.ID, owner{UID: r.UID, GID: r.GID, Size: r.Size})
	if err != nil {
		log.WithError(err).Warn("cannot mount a tree for a running container: its virtual files stay dead")
		s.forget(r.ID)
		return
	}
	if c.sysctl != nil {
		c.sysctl.Values().Load(r.Sysctls)
	}
	c.preRegistered = preRegistered
	if r.InitPid > 0 {
		c.register(r.InitPid, time.Unix(0, r.StartTimeUnixNano), r.CgroupPaths, s.cfg.Host)
		c.initTicks.Store(r.InitStartTicks)
	}
	s.setLocked(c)
	if r.InitPid == 0 { // pre-registered only: the runtime has not bound anything yet
		log.Info("pre-registered container taken over")
		return
	}
	replaced, errs := s.reattach(c, r)
	entry := log.WithFields(logrus.Fields{"init_pid": r.InitPid, "replaced": replaced})
	if len(errs) > 0 {
		entry.WithError(errors.Join(errs...)).Warn("container taken over, but some virtual files could not be replaced")
		return
	}
	entry.Info("container taken over")
}

// reattach replaces, in every mount namespace of the container's
// processes, each sysboxfs mount that is not from c's new tree (a dead
// connection of the previous daemon) with the same file or directory of
// the new tree, keeping its mount flags. It returns how many mounts it
// replaced.
func (s *Server) reattach(c *container, r record) (int, []error) {
	var st unix.Stat_t
	if err := unix.Stat(c.mount.Dir(), &st); err != nil {
		return 0, []error{fmt.Errorf("stat new tree: %w", err)}
	}
	newMajor, newMinor := int(unix.Major(st.Dev)), int(unix.Minor(st.Dev))
	replaced := 0
	var errs []error
	for _, pid := range namespacePids(s.procDir(), r.InitPid, r.CgroupPaths) {
		mounts, err := processMounts(s.procDir(), pid)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var stale []*mountinfo.Info
		for _, m := range mounts {
			if m.FSType == fusefs.FsType && (m.Major != newMajor || m.Minor != newMinor) {
				stale = append(stale, m)
			}
		}
		if len(stale) == 0 {
			continue
		}
		n, err := replaceMounts(pid, c.mount.Dir(), stale)
		replaced += n
		if err != nil {
			errs = append(errs, fmt.Errorf("mount namespace of pid %d: %w", pid, err))
		}
	}
	return replaced, errs
}

// replaceMounts clones the new tree's counterpart of each stale mount and
// swaps it in, inside pid's mount namespace.
func replaceMounts(pid int, treeDir string, stale []*mountinfo.Info) (int, error) {
	trees := make([]int, 0, len(stale))
	defer func() {
		for _, fd := range trees {
			unix.Close(fd)
		}
	}()
	for _, m := range stale {
		src := filepath.Join(treeDir, filepath.Clean("/"+m.Root))
		fd, err := mountns.Clone(src)
		if err != nil {
			return 0, err
		}
		trees = append(trees, fd)
		if err := mountns.SetFlags(fd, mountFlags(m.Options)); err != nil {
			return 0, fmt.Errorf("%s: %w", m.Mountpoint, err)
		}
	}
	n := 0
	err := mountns.Run(pid, func() error {
		var errs []error
		for i, m := range stale {
			if err := mountns.Replace(trees[i], m.Mountpoint); err != nil {
				errs = append(errs, err)
				continue
			}
			n++
		}
		return errors.Join(errs...)
	})
	return n, err
}

// mountFlags maps mountinfo's per-mount options to MOUNT_ATTR_* flags.
func mountFlags(options string) uint64 {
	var attrs uint64
	for _, o := range strings.Split(options, ",") {
		switch o {
		case "ro":
			attrs |= unix.MOUNT_ATTR_RDONLY
		case "nosuid":
			attrs |= unix.MOUNT_ATTR_NOSUID
		case "nodev":
			attrs |= unix.MOUNT_ATTR_NODEV
		case "noexec":
			attrs |= unix.MOUNT_ATTR_NOEXEC
		}
	}
	return attrs
}

func processMounts(procDir string, pid int) ([]*mountinfo.Info, error) {
	f, err := os.Open(filepath.Join(procDir, strconv.Itoa(pid), "mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("mounts of pid %d: %w", pid, err)
	}
	defer f.Close()
	ms, err := mountinfo.GetMountsFromReader(f, nil)
	if err != nil {
		return nil, fmt.Errorf("mounts of pid %d: %w", pid, err)
	}
	return ms, nil
}

// namespacePids returns one pid per distinct mount namespace among the
// container's init and the processes of its cgroup (sub-cgroups
// included): systemd services and inner containers may have namespaces of
// their own holding copies of the virtual file mounts. The init comes
// first.
func namespacePids(procDir string, initPid int, cgroupPaths map[string]string) []int {
	pids := append([]int{initPid}, cgroupPids(cgroupPaths)...)
	seen := map[uint64]bool{}
	var out []int
	for _, pid := range pids {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(procDir, strconv.Itoa(pid), "ns", "mnt"), &st); err != nil {
			continue // gone
		}
		if seen[st.Ino] {
			continue
		}
		seen[st.Ino] = true
		out = append(out, pid)
	}
	return out
}

// cgroupPids lists the processes of the first readable cgroup directory
// among paths (one hierarchy holds them all), walking sub-cgroups.
func cgroupPids(paths map[string]string) []int {
	for _, dir := range paths {
		if dir == "" {
			continue
		}
		var pids []int
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				return nil
			}
			f, err := os.Open(filepath.Join(p, "cgroup.procs"))
			if err != nil {
				return nil // a sub-cgroup removed meanwhile
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
					pids = append(pids, pid)
				}
			}
			return nil
		})
		if err == nil {
			return pids
		}
	}
	return nil
}
