package syscont

import (
	"testing"

	"github.com/opencontainers/runc/libcontainer/specconv"
	"golang.org/x/sys/unix"
)

func TestRootfsPropagationUnbindableIsDeferredAndSlaveForLibcontainer(t *testing.T) {
	for _, tc := range []struct {
		spec, forLibcontainer string
		deferred              uintptr
	}{
		{"unbindable", "slave", unix.MS_UNBINDABLE},
		{"runbindable", "rslave", unix.MS_UNBINDABLE | unix.MS_REC},
		{"", "", 0},
		{"shared", "shared", 0},
		{"rshared", "rshared", 0},
		{"slave", "slave", 0},
		{"rslave", "rslave", 0},
		{"private", "private", 0},
		{"rprivate", "rprivate", 0},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			s := minimalSpec()
			s.Linux.RootfsPropagation = tc.spec
			if got := DeferredRootPropagation(s); got != tc.deferred {
				t.Errorf("DeferredRootPropagation = %#x, want %#x", got, tc.deferred)
			}
			o, err := Validate(s, Options{SysContMode: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := Transform(s, o, testInputs(nil)); err != nil {
				t.Fatal(err)
			}
			if s.Linux.RootfsPropagation != tc.forLibcontainer {
				t.Errorf("libcontainer gets %q, want %q", s.Linux.RootfsPropagation, tc.forLibcontainer)
			}
			if got := DeferredRootPropagation(s); got != 0 {
				t.Errorf("transformed spec still defers %#x: a second Transform would apply it twice", got)
			}
		})
	}
}

func TestRootfsPropagationUnchangedWithoutSysContMode(t *testing.T) {
	s := minimalSpec()
	s.Linux.RootfsPropagation = "runbindable"
	if err := Transform(s, Options{SysContMode: false}, testInputs(nil)); err != nil {
		t.Fatal(err)
	}
	if s.Linux.RootfsPropagation != "runbindable" {
		t.Errorf("plain container's propagation changed to %q", s.Linux.RootfsPropagation)
	}
}

func TestDeferredRootPropagationOfSpecWithoutLinux(t *testing.T) {
	if got := DeferredRootPropagation(nil); got != 0 {
		t.Errorf("nil spec: %#x", got)
	}
	s := minimalSpec()
	s.Linux = nil
	if got := DeferredRootPropagation(s); got != 0 {
		t.Errorf("spec without linux: %#x", got)
	}
}

// libcontainer refuses a private root propagation without pivot_root; the replacement must
// not turn an accepted spec into a refused one.
func TestRootfsPropagationReplacementIsAcceptedWithNoPivot(t *testing.T) {
	for _, p := range []string{"unbindable", "runbindable"} {
		s := loadSpec(t, "testdata/crafted-runc-spec-runbindable.json")
		s.Linux.RootfsPropagation = p
		o, err := Validate(s, Options{SysContMode: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := Transform(s, o, testInputs(nil)); err != nil {
			t.Fatal(err)
		}
		s.Root.Path = t.TempDir()
		if _, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: "x", NoPivotRoot: true, Spec: s}); err != nil {
			t.Errorf("%s with --no-pivot: %v", p, err)
		}
	}
}
