// Command sysbox-runc is an OCI runtime, command-line compatible with runc,
// that runs every container as a system container: in its own user
// namespace with an exclusive id range, on an ID-mapped rootfs, with the
// virtual /proc files of sysbox-fs. Containers are created with runc's
// libcontainer, used as a library.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/sysboxd/sysboxd/internal/version"
)

func main() {
	app := newApp()
	if err := app.Run(flagsFirst(app, os.Args)); err != nil {
		msg, code := exitStatus(err)
		if msg == "" {
			os.Exit(code) // a foreground process's exit code
		}
		logrus.Error(msg) // to the --log file, where containerd's shim reads the last error
		fmt.Fprintln(os.Stderr, "sysbox-runc:", msg)
		os.Exit(code)
	}
}

// exitError is a failure that ends sysbox-runc with a code other than 1
// (a failed exec exits 255, as with runc, so that callers can tell it from
// the exit code of the process that ran).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitStatus is what a command's error becomes: the message to report
// (none for a foreground process's own exit code) and the exit code.
func exitStatus(err error) (string, int) {
	var ee *exitError
	if errors.As(err, &ee) {
		return err.Error(), ee.code
	}
	var coder cli.ExitCoder
	if errors.As(err, &coder) && coder.Error() == "" {
		return "", coder.ExitCode()
	}
	return err.Error(), 1
}

func newApp() *cli.App {
	cli.VersionPrinter = func(*cli.Context) { fmt.Println(version.String("sysbox-runc")) }
	return &cli.App{
		Name:                 "sysbox-runc",
		Usage:                "OCI runtime for system containers (runc-compatible command line)",
		Version:              version.Version,
		EnableBashCompletion: false,
		Flags:                globalFlags(),
		Before:               setupLogging,
		Commands: []*cli.Command{
			createCommand,
			startCommand,
			runCommand,
			stateCommand,
			killCommand,
			deleteCommand,
			execCommand,
			psCommand,
			listCommand,
			eventsCommand,
			pauseCommand,
			resumeCommand,
			updateCommand,
			featuresCommand,
			specCommand,
			versionCommand,
		},
		// runc exits 1 with its message on stderr; keep that contract.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}
