package syscont

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestAppArmorForReplacesOnlyEngineDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, requested, loaded, want string
		warns                         bool
	}{
		{"docker's default becomes ours", "docker-default", AppArmorProfile, AppArmorProfile, false},
		{"containerd CRI's default becomes ours", "cri-containerd.apparmor.d", AppArmorProfile, AppArmorProfile, false},
		{"podman's default becomes ours", "containers-default-0.50.1", AppArmorProfile, AppArmorProfile, false},
		{"a profile the user chose is kept", "my-profile", AppArmorProfile, "my-profile", false},
		{"unconfined is kept", "unconfined", AppArmorProfile, "unconfined", false},
		{"no profile stays none", "", AppArmorProfile, "", false},
		{"ours not loaded: engine default kept, with a warning", "docker-default", "", "docker-default", true},
		{"ours not loaded, no AppArmor request: nothing to say", "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warnings []string
			got := AppArmorFor(tc.requested, tc.loaded, func(m string) { warnings = append(warnings, m) })
			if got != tc.want {
				t.Errorf("AppArmorFor(%q, %q) = %q, want %q", tc.requested, tc.loaded, got, tc.want)
			}
			if tc.warns != (len(warnings) == 1) || len(warnings) > 1 {
				t.Fatalf("warnings %q, want one: %v", warnings, tc.warns)
			}
			if tc.warns && !strings.Contains(warnings[0], "apparmor_parser -r -W /etc/apparmor.d/"+AppArmorProfile) {
				t.Errorf("warning does not name the fix: %s", warnings[0])
			}
		})
	}
}

func TestTransformRunsContainersUnderOurAppArmorProfile(t *testing.T) {
	s := &specs.Spec{Process: &specs.Process{ApparmorProfile: "docker-default"}, Root: &specs.Root{Path: "rootfs"}}
	if err := stepAppArmor(s, DefaultOptions(), Inputs{AppArmorProfile: AppArmorProfile}); err != nil {
		t.Fatal(err)
	}
	if s.Process.ApparmorProfile != AppArmorProfile {
		t.Errorf("apparmorProfile = %q, want %q", s.Process.ApparmorProfile, AppArmorProfile)
	}
	found := false
	for _, name := range Steps() {
		found = found || name == "apparmor"
	}
	if !found {
		t.Errorf("the pipeline has no apparmor step: %q", Steps())
	}
}
