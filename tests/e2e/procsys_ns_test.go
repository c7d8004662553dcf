//go:build e2e

// /proc/sys as the opener's namespaces show it (net, uts, ipc), the IPC
// knobs writable, ping_group_range in the container's gids, the virtual
// files' owners.
package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

const debianImage = "sysbox-test/debian"

// An `unshare -n` (as an inner container's runtime does) sees and sets its
// own network namespace's sysctls, not the system container's; `unshare -u`
// its own hostname.
func TestProcSysNetAndUTSFollowTheCallersNamespaces(t *testing.T) {
	id := startBox(t, nil, debianImage, "sleep", "3600")
	before := inSys(t, id, "cat /proc/sys/net/core/somaxconn")
	want := "2000"
	if before == want {
		want = "2001"
	}
	if out := inSys(t, id, "unshare -n sh -c 'echo "+want+" > /proc/sys/net/core/somaxconn && cat /proc/sys/net/core/somaxconn'"); out != want {
		t.Errorf("somaxconn in the new network namespace %q after writing %s", out, want)
	}
	if after := inSys(t, id, "cat /proc/sys/net/core/somaxconn"); after != before {
		t.Errorf("the system container's somaxconn changed from %s to %s by a write in an inner namespace", before, after)
	}
	hostFresh, err := exec.Command("unshare", "-n", "cat", "/proc/sys/net/core/somaxconn").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := inSys(t, id, "echo 3000 > /proc/sys/net/core/somaxconn; unshare -n cat /proc/sys/net/core/somaxconn"); got != strings.TrimSpace(string(hostFresh)) {
		t.Errorf("a fresh network namespace reads somaxconn %s, want the kernel's default %s", got, hostFresh)
	}
	if out := inSys(t, id, "unshare -u sh -c 'hostname inner-uts; cat /proc/sys/kernel/hostname'; cat /proc/sys/kernel/hostname"); out != "inner-uts\n"+inSys(t, id, "hostname") {
		t.Errorf("hostnames (inner, then the container's): %q", out)
	}
}

// kernel.shm*, msg*, sem (databases set them at start) are writable in the
// container's IPC namespace and in an inner one, and never reach the host.
func TestProcSysIPCKnobsAreWritablePerIPCNamespace(t *testing.T) {
	id := startBox(t, nil, debianImage, "sleep", "3600")
	knobs := []string{"shmall", "shmmax", "shmmni", "msgmax", "msgmnb", "msgmni", "sem"}
	host := map[string]string{}
	for _, k := range knobs {
		host[k] = readHostFile(t, "/proc/sys/kernel/"+k)
	}
	for _, k := range knobs {
		// write back the value read, as a database's init script does
		if out, err := inSysErr(t, id, "v=$(cat /proc/sys/kernel/"+k+") && echo \"$v\" > /proc/sys/kernel/"+k); err != nil {
			t.Errorf("write of kernel.%s: %v %q", k, err, out)
		}
	}
	out := inSys(t, id, "echo 8192 > /proc/sys/kernel/shmmni && echo 32768 > /proc/sys/kernel/msgmnb && "+
		"cat /proc/sys/kernel/shmmni /proc/sys/kernel/msgmnb && "+
		"unshare -i sh -c 'cat /proc/sys/kernel/shmmni; echo 1234 > /proc/sys/kernel/shmmni && cat /proc/sys/kernel/shmmni' && "+
		"cat /proc/sys/kernel/shmmni")
	if want := "8192\n32768\n4096\n1234\n8192"; out != want {
		t.Errorf("shmmni, msgmnb, inner shmmni before and after a write, shmmni again:\n%s\nwant:\n%s", out, want)
	}
	for _, k := range knobs {
		if now := readHostFile(t, "/proc/sys/kernel/"+k); now != host[k] {
			t.Errorf("host kernel.%s changed from %q to %q", k, host[k], now)
		}
	}
}

// ping_group_range holds gids of the writer's user namespace: a gid the
// container does not map, or one past INT_MAX, is EINVAL as the kernel
// answers inside a user namespace.
func TestProcSysPingGroupRangeTakesTheContainersGids(t *testing.T) {
	id := startSys(t)
	r := containerRange(t, id)
	const p = "/proc/sys/net/ipv4/ping_group_range"
	for _, bad := range []string{"0 2147483648", fmt.Sprintf("0 %d", r.count)} {
		out, err := inSysErr(t, id, "echo '"+bad+"' > "+p)
		if err == nil || !strings.Contains(out, "Invalid argument") {
			t.Errorf("write %q: %v %q, want Invalid argument", bad, err, out)
		}
	}
	if got := inSys(t, id, fmt.Sprintf("echo '0 %d' > %s && cat %s", r.count-1, p, p)); got != fmt.Sprintf("0\t%d", r.count-1) {
		t.Errorf("ping_group_range %q after writing 0 %d", got, r.count-1)
	}
}

// Virtual files belong to root inside, as procfs' and sysfs' do in a runc
// container (they showed as 65534, the overflow id).
func TestProcSysVirtualFilesBelongToRootInside(t *testing.T) {
	files := "/proc/uptime /proc/swaps /proc/meminfo /proc/stat /sys/devices/system/cpu/online /proc/sys/kernel/panic /proc/sys/net/core/somaxconn"
	script := "stat -c '%n %u:%g' " + files
	runc := strings.TrimSpace(docker(t, "run", "--rm", busybox, "sh", "-c", script))
	sys := strings.TrimSpace(sysRun(t, busybox, "sh", "-c", script))
	if sys != runc {
		t.Errorf("owners in a system container:\n%s\nin a runc container:\n%s", sys, runc)
	}
	for _, l := range strings.Split(sys, "\n") {
		if !strings.HasSuffix(l, " 0:0") {
			t.Errorf("%s: want 0:0", l)
		}
	}
}
