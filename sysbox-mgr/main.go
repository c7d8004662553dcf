// Command sysbox-mgr is the Sysboxd manager daemon: it leases each system
// container an exclusive uid/gid range and backs its /var/lib/docker (and
// similar) with host directories. See sysbox-mgr/app.
package main

import (
	"os"

	"github.com/sysboxd/sysboxd/sysbox-mgr/app"
)

func main() {
	os.Exit(app.Main(os.Args))
}
