// Command sysbox-fs is the Sysboxd daemon that serves each system
// container's virtual /proc and /sys files from a FUSE tree mounted at
// <mount-root>/<id>, driven over gRPC by sysbox-runc. See sysbox-fs/app.
package main

import (
	"os"

	"github.com/sysboxd/sysboxd/sysbox-fs/app"
)

func main() {
	os.Exit(app.Main(os.Args))
}
