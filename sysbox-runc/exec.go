package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/runc/libcontainer"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/sysboxd/sysboxd/sysbox-runc/internal/lifecycle"
	"github.com/sysboxd/sysboxd/sysbox-runc/internal/syscont"
)

var execCommand = &cli.Command{
	Name:      "exec",
	Usage:     "run a new process in a running container",
	ArgsUsage: "<container-id> [command [args...]]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "JSON file of the OCI process (overrides the command line)"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master"},
		&cli.StringFlag{Name: "pidfd-socket", Usage: "accepted for runc compatibility; not supported"},
		&cli.StringFlag{Name: "cwd", Usage: "working directory"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "extra environment variable (KEY=value)"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a terminal"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "uid[:gid]"},
		&cli.IntSliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "additional gids"},
		&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "extra capability (with SYSBOX_HONOR_CAPS)"},
		&cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs"},
		&cli.StringFlag{Name: "apparmor", Usage: "AppArmor profile"},
		&cli.StringFlag{Name: "process-label", Usage: "SELinux label"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "detach from the process"},
		&cli.StringFlag{Name: "pid-file", Usage: "file to write the process's pid to"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass this many extra fds (from fd 3)"},
		&cli.StringSliceFlag{Name: "cgroup", Usage: "accepted for runc compatibility; sub-cgroups are not supported"},
		&cli.BoolFlag{Name: "ignore-paused", Usage: "allow exec in a paused container"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, false); err != nil {
			return err
		}
		pidFile, err := pidFilePath(ctx)
		if err != nil {
			return err
		}
		if err := execAction(ctx, pidFile); err != nil {
			var coder cli.ExitCoder
			if errors.As(err, &coder) && coder.Error() == "" {
				return err // the process ran: its own exit code
			}
			return &exitError{code: 255, err: fmt.Errorf("exec failed: %w", err)}
		}
		return nil
	},
}

// execAction runs exec once its arguments are checked; every error it
// returns is a failed exec (exit code 255, as with runc).
func execAction(ctx *cli.Context, pidFile string) error {
	if ctx.String("pidfd-socket") != "" {
		return fmt.Errorf("--pidfd-socket is not supported by sysbox-runc")
	}
	if len(ctx.StringSlice("cgroup")) > 0 {
		return fmt.Errorf("--cgroup is not supported by sysbox-runc")
	}
	c, err := loadContainer(ctx)
	if err != nil {
		return err
	}
	status, err := c.Status()
	if err != nil {
		return fmt.Errorf("container %s: %w", c.ID(), err)
	}
	if status == libcontainer.Stopped {
		return fmt.Errorf("cannot exec in container %s: it has stopped", c.ID())
	}
	if status == libcontainer.Paused && !ctx.Bool("ignore-paused") {
		return fmt.Errorf("cannot exec in container %s: it is paused", c.ID())
	}
	root, err := stateRoot(ctx)
	if err != nil {
		return err
	}
	st, err := lifecycle.LoadState(filepath.Join(root, c.ID()))
	if err != nil {
		return fmt.Errorf("container %s: %w", c.ID(), err)
	}
	p, err := execProcess(ctx, c)
	if err != nil {
		return err
	}
	p.Env = withoutSysboxEnv(p.Env)
	syscont.ProcessCaps(p, st.Options, lifecycle.KnownCaps())
	p.ApparmorProfile = syscont.AppArmorFor(p.ApparmorProfile, lifecycle.LoadedAppArmorProfile(),
		func(msg string) { containerLog(c.ID()).Warn(msg) })
	return runExec(ctx, c, p, pidFile)
}

// execProcess builds the OCI process to run: from --process, or, as runc
// does, from the process of the container's config.json (its user, cwd,
// environment, rlimits...) with the command line's changes.
func execProcess(ctx *cli.Context, c *libcontainer.Container) (*specs.Process, error) {
	if path := ctx.String("process"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		var p specs.Process
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("--process %s: malformed JSON: %w", path, err)
		}
		return &p, nil
	}
	if ctx.NArg() < 2 {
		return nil, fmt.Errorf("exec needs a command (or --process)")
	}
	st, err := c.OCIState()
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID(), err)
	}
	if st.Bundle == "" {
		return nil, fmt.Errorf("container %s has no bundle to take the process from: use --process", c.ID())
	}
	spec, err := loadSpec(st.Bundle)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID(), err)
	}
	return processFromFlags(*spec.Process, execFlags{
		args:        ctx.Args().Tail(),
		env:         ctx.StringSlice("env"),
		tty:         ctx.Bool("tty"),
		cwd:         ctx.String("cwd"),
		user:        ctx.String("user"),
		gids:        ctx.IntSlice("additional-gids"),
		caps:        ctx.StringSlice("cap"),
		noNewPrivs:  ctx.Bool("no-new-privs"),
		setNNP:      ctx.IsSet("no-new-privs"),
		apparmor:    ctx.String("apparmor"),
		selinuxProc: ctx.String("process-label"),
	})
}

// execFlags are exec's changes to the container's process.
type execFlags struct {
	args, env, caps       []string
	tty, noNewPrivs       bool
	setNNP                bool // --no-new-privs given (else the spec's value stays)
	cwd, user             string
	gids                  []int
	apparmor, selinuxProc string
}

// processFromFlags applies exec's flags to p, a copy of the container's
// process: what a flag does not set (the user without --user, the cwd
// without --cwd, the rlimits...) stays the container's.
func processFromFlags(p specs.Process, f execFlags) (*specs.Process, error) {
	p.Args = f.args
	p.Env = append(append([]string(nil), p.Env...), f.env...)
	p.Terminal = f.tty
	if f.cwd != "" {
		p.Cwd = f.cwd
	}
	if f.setNNP {
		p.NoNewPrivileges = f.noNewPrivs
	}
	if f.apparmor != "" {
		p.ApparmorProfile = f.apparmor
	}
	if f.selinuxProc != "" {
		p.SelinuxLabel = f.selinuxProc
	}
	if f.user != "" {
		uid, gid, hasGid, err := parseUser(f.user)
		if err != nil {
			return nil, fmt.Errorf("--user: %w", err)
		}
		p.User.UID = uid
		if hasGid {
			p.User.GID = gid
		}
	}
	p.User.AdditionalGids = append([]uint32(nil), p.User.AdditionalGids...)
	for _, g := range f.gids {
		if g < 0 {
			return nil, fmt.Errorf("--additional-gids: %d is negative", g)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	if len(f.caps) > 0 {
		c := &specs.LinuxCapabilities{}
		if p.Capabilities != nil {
			*c = *p.Capabilities
		}
		c.Bounding = append(append([]string(nil), c.Bounding...), f.caps...)
		c.Effective = append(append([]string(nil), c.Effective...), f.caps...)
		c.Permitted = append(append([]string(nil), c.Permitted...), f.caps...)
		p.Capabilities = c
	}
	return &p, nil
}

// parseUser reads --user: "uid" or "uid:gid".
func parseUser(s string) (uid, gid uint32, hasGid bool, err error) {
	uidStr, gidStr, hasGid := strings.Cut(s, ":")
	u, err := strconv.ParseUint(uidStr, 10, 32)
	if err != nil {
		return 0, 0, false, fmt.Errorf("uid %q is not a number", uidStr)
	}
	var g uint64
	if hasGid {
		if g, err = strconv.ParseUint(gidStr, 10, 32); err != nil {
			return 0, 0, false, fmt.Errorf("gid %q is not a number", gidStr)
		}
	}
	return uint32(u), uint32(g), hasGid, nil
}

// runExec starts p in c, detached or in the foreground.
func runExec(ctx *cli.Context, c *libcontainer.Container, sp *specs.Process, pidFile string) error {
	p, err := toLibcontainerProcess(sp)
	if err != nil {
		return err
	}
	n := ctx.Int("preserve-fds")
	if n < 0 {
		return fmt.Errorf("--preserve-fds must not be negative")
	}
	for i := 0; i < n; i++ {
		p.ExtraFiles = append(p.ExtraFiles, os.NewFile(uintptr(3+i), fmt.Sprintf("preserved-fd-%d", 3+i)))
	}
	detach := ctx.Bool("detach")
	procStdio, err := setupStdio(p, sp.Terminal, detach, ctx.String("console-socket"))
	if err != nil {
		return err
	}
	defer procStdio.Close()
	if err := c.Run(p); err != nil {
		return fmt.Errorf("exec in container %s: %w", c.ID(), err)
	}
	if err := procStdio.started(); err != nil {
		_ = p.Signal(os.Kill)
		return err
	}
	pid, err := p.Pid()
	if err != nil {
		return err
	}
	if err := writePidFile(pidFile, pid); err != nil {
		_ = p.Signal(os.Kill)
		return err
	}
	if detach {
		return nil
	}
	code, err := waitForeground(p, procStdio)
	if err != nil {
		return err
	}
	if code != 0 {
		return cli.Exit("", code)
	}
	return nil
}

// withoutSysboxEnv drops the SYSBOX_* switches: they configure the
// container at create and are never part of a process's environment
// (Docker copies the container's env into every exec).
func withoutSysboxEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "SYSBOX_") {
			out = append(out, kv)
		}
	}
	return out
}
