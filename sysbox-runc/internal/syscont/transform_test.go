package syscont

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestStepsRunInTheDocumentedOrder(t *testing.T) {
	want := []string{"privileged", "namespaces", "rootfs_propagation", "idmappings", "sysctl", "capabilities", "apparmor", "seccomp_notify", "seccomp", "mounts", "paths", "oom_score_adj"}
	if got := Steps(); !slices.Equal(got, want) {
		t.Errorf("Steps() = %v, want %v", got, want)
	}
}

func TestTransformTwiceEqualsOnce(t *testing.T) {
	for _, path := range inputSpecs(t) {
		t.Run(path, func(t *testing.T) {
			s := loadSpec(t, path)
			o, err := Validate(s, Options{SysContMode: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := Transform(s, o, testInputs(nil)); err != nil {
				t.Fatal(err)
			}
			once := specJSON(t, s)
			again := cloneSpec(t, s)
			var warns []string
			if err := Transform(again, o, testInputs(&warns)); err != nil {
				t.Fatal(err)
			}
			if twice := specJSON(t, again); !bytes.Equal(once, twice) {
				t.Errorf("second Transform changed the spec:\n%s", firstDiff(once, twice))
			}
			if len(warns) > 0 {
				t.Errorf("second Transform warned: %v", warns)
			}
		})
	}
}

func TestTransformLeavesSpecAloneWhenSysContModeIsFalse(t *testing.T) {
	s := loadSpec(t, "testdata/docker-default.json")
	before := specJSON(t, s)
	if err := Transform(s, Options{SysContMode: false}, testInputs(nil)); err != nil {
		t.Fatal(err)
	}
	if after := specJSON(t, s); !bytes.Equal(before, after) {
		t.Errorf("spec changed:\n%s", firstDiff(before, after))
	}
}

func TestTransformErrorNamesTheFailingStep(t *testing.T) {
	s := minimalSpec()
	in := testInputs(nil)
	in.KnownCaps = nil
	err := Transform(s, Options{SysContMode: true}, in)
	if err == nil || !strings.Contains(err.Error(), "step capabilities") {
		t.Fatalf("err = %v, want it to name step capabilities", err)
	}
}

func TestTransformRefusesSpecWithoutProcessOrRoot(t *testing.T) {
	s := minimalSpec()
	s.Process = nil
	if err := Transform(s, Options{SysContMode: true}, testInputs(nil)); err == nil {
		t.Error("no error for a spec without process")
	}
}

func TestTransformedDockerSpecKeepsEngineSettings(t *testing.T) {
	// What the engine decided and a system container does not care about passes through.
	s := loadSpec(t, "testdata/docker-volume-user-honorcaps.json")
	orig := cloneSpec(t, s)
	o, err := Validate(s, Options{SysContMode: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := Transform(s, o, testInputs(nil)); err != nil {
		t.Fatal(err)
	}
	if *s.Linux.Resources.Memory.Limit != *orig.Linux.Resources.Memory.Limit || *s.Linux.Resources.CPU.Quota != *orig.Linux.Resources.CPU.Quota {
		t.Error("resources changed")
	}
	if s.Linux.CgroupsPath != orig.Linux.CgroupsPath || s.Hostname != orig.Hostname || s.Process.User.UID != 1000 {
		t.Error("cgroups path, hostname or user changed")
	}
	if len(s.Hooks.Prestart) != 1 || s.Hooks.Prestart[0].Path != orig.Hooks.Prestart[0].Path {
		t.Error("engine's network hook lost")
	}
	if slices.ContainsFunc(s.Process.Env, func(e string) bool { return strings.HasPrefix(e, "SYSBOX_") }) {
		t.Errorf("SYSBOX_ variable left in env: %v", s.Process.Env)
	}
}
