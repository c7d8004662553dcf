package main

import (
	"encoding/json"
	"os"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/urfave/cli/v2"

	"github.com/sysboxd/sysboxd/internal/version"
	"github.com/sysboxd/sysboxd/sysbox-runc/internal/lifecycle"
)

// annotationSysContainer tells engines every container is a system
// container (user namespace always on, ID-mapped rootfs).
const annotationSysContainer = "org.sysboxd.system-container"

var featuresCommand = &cli.Command{
	Name:  "features",
	Usage: "print what this runtime supports, as OCI features JSON",
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 0, true); err != nil {
			return err
		}
		yes, v2 := true, cgroups.IsCgroup2UnifiedMode()
		v1 := !v2
		f := features.Features{
			OCIVersionMin: "1.0.0",
			OCIVersionMax: specs.Version,
			Hooks:         configs.KnownHookNames(),
			MountOptions:  specconv.KnownMountOptions(),
			Linux: &features.Linux{
				Namespaces:   specconv.KnownNamespaces(),
				Capabilities: lifecycle.KnownCaps(),
				Cgroup:       &features.Cgroup{V1: &v1, V2: &v2},
				Seccomp: &features.Seccomp{
					Enabled:        &yes,
					Actions:        seccomp.KnownActions(),
					Operators:      seccomp.KnownOperators(),
					Archs:          seccomp.KnownArchs(),
					KnownFlags:     seccomp.KnownFlags(),
					SupportedFlags: seccomp.SupportedFlags(),
				},
				MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &yes}},
			},
			Annotations: map[string]string{
				"org.sysboxd.version":  version.Version,
				"org.sysboxd.commit":   version.Commit,
				annotationSysContainer: "true",
			},
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(f)
	},
}
