package main

import (
	"os"

	// Registers the devices cgroup controller with libcontainer, which
	// refuses device rules without it.
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	// nsenter's C constructor joins the container's namespaces before the
	// Go runtime starts, when this binary is re-executed as "init".
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

func init() {
	// libcontainer re-executes this binary as "<exe> init" inside the new
	// container; that process never returns to main.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
}
