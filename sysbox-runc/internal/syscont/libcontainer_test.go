package syscont

import (
	"testing"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/configs/validate"
	"github.com/opencontainers/runc/libcontainer/specconv"
)

// TestLibcontainerAcceptsTransformedSpecs feeds every transformed test spec to the same
// libcontainer v1.5.3 conversion and validation sysbox-runc uses, and checks the parts of
// the result the transformation is for. It needs no root: nothing is created.
func TestLibcontainerAcceptsTransformedSpecs(t *testing.T) {
	for _, path := range inputSpecs(t) {
		t.Run(path, func(t *testing.T) {
			s := loadSpec(t, path)
			o, err := Validate(s, Options{SysContMode: true})
			if err != nil {
				t.Fatal(err)
			}
			in := testInputs(nil)
			if err := Transform(s, o, in); err != nil {
				t.Fatal(err)
			}
			s.Root.Path = t.TempDir() // validate stats the rootfs
			cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: "x", Spec: s})
			if err != nil {
				t.Fatalf("CreateLibcontainerConfig: %v", err)
			}
			if err := validate.Validate(cfg); err != nil {
				t.Fatalf("configs/validate: %v", err)
			}

			for _, ns := range []configs.NamespaceType{configs.NEWUSER, configs.NEWCGROUP, configs.NEWTIME, configs.NEWPID, configs.NEWNET, configs.NEWNS} {
				if !cfg.Namespaces.Contains(ns) {
					t.Errorf("namespace %s missing", ns)
				}
			}
			rootUID, err := cfg.HostRootUID()
			if err != nil {
				t.Fatal(err)
			}
			if rootUID == 0 {
				t.Error("container root is host root")
			}
			// libcontainer makes the container's cgroup owned by its root only for a
			// read-write cgroupfs in a cgroup namespace: that is what /sys/fs/cgroup rw is for.
			if cfg.Cgroups.OwnerUID == nil || *cfg.Cgroups.OwnerUID == 0 {
				t.Errorf("cgroup owner = %v, want the container's root (cgroupfs not read-write?)", cfg.Cgroups.OwnerUID)
			}

			idmapped := 0
			for _, m := range cfg.Mounts {
				if m.IsIDMapped() {
					idmapped++
					if m.IDMapping.Recursive {
						t.Errorf("mount %s: recursive ID mapping, want the top mount only", m.Destination)
					}
					if len(m.IDMapping.UIDMappings) != 1 || m.IDMapping.UIDMappings[0].HostID != int64(rootUID) {
						t.Errorf("mount %s: uid mappings %v, want the container's (root = %d)", m.Destination, m.IDMapping.UIDMappings, rootUID)
					}
				}
				if (m.Destination == "/proc/uptime" || m.Destination == "/etc/hosts") && m.Device != "bind" {
					t.Errorf("mount %s: device %q, want bind", m.Destination, m.Device)
				}
			}
			if o.EngineIDMappings {
				if idmapped != 0 {
					t.Errorf("%d ID-mapped mounts with engine-supplied mappings, want none", idmapped)
				}
			} else if idmapped == 0 {
				t.Error("no ID-mapped bind mount (Docker's /etc/hosts and friends should be)")
			}
		})
	}
}
