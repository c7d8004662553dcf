//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The per-container options that sysbox-fs's seccomp agent carries out:
// SYSBOX_IGNORE_SYSFS_CHOWN and SYSBOX_ALLOW_TRUSTED_XATTR.

const sysfsFile = "/sys/kernel/uevent_seqnum"

// TestIgnoreSysfsChownMakesChownOfSysfsSucceedWithoutEffect proves that with
// SYSBOX_IGNORE_SYSFS_CHOWN=TRUE container root's chown of a sysfs file
// succeeds and leaves the owner as it was (a chown of its own files still
// changes them), and that without the option the same chown fails.
func TestIgnoreSysfsChownMakesChownOfSysfsSucceedWithoutEffect(t *testing.T) {
	script := "before=$(stat -c %u " + sysfsFile + "); chown 1000 " + sysfsFile + "; echo rc=$?; " +
		"after=$(stat -c %u " + sysfsFile + "); echo owner=$before:$after; " +
		"touch /tmp/own; chown 1000 /tmp/own; stat -c own=%u /tmp/own"

	out := sysRun(t, "-e", "SYSBOX_IGNORE_SYSFS_CHOWN=TRUE", busybox, "sh", "-c", script+" 2>&1")
	if !strings.Contains(out, "rc=0\n") {
		t.Errorf("with the option, chown of %s failed:\n%s", sysfsFile, out)
	}
	owner := ""
	for _, l := range lines(out) {
		if v, ok := strings.CutPrefix(l, "owner="); ok {
			owner = v
		}
	}
	if before, after, _ := strings.Cut(owner, ":"); before == "" || before != after || after == "1000" {
		t.Errorf("with the option, the owner of %s went %q (want unchanged):\n%s", sysfsFile, owner, out)
	}
	if !strings.Contains(out, "own=1000") {
		t.Errorf("with the option, chown of a file of the container's own no longer works:\n%s", out)
	}

	out = sysRun(t, busybox, "sh", "-c", script+" 2>&1")
	if strings.Contains(out, "rc=0\n") {
		t.Errorf("without the option, chown of %s succeeded (want the kernel's refusal):\n%s", sysfsFile, out)
	}
}

// xattrTool builds testdata/xattrtool (static) for bind mounting into a
// container; the debian test image has no attr tools.
func xattrTool(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
		if _, serr := os.Stat(goBin); serr != nil {
			t.Skipf("no go toolchain to build the xattr helper: %v", err)
		}
	}
	bin := filepath.Join(t.TempDir(), "xattrtool")
	cmd := exec.Command(goBin, "build", "-o", bin, "./testdata/xattrtool")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the xattr helper: %v\n%s", err, out)
	}
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestAllowTrustedXattrLetsContainerRootUseTrustedXattrs proves that with
// SYSBOX_ALLOW_TRUSTED_XATTR=TRUE container root can set, read and list a
// trusted.* xattr (what an inner overlayfs needs), and that without the
// option setting one fails with EPERM, as the kernel answers in a user
// namespace.
func TestAllowTrustedXattrLetsContainerRootUseTrustedXattrs(t *testing.T) {
	tool := xattrTool(t)
	mount := "-v=" + tool + ":/usr/local/bin/xattrtool:ro"
	// exec 2>&1: the helper's error message goes to the output checked below.
	script := "exec 2>&1; touch /f && xattrtool set /f trusted.x 1 && xattrtool get /f trusted.x && xattrtool list /f; echo rc=$?"

	out := sysRun(t, "-e", "SYSBOX_ALLOW_TRUSTED_XATTR=TRUE", mount, busybox, "sh", "-c", script)
	if l := lines(out); len(l) < 3 || l[0] != "1" || !contains(l, "trusted.x") || l[len(l)-1] != "rc=0" {
		t.Errorf("with the option, want trusted.x set, read back as 1 and listed:\n%s", out)
	}

	out = sysRun(t, mount, busybox, "sh", "-c", script)
	if !strings.Contains(out, "operation not permitted") || strings.Contains(out, "rc=0") {
		t.Errorf("without the option, want setting trusted.x to fail with EPERM:\n%s", out)
	}
}
