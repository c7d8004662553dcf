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
		var code cli.ExitCoder
		if errors.As(err, &code) && code.Error() == "" {
			os.Exit(code.ExitCode()) // a foreground process's exit code
		}
		fatal(err)
	}
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

// fatal logs err (to the --log file, where containerd's shim reads the last
// error) and prints it on stderr, then exits 1.
func fatal(err error) {
	logrus.Error(err)
	fmt.Fprintln(os.Stderr, "sysbox-runc:", err)
	os.Exit(1)
}
