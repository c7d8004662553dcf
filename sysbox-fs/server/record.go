package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sysboxd/sysboxd/internal/atomicfile"
)

// recordVersion is the layout of a record file; a daemon ignores (and
// logs) records of another version.
const recordVersion = 1

// record is what sysbox-fs keeps of one container in Config.StateDir
// (<id>.json), so that a restarted daemon can take the container over:
// mount a new tree and put it in place of the dead one inside the
// container (restore.go). The directory is under /run: a reboot, which
// ends every container, empties it.
type record struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	UID     uint32 `json:"uid"`
	GID     uint32 `json:"gid"`
	Size    uint32 `json:"size"`
	// PreRegisteredUnixNano is when PreRegister mounted the tree.
	PreRegisteredUnixNano int64 `json:"pre_registered_unix_nano"`
	// Set by Register.
	InitPid int `json:"init_pid,omitempty"`
	// InitStartTicks is field 22 of /proc/<init pid>/stat: the same pid
	// with another start time is another process.
	InitStartTicks    uint64            `json:"init_start_ticks,omitempty"`
	StartTimeUnixNano int64             `json:"start_time_unix_nano,omitempty"`
	CgroupPaths       map[string]string `json:"cgroup_paths,omitempty"`
	// Sysctls are the container's emulated /proc/sys values
	// (sysctl.Values.Snapshot), saved again after each write.
	Sysctls map[string]string `json:"sysctls,omitempty"`
}

// record returns c's record as of now.
func (c *container) record() record {
	st := c.view()
	r := record{Version: recordVersion, ID: c.id, UID: c.owner.UID, GID: c.owner.GID, Size: c.owner.Size,
		PreRegisteredUnixNano: c.preRegistered.UnixNano()}
	if c.sysctl != nil {
		r.Sysctls = c.sysctl.Values().Snapshot()
	}
	if st.InitPid > 0 {
		r.InitPid = st.InitPid
		r.StartTimeUnixNano = st.StartTime.UnixNano()
		r.InitStartTicks = c.initTicks.Load()
		c.regMu.Lock()
		r.CgroupPaths = c.cgroupPaths
		c.regMu.Unlock()
	}
	return r
}

// save writes c's record; without Config.StateDir it does nothing. A
// record that cannot be written only costs the container its hand-over to
// a restarted daemon: that is logged, the call goes on.
func (s *Server) save(c *container) {
	if s.cfg.StateDir == "" {
		return
	}
	r := c.record()
	b, err := json.Marshal(r)
	if err == nil {
		err = atomicfile.Write(s.recordPath(c.id), b, 0o600)
	}
	if err != nil {
		s.cfg.Log.WithError(err).WithField("id", c.id).Warn("cannot record the container for a daemon restart")
	}
}

// forget removes id's record.
func (s *Server) forget(id string) {
	if s.cfg.StateDir == "" {
		return
	}
	if err := os.Remove(s.recordPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.cfg.Log.WithError(err).WithField("id", id).Warn("cannot remove the container's record")
	}
}

func (s *Server) recordPath(id string) string {
	return filepath.Join(s.cfg.StateDir, id+".json")
}

// procDir is where the containers' processes are looked up.
func (s *Server) procDir() string {
	if s.cfg.ProcDir != "" {
		return s.cfg.ProcDir
	}
	return "/proc"
}

// loadRecords reads every record in dir. A file that is not a valid
// record of this version is returned in bad (with why) for the caller to
// log and remove; it never stops the daemon.
func loadRecords(dir string) (recs []record, bad map[string]error, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read state dir: %w", err)
	}
	bad = map[string]error{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") {
			continue
		}
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			bad[p] = err
			continue
		}
		var r record
		switch err := json.Unmarshal(b, &r); {
		case err != nil:
			bad[p] = fmt.Errorf("not a record: %w", err)
		case r.Version != recordVersion:
			bad[p] = fmt.Errorf("record version %d, this daemon reads %d", r.Version, recordVersion)
		case r.ID+".json" != name || validateID(r.ID) != nil:
			bad[p] = fmt.Errorf("record of id %q in the wrong file", r.ID)
		default:
			recs = append(recs, r)
		}
	}
	return recs, bad, nil
}

// processStartTicks returns field 22 (starttime) of /proc/<pid>/stat.
func processStartTicks(procDir string, pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(procDir, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// The command (field 2) is in parentheses and may hold spaces: count
	// fields after its closing parenthesis, which starts at field 3.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("pid %d: malformed stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	const field = 22 - 3
	if len(f) <= field {
		return 0, fmt.Errorf("pid %d: stat has %d fields", pid, len(f)+2)
	}
	return strconv.ParseUint(f[field], 10, 64)
}
