package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
)

// defaultRoot is where container state lives unless --root says otherwise.
const defaultRoot = "/run/sysbox-runc"

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "debug", Usage: "enable debug logging"},
		&cli.StringFlag{Name: "log", Usage: "log file (default: stderr)"},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
		&cli.StringFlag{Name: "root", Value: defaultRoot, Usage: "directory for container state"},
		&cli.BoolFlag{Name: "systemd-cgroup", Usage: "manage cgroups with systemd"},
		&cli.BoolFlag{Name: "no-kernel-check", Usage: "no effect: sysbox-runc has no kernel-version gate (it checks the features it uses when it uses them); accepted because scripts written for Sysbox pass it"},
		&cli.StringFlag{Name: "criu", Hidden: true, Usage: "accepted for runc compatibility; checkpoint is not supported"},
		&cli.StringFlag{Name: "rootless", Value: "auto", Hidden: true, Usage: "accepted for runc compatibility; only root runs system containers"},
		&cli.StringFlag{Name: "mgr-socket", Value: ipc.MgrSocket, Usage: "sysbox-mgr socket"},
		&cli.StringFlag{Name: "fs-socket", Value: ipc.FsSocket, Usage: "sysbox-fs socket"},
		&cli.BoolFlag{Name: "honor-caps", EnvVars: []string{"SYSBOX_RUNC_HONOR_CAPS"}, Usage: "default for SYSBOX_HONOR_CAPS: keep the engine's capabilities for non-root processes"},
	}
}

// setupLogging configures logrus' standard logger, which libcontainer also
// logs to (it forwards the logs of its init process there).
func setupLogging(ctx *cli.Context) error {
	if ctx.Bool("debug") {
		logrus.SetLevel(logrus.DebugLevel)
	}
	var out io.Writer = os.Stderr
	if path := ctx.String("log"); path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("--log: %w", err)
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("--log: %w", err)
		}
		out = f
	}
	logrus.SetOutput(out)
	switch f := ctx.String("log-format"); f {
	case "text":
		logrus.SetFormatter(&logrus.TextFormatter{DisableColors: true, FullTimestamp: true})
	case "json":
		logrus.SetFormatter(&logrus.JSONFormatter{})
	default:
		return fmt.Errorf("--log-format %q: want text or json", f)
	}
	return nil
}

// libcontainerLogLevel is the level libcontainer's init logs at, as the
// number it wants.
func libcontainerLogLevel() string {
	return strconv.Itoa(int(logrus.GetLevel()))
}

// checkArgs enforces a command's positional argument count.
func checkArgs(ctx *cli.Context, want int, exact bool) error {
	n := ctx.NArg()
	switch {
	case exact && n != want:
		return fmt.Errorf("%q requires exactly %d argument(s), got %d", ctx.Command.Name, want, n)
	case !exact && n < want:
		return fmt.Errorf("%q requires at least %d argument(s), got %d", ctx.Command.Name, want, n)
	}
	return nil
}

// stateRoot returns the absolute --root.
func stateRoot(ctx *cli.Context) (string, error) {
	root, err := filepath.Abs(ctx.String("root"))
	if err != nil {
		return "", fmt.Errorf("--root: %w", err)
	}
	return root, nil
}
