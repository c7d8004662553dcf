//go:build e2e

// Who gets a system container's virtual files (sysbox-fs): the container's
// own processes, never the host (root included) nor another container that
// reaches the container's tree under /var/lib/sysboxfs.
package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// treeFiles are files of every kind the tree serves: handler files and a
// /proc/sys knob.
var treeFiles = []string{"proc/meminfo", "proc/uptime", "proc/sys/kernel/hostname"}

func TestVirtualFilesAreRefusedToTheHostAndOtherContainers(t *testing.T) {
	a := startSys(t, "--memory", "256m", "--hostname", "fsaccess-a")
	tree := filepath.Join(fuseRoot, fullID(t, a))

	// The host: even root gets EACCES for the content, names stay visible.
	for _, p := range treeFiles {
		f := filepath.Join(tree, p)
		if b, err := os.ReadFile(f); !errors.Is(err, syscall.EACCES) {
			t.Errorf("host root reading %s: %q, %v; want permission denied", f, b, err)
		}
		if _, err := os.Stat(f); err != nil {
			t.Errorf("host root stat of %s: %v", f, err)
		}
	}
	hostname := filepath.Join(tree, "proc/sys/kernel/hostname")
	if err := os.WriteFile(hostname, []byte("hijacked\n"), 0); !errors.Is(err, syscall.EACCES) {
		t.Errorf("host root writing %s: %v, want permission denied", hostname, err)
	}

	// Another system container given the path: its processes run with
	// ids of another range.
	b := startSys(t, "-v", fuseRoot+":/trees:ro")
	for _, p := range treeFiles {
		f := filepath.Join("/trees", filepath.Base(tree), p)
		out, err := inSysErr(t, b, "cat "+f)
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("container B reading A's %s: %q, %v; want Permission denied", p, out, err)
		}
	}

	// A itself still reads its own values.
	if got := inSys(t, a, "hostname; sysctl -n kernel.hostname; cat /proc/sys/kernel/hostname"); got != "fsaccess-a\nfsaccess-a\nfsaccess-a" {
		t.Errorf("A's hostname views: %q, want fsaccess-a three times", got)
	}
	total := strings.Fields(inSys(t, a, "free -m | grep '^Mem:'"))
	if len(total) < 2 {
		t.Fatalf("free -m in A: %q", total)
	}
	if mb, err := strconv.Atoi(total[1]); err != nil || mb < 200 || mb > 256 {
		t.Errorf("free -m in A: total %q MB, want A's 256 MB limit", total[1])
	}
	up := strings.Fields(inSys(t, a, "cat /proc/uptime"))
	if len(up) != 2 {
		t.Fatalf("/proc/uptime in A: %q", up)
	}
	if s, err := strconv.ParseFloat(up[0], 64); err != nil || s > 600 {
		t.Errorf("uptime in A: %q, want the seconds since A started", up[0])
	}
}
