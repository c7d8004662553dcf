package lifecycle

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sysboxd/sysboxd/sysbox-runc/internal/syscont"
)

func TestAttachDeferredMountsOnlyInTheInitsMountNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	src, target := filepath.Join(dir, "src"), filepath.Join(dir, "target")
	for _, d := range []string{src, target} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "marker"), []byte("virtual\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	procRoot := filepath.Join("/proc", strconv.Itoa(pid))
	for i := 0; ; i++ {
		if exe, _ := os.Readlink(procRoot + "/exe"); strings.HasSuffix(exe, "sleep") {
			break
		}
		if i == 200 {
			t.Fatal("child did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	myNs, _ := os.Readlink("/proc/thread-self/ns/mnt")

	a := attachments{deferred: []syscont.VirtualFile{{Dest: target, Source: src}}}
	if err := a.attachDeferred(pid); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(procRoot, "root", target, "marker"))
	if err != nil || string(b) != "virtual\n" {
		t.Errorf("inside the namespace: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(target, "marker")); !os.IsNotExist(err) {
		t.Errorf("the mount is visible in the runtime's namespace: %v", err)
	}
	if now, _ := os.Readlink("/proc/thread-self/ns/mnt"); now != myNs {
		t.Errorf("this thread moved to %s", now)
	}
	if err := (&attachments{deferred: a.deferred}).attachDeferred(0); err == nil {
		t.Error("attach without an init pid succeeded")
	}
}
