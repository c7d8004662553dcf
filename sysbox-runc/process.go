package main

import (
	"fmt"
	"path/filepath"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/internal/atomicfile"
)

// rlimitNames maps OCI rlimit names to the kernel's resource numbers.
var rlimitNames = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// toLibcontainerProcess turns an OCI process into libcontainer's.
func toLibcontainerProcess(p *specs.Process) (*libcontainer.Process, error) {
	if len(p.Args) == 0 {
		return nil, fmt.Errorf("process args must not be empty")
	}
	lp := &libcontainer.Process{
		Args:            p.Args,
		Env:             p.Env,
		UID:             int(p.User.UID),
		GID:             int(p.User.GID),
		Cwd:             p.Cwd,
		Label:           p.SelinuxLabel,
		AppArmorProfile: p.ApparmorProfile,
		NoNewPrivileges: &p.NoNewPrivileges,
		Scheduler:       p.Scheduler,
		IOPriority:      p.IOPriority,
		LogLevel:        libcontainerLogLevel(),
	}
	for _, g := range p.User.AdditionalGids {
		lp.AdditionalGroups = append(lp.AdditionalGroups, int(g))
	}
	if p.ConsoleSize != nil {
		lp.ConsoleWidth, lp.ConsoleHeight = uint16(p.ConsoleSize.Width), uint16(p.ConsoleSize.Height)
	}
	if c := p.Capabilities; c != nil {
		lp.Capabilities = &configs.Capabilities{
			Bounding: c.Bounding, Effective: c.Effective, Inheritable: c.Inheritable,
			Permitted: c.Permitted, Ambient: c.Ambient,
		}
	}
	for _, r := range p.Rlimits {
		kind, ok := rlimitNames[r.Type]
		if !ok {
			return nil, fmt.Errorf("unknown rlimit %q", r.Type)
		}
		lp.Rlimits = append(lp.Rlimits, configs.Rlimit{Type: kind, Hard: r.Hard, Soft: r.Soft})
	}
	aff, err := configs.ConvertCPUAffinity(p.ExecCPUAffinity)
	if err != nil {
		return nil, fmt.Errorf("execCPUAffinity: %w", err)
	}
	lp.CPUAffinity = aff
	return lp, nil
}

// deferNofile splits a container init's rlimits for libcontainer: it gets
// every limit as given except RLIMIT_NOFILE, which it would set in the
// init before the mounts (libcontainer's init calls setrlimit with it
// first thing), where the runtime's own work (re-opening mount points,
// the ID-mapped rootfs...) needs more descriptors than a low container
// limit leaves. libcontainer gets the higher of the container's and
// own (the runtime's) instead, and final is the container's, for the
// caller to set with prlimit once the init is set up and waits for start,
// before it runs the container's program.
func deferNofile(limits []configs.Rlimit, own unix.Rlimit) (setup []configs.Rlimit, final *configs.Rlimit) {
	for _, l := range limits {
		if l.Type != unix.RLIMIT_NOFILE {
			setup = append(setup, l)
			continue
		}
		f := l
		final = &f
		setup = append(setup, configs.Rlimit{Type: l.Type, Soft: max(l.Soft, own.Max), Hard: max(l.Hard, own.Max)})
	}
	return setup, final
}

// pidFilePath is --pid-file made absolute against the caller's working
// directory (as runc does), before anything changes directory.
func pidFilePath(ctx *cli.Context) (string, error) {
	path := ctx.String("pid-file")
	if path == "" {
		return "", nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("--pid-file: %w", err)
	}
	return abs, nil
}

// writePidFile writes pid to path atomically: containerd reads it as soon
// as the file exists.
func writePidFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	if err := atomicfile.Write(path, []byte(fmt.Sprint(pid)), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}
