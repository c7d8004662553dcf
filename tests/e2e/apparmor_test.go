//go:build e2e

package e2e

import (
	"os"
	"strings"
	"testing"
)

// appArmorOn skips the test unless the host's kernel runs AppArmor (our
// development hosts do not; the stock Debian guest of tests/vm does).
func appArmorOn(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	if err != nil || strings.TrimSpace(string(b)) != "Y" {
		t.Skip("AppArmor is not enabled on this host (the stock-host bed, tests/vm, runs this)")
	}
}

// TestSystemContainersRunUnderTheSysboxContainerProfile: the engine's docker-default is
// replaced by our profile for the container's processes and for exec'd ones; a profile the
// user chose is kept.
func TestSystemContainersRunUnderTheSysboxContainerProfile(t *testing.T) {
	appArmorOn(t)
	name := startSys(t)
	for what, out := range map[string]string{
		"init": docker(t, "exec", name, "cat", "/proc/1/attr/current"),
		"exec": docker(t, "exec", name, "cat", "/proc/self/attr/current"),
	} {
		if got := strings.TrimSpace(out); got != "sysbox-container (enforce)" {
			t.Errorf("%s runs under %q, want sysbox-container (enforce)", what, got)
		}
	}
	if got := strings.TrimSpace(sysRun(t, "--security-opt", "apparmor=unconfined", busybox, "cat", "/proc/self/attr/current")); got != "unconfined" {
		t.Errorf("with --security-opt apparmor=unconfined the container runs under %q, want unconfined", got)
	}
}

// TestAppArmorDeniesWhatNoSystemContainerNeeds: mounting securityfs (the host's LSM
// policy interface) inside is refused by our profile (EACCES, "Permission denied"), where
// without it only the kernel's own check refuses it (EPERM); an ordinary tmpfs mount inside
// works. The profile's deny rules are quiet: the refusal is not logged, so probes by system
// software (systemd looks for securityfs at boot) leave the kernel log clean.
func TestAppArmorDeniesWhatNoSystemContainerNeeds(t *testing.T) {
	appArmorOn(t)
	const script = "mkdir -p /a /b; mount -t tmpfs tmpfs /a && echo tmpfs=ok; mount -t securityfs securityfs /b 2>&1; echo securityfs=$?"
	confined := sysRun(t, busybox, "sh", "-c", script)
	unconfined := sysRun(t, "--security-opt", "apparmor=unconfined", busybox, "sh", "-c", script)
	if !strings.Contains(confined, "tmpfs=ok") {
		t.Errorf("a tmpfs mount inside failed: %q", confined)
	}
	if strings.Contains(confined, "securityfs=0") || strings.Contains(unconfined, "securityfs=0") {
		t.Fatalf("securityfs was mounted inside a system container:\nconfined:   %q\nunconfined: %q", confined, unconfined)
	}
	if !strings.Contains(confined, "Permission denied") || strings.Contains(unconfined, "Permission denied") {
		t.Errorf("want EACCES (\"Permission denied\") from the profile and the kernel's EPERM without it:\nconfined:   %q\nunconfined: %q", confined, unconfined)
	}
}
