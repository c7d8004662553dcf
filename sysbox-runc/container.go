package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/runc/libcontainer"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/sysboxd/sysboxd/sysbox-ipc/fsclient"
	"github.com/sysboxd/sysboxd/sysbox-ipc/mgrclient"
)

// loadContainer loads the container named by the first argument.
func loadContainer(ctx *cli.Context) (*libcontainer.Container, error) {
	id := ctx.Args().First()
	if id == "" {
		return nil, errors.New("container id cannot be empty")
	}
	root, err := stateRoot(ctx)
	if err != nil {
		return nil, err
	}
	c, err := libcontainer.Load(root, id)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	return c, nil
}

// containerAction is the Action of a command whose only argument is a
// container id: it checks the arguments, loads the container and calls fn.
func containerAction(fn func(*cli.Context, *libcontainer.Container) error) cli.ActionFunc {
	return func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, true); err != nil {
			return err
		}
		c, err := loadContainer(ctx)
		if err != nil {
			return err
		}
		return fn(ctx, c)
	}
}

// containerLog is the logger for everything about one container.
func containerLog(id string) *logrus.Entry {
	return logrus.WithField("id", id)
}

// loadSpec reads config.json from the bundle.
func loadSpec(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("bundle %s has no config.json", bundle)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("malformed %s: %w", path, err)
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return nil, fmt.Errorf("%s: root.path is missing", path)
	}
	if spec.Process == nil {
		return nil, fmt.Errorf("%s: process is missing", path)
	}
	if spec.Linux == nil {
		return nil, fmt.Errorf("%s: linux section is missing", path)
	}
	return &spec, nil
}

// daemons is the pair of clients a command talks to.
type daemons struct {
	mgr *mgrclient.Client
	fs  *fsclient.Client
}

func dialDaemons(ctx *cli.Context) (*daemons, error) {
	mgr, err := mgrclient.New(ctx.String("mgr-socket"))
	if err != nil {
		return nil, err
	}
	fs, err := fsclient.New(ctx.String("fs-socket"))
	if err != nil {
		mgr.Close()
		return nil, err
	}
	return &daemons{mgr: mgr, fs: fs}, nil
}

func (d *daemons) Close() {
	d.mgr.Close()
	d.fs.Close()
}
