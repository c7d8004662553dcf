// Command sysbox-fs is the Sysboxd daemon that serves each system
// container's virtual /proc and /sys files from a FUSE tree mounted at
// <mount-root>/<id>, driven over gRPC by sysbox-runc. See sysbox-fs/app.
package main

import (
	"os"

	"github.com/sysboxd/sysboxd/sysbox-fs/app"
	"github.com/sysboxd/sysboxd/sysbox-fs/seccomp"
)

func main() {
	// The seccomp agent re-executes this binary to make procfs mounts on
	// kernels before 6.17 (see seccomp.ProcfsHelperArg).
	seccomp.RunProcfsHelperIfAsked(os.Args)
	os.Exit(app.Main(os.Args))
}
