package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	"github.com/sysboxd/sysboxd/sysbox-runc/internal/lifecycle"
	"github.com/sysboxd/sysboxd/sysbox-runc/internal/rootfs"
	"github.com/sysboxd/sysboxd/sysbox-runc/internal/syscont"
)

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a system container (its init waits for 'start')",
	ArgsUsage: "<container-id>",
	Flags:     createFlags(),
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, true); err != nil {
			return err
		}
		sc, err := newSysContainer(ctx, ctx.Args().First(), true)
		if err != nil {
			return err
		}
		defer sc.close()
		return sc.start(ctx)
	},
}

// createFlags are the flags of both create and run.
func createFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "bundle directory (default: current directory)"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master of a terminal process"},
		&cli.StringFlag{Name: "pidfd-socket", Usage: "accepted for runc compatibility; not supported"},
		&cli.StringFlag{Name: "pid-file", Usage: "file to write the init process's pid to"},
		&cli.BoolFlag{Name: "no-pivot", Usage: "do not use pivot_root"},
		&cli.BoolFlag{Name: "no-new-keyring", Usage: "do not create a new session keyring"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass this many extra fds (from fd 3) to the container"},
	}
}

// sysContainer is a container being created by create or run.
type sysContainer struct {
	id       string
	root     string
	pidFile  string // absolute: create works in the bundle directory
	detach   bool
	keep     bool // run --keep: a foreground container is not deleted when it exits
	d        *daemons
	prepared *lifecycle.Prepared
	c        *libcontainer.Container
}

func newSysContainer(ctx *cli.Context, id string, detach bool) (*sysContainer, error) {
	if id == "" {
		return nil, fmt.Errorf("container id cannot be empty")
	}
	if n := ctx.Int("preserve-fds"); n < 0 {
		return nil, fmt.Errorf("--preserve-fds must not be negative")
	}
	if ctx.String("pidfd-socket") != "" {
		return nil, fmt.Errorf("--pidfd-socket is not supported by sysbox-runc")
	}
	root, err := stateRoot(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, id)); err == nil {
		return nil, fmt.Errorf("container %s already exists", id)
	}
	pidFile, err := pidFilePath(ctx)
	if err != nil {
		return nil, err
	}
	return &sysContainer{id: id, root: root, pidFile: pidFile, detach: detach}, nil
}

// start prepares the system container, creates it with libcontainer and
// starts its init (which then waits for 'start', or is released at once by
// run). Everything is rolled back if a step fails.
func (sc *sysContainer) start(ctx *cli.Context) (retErr error) {
	log := containerLog(sc.id)
	bundle, err := filepath.Abs(ctx.String("bundle"))
	if err != nil {
		return fmt.Errorf("--bundle: %w", err)
	}
	spec, err := loadSpec(bundle)
	if err != nil {
		return err
	}
	// specconv resolves a relative rootfs and labels the bundle from the
	// working directory, as runc does.
	if err := os.Chdir(bundle); err != nil {
		return fmt.Errorf("enter bundle: %w", err)
	}
	terminal := spec.Process.Terminal
	if sc.d, err = dialDaemons(ctx); err != nil {
		return err
	}
	defaults := syscont.DefaultOptions()
	defaults.HonorCaps = ctx.Bool("honor-caps")
	cfg := lifecycle.Config{
		ID:       sc.id,
		Bundle:   bundle,
		Defaults: defaults,
		RootfsDirs: rootfs.Dirs{
			Staging: filepath.Join(ipc.RunDir, "rootfs", sc.id),
			Layers:  filepath.Join(ipc.RunDir, "layers"),
		},
		Log: log,
	}
	// The daemons' calls carry their own timeouts.
	bg := context.Background()
	sc.prepared, err = lifecycle.Prepare(bg, cfg, sc.d.mgr, sc.d.fs, spec)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			if sc.c != nil {
				if err := sc.c.Destroy(); err != nil {
					log.WithError(err).Warn("destroy after failed create")
				}
			}
			sc.prepared.Rollback(bg)
		}
	}()

	config, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName:       sc.id,
		UseSystemdCgroup: ctx.Bool("systemd-cgroup"),
		NoPivotRoot:      ctx.Bool("no-pivot"),
		NoNewKeyring:     ctx.Bool("no-new-keyring"),
		Spec:             spec,
	})
	if err != nil {
		return fmt.Errorf("convert spec: %w", err)
	}
	if sc.c, err = libcontainer.Create(sc.root, sc.id, config); err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	if err := sc.prepared.State.Save(filepath.Join(sc.root, sc.id)); err != nil {
		return err
	}

	process, err := toLibcontainerProcess(spec.Process)
	if err != nil {
		return err
	}
	process.Init = true
	var own unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &own); err != nil {
		return fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	var nofile *configs.Rlimit
	process.Rlimits, nofile = deferNofile(process.Rlimits, own)
	for i := 0; i < ctx.Int("preserve-fds"); i++ {
		process.ExtraFiles = append(process.ExtraFiles, os.NewFile(uintptr(3+i), fmt.Sprintf("preserved-fd-%d", 3+i)))
	}
	procStdio, err := setupStdio(process, terminal, sc.detach, ctx.String("console-socket"))
	if err != nil {
		return err
	}
	defer procStdio.Close()
	if err := sc.c.Start(process); err != nil {
		return fmt.Errorf("start container init: %w", err)
	}
	if err := procStdio.started(); err != nil {
		return err
	}
	st, err := sc.c.State()
	if err != nil {
		return fmt.Errorf("container state: %w", err)
	}
	if err := sc.prepared.Started(bg, st.InitProcessPid, st.Created.UnixNano(), st.CgroupPaths); err != nil {
		return err
	}
	if nofile != nil {
		// The runtime's work in the container is done: the init now waits
		// for start, and runs the container's program with its own limit.
		lim := unix.Rlimit{Cur: nofile.Soft, Max: nofile.Hard}
		if err := unix.Prlimit(st.InitProcessPid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
			return fmt.Errorf("set the container's RLIMIT_NOFILE: %w", err)
		}
	}
	if err := writePidFile(sc.pidFile, st.InitProcessPid); err != nil {
		return err
	}
	log.WithField("pid", st.InitProcessPid).Debugf("created (uid range %d-%d)",
		sc.prepared.State.HostUID, sc.prepared.State.HostUID+sc.prepared.State.Size-1)
	if sc.detach {
		return nil
	}
	// run in the foreground: release init, wait for it, then delete (unless --keep:
	// the stopped container then keeps its lease, FUSE tree and rootfs until delete).
	if err := sc.c.Exec(); err != nil {
		return fmt.Errorf("start container: %w", err)
	}
	code, err := waitForeground(process, procStdio)
	procStdio.Close()
	if !sc.keep {
		if derr := destroyContainer(bg, sc.c, sc.root, sc.d); derr != nil {
			log.WithError(derr).Warn("delete after run")
		}
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return cli.Exit("", code)
	}
	return nil
}

func (sc *sysContainer) close() {
	if sc.d != nil {
		sc.d.Close()
	}
}
