//go:build e2e

// /proc/sys and /sys in a system container (sysbox-fs): per-container
// values for the kernel's global knobs, the container's own namespaces for
// the rest, and the host's values untouched.
package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// readHostFile reads a host file, trimmed.
func readHostFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// inSys runs a shell script in a running container and returns its output.
func inSys(t *testing.T, id, script string) string {
	t.Helper()
	return strings.TrimSpace(docker(t, "exec", id, "sh", "-c", script))
}

// inSysErr runs a shell script in a container and returns its combined output
// and error.
func inSysErr(t *testing.T, id, script string) (string, error) {
	t.Helper()
	out, err := run(t, "docker", "exec", id, "sh", "-c", "exec 2>&1; "+script)
	return strings.TrimSpace(out), err
}

func TestSysctlGlobalKnobIsPerContainerAndNeverReachesTheHost(t *testing.T) {
	before := readHostFile(t, "/proc/sys/kernel/panic")
	host, err := strconv.Atoi(before)
	if err != nil {
		t.Fatal(err)
	}
	a, b := startSys(t), startSys(t)
	va, vb := strconv.Itoa(host+4), strconv.Itoa(host+2)

	if out := inSys(t, a, "sysctl -w kernel.panic="+va+" && cat /proc/sys/kernel/panic"); !strings.HasSuffix(out, "\n"+va) {
		t.Fatalf("container a after sysctl -w kernel.panic=%s: %q", va, out)
	}
	if out := inSys(t, b, "cat /proc/sys/kernel/panic"); out != before {
		t.Errorf("container b reads %q, want the host's %q", out, before)
	}
	if out := inSys(t, b, "echo "+vb+" > /proc/sys/kernel/panic && cat /proc/sys/kernel/panic"); out != vb {
		t.Errorf("container b after echo %s: %q", vb, out)
	}
	// another process of a (docker exec enters the same namespaces)
	if out := inSys(t, a, "sysctl -n kernel.panic"); out != va {
		t.Errorf("container a reads %q after b wrote, want its own %s", out, va)
	}
	if after := readHostFile(t, "/proc/sys/kernel/panic"); after != before {
		t.Errorf("host kernel.panic changed from %s to %s", before, after)
	}
}

func TestSysctlOutOfRangeWriteFailsWithEINVAL(t *testing.T) {
	id := startSys(t)
	before := inSys(t, id, "cat /proc/sys/kernel/kptr_restrict")
	out, err := inSysErr(t, id, "echo 9 > /proc/sys/kernel/kptr_restrict")
	if err == nil || !strings.Contains(out, "Invalid argument") {
		t.Errorf("kptr_restrict=9: %v %q, want Invalid argument", err, out)
	}
	if _, err := inSysErr(t, id, "sysctl -w vm.overcommit_memory=3"); err == nil {
		t.Error("sysctl -w vm.overcommit_memory=3 succeeded")
	}
	if got := inSys(t, id, "cat /proc/sys/kernel/kptr_restrict"); got != before {
		t.Errorf("kptr_restrict %q after a refused write, want %q", got, before)
	}
	if got := inSys(t, id, "sysctl -w vm.overcommit_memory=1 >/dev/null && cat /proc/sys/vm/overcommit_memory"); got != "1" {
		t.Errorf("vm.overcommit_memory=1 reads %q", got)
	}
}

func TestSysctlNamespacedKnobChangesOnlyTheContainersNetns(t *testing.T) {
	before := readHostFile(t, "/proc/sys/net/ipv4/ip_forward")
	want := "1"
	if before == "1" {
		want = "0"
	}
	a, b := startSys(t), startSys(t)
	bBefore := inSys(t, b, "cat /proc/sys/net/ipv4/ip_forward")
	if out := inSys(t, a, "sysctl -w net.ipv4.ip_forward="+want+" >/dev/null && cat /proc/sys/net/ipv4/ip_forward"); out != want {
		t.Errorf("container ip_forward %q, want %s", out, want)
	}
	if after := readHostFile(t, "/proc/sys/net/ipv4/ip_forward"); after != before {
		t.Errorf("host ip_forward changed from %s to %s", before, after)
	}
	if out := inSys(t, b, "cat /proc/sys/net/ipv4/ip_forward"); out != bBefore {
		t.Errorf("other container's ip_forward %q, was %q", out, bBefore)
	}
	// the container's own UTS namespace answers kernel.hostname
	if out := inSys(t, a, "cat /proc/sys/kernel/hostname"); out != a[:12] {
		t.Errorf("kernel.hostname %q, want the container's %q", out, a[:12])
	}
}

func TestSysctlFilesLookLikeProcfsInside(t *testing.T) {
	id := startSys(t)
	if out := inSys(t, id, "stat -c '%u:%g %a' /proc/sys/kernel/panic /proc/sys/kernel/ngroups_max /proc/sys/net/ipv4/ip_forward"); out != "0:0 644\n0:0 444\n0:0 644" {
		t.Errorf("owners and modes:\n%s", out)
	}
	// read-only and non-emulated global knobs refuse writes, as the kernel does
	for _, p := range []string{"kernel/ngroups_max", "kernel/cap_last_cap", "kernel/core_pattern"} {
		hostBefore := readHostFile(t, "/proc/sys/"+p)
		out, err := inSysErr(t, id, "echo 1 > /proc/sys/"+p)
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("write of %s: %v %q, want Permission denied", p, err, out)
		}
		if after := readHostFile(t, "/proc/sys/"+p); after != hostBefore {
			t.Errorf("host %s changed from %q to %q", p, hostBefore, after)
		}
	}
	// /proc/sys is the FUSE tree, attached by the runtime
	if out := inSys(t, id, "grep ' /proc/sys ' /proc/self/mountinfo"); !strings.Contains(out, "fuse.sysboxfs") {
		t.Errorf("/proc/sys mount: %q", out)
	}
}

func TestSysctlRandomUUIDIsFreshOnEveryRead(t *testing.T) {
	id := startSys(t)
	out := strings.Fields(inSys(t, id, "cat /proc/sys/kernel/random/uuid; cat /proc/sys/kernel/random/uuid"))
	if len(out) != 2 || out[0] == out[1] || len(out[0]) != 36 {
		t.Errorf("uuids %q", out)
	}
}

func TestSysctlAllReadsEveryKnobWithoutHanging(t *testing.T) {
	id := startSys(t)
	out := inSys(t, id, "timeout 60 sysctl -a 2>/dev/null | wc -l; timeout 60 sh -c 'find /proc/sys -type f | xargs cat >/dev/null 2>&1'; echo rc=$?")
	lines := strings.Fields(out)
	n, err := strconv.Atoi(lines[0])
	if err != nil || n < 300 {
		t.Errorf("sysctl -a printed %v lines", lines[0])
	}
	// xargs exits 123 when some file is unreadable (as on the host:
	// stable_secret answers EIO); 124 would be the timeout.
	if rc := lines[len(lines)-1]; rc != "rc=0" && rc != "rc=123" {
		t.Errorf("reading every file: %s", rc)
	}
	if out := inSys(t, id, "sysctl kernel.panic net.ipv4.ip_forward net.core.somaxconn"); strings.Count(out, " = ") != 3 {
		t.Errorf("sysctl of three knobs: %q", out)
	}
}

func TestSysctlRaiseOnlyLimitRaisesTheHostButNeverLowersIt(t *testing.T) {
	const p = "/proc/sys/net/netfilter/nf_conntrack_max"
	if _, err := os.Stat(p); err != nil {
		t.Skip("no nf_conntrack on this host")
	}
	before := readHostFile(t, p)
	host, _ := strconv.Atoi(before)
	id := startSys(t)
	lower := strconv.Itoa(host / 2)
	if out := inSys(t, id, "sysctl -w net.netfilter.nf_conntrack_max="+lower+" >/dev/null && cat "+p+" /proc/sys/net/nf_conntrack_max"); out != lower+"\n"+lower {
		t.Errorf("container nf_conntrack_max %q, want %s twice", out, lower)
	}
	if after := readHostFile(t, p); after != before {
		t.Errorf("host nf_conntrack_max lowered from %s to %s", before, after)
	}
}

func TestSysFilesPerContainer(t *testing.T) {
	a, b := startSys(t), startSys(t)
	const uuid = "/sys/devices/virtual/dmi/id/product_uuid"
	if _, err := os.Stat("/sys/devices/virtual/dmi/id"); err == nil {
		ua, ub := inSys(t, a, "cat "+uuid), inSys(t, b, "cat "+uuid)
		if ua == ub || len(ua) != 36 || inSys(t, a, "cat "+uuid) != ua {
			t.Errorf("product_uuid a %q (again %q), b %q", ua, inSys(t, a, "cat "+uuid), ub)
		}
		if out := inSys(t, a, "stat -c '%u %a' "+uuid); out != "0 400" {
			t.Errorf("product_uuid owner and mode %q", out)
		}
	} else {
		t.Logf("host has no DMI directory: product_uuid is not mounted (no mountpoint in sysfs)")
	}
	const hs = "/sys/module/nf_conntrack/parameters/hashsize"
	if _, err := os.Stat(hs); err == nil {
		before := readHostFile(t, hs)
		want := "1024"
		if before == want {
			want = "2048"
		}
		if out := inSys(t, a, "echo "+want+" > "+hs+" && cat "+hs); out != want {
			t.Errorf("hashsize in a %q, want %s", out, want)
		}
		if out := inSys(t, b, "cat "+hs); out != before {
			t.Errorf("hashsize in b %q, want the host's %s", out, before)
		}
		if after := readHostFile(t, hs); after != before {
			t.Errorf("host hashsize changed from %s to %s", before, after)
		}
	}
	mounts := inSys(t, a, "cat /proc/self/mountinfo")
	for _, d := range []string{"config", "debug", "security", "tracing"} {
		if _, err := os.Stat("/sys/kernel/" + d); err != nil {
			continue // no mountpoint in sysfs for it
		}
		if !strings.Contains(mounts, fmt.Sprintf(" /sys/kernel/%s rw,", d)) && !strings.Contains(mounts, fmt.Sprintf(" /sys/kernel/%s ro,", d)) {
			t.Errorf("/sys/kernel/%s not mounted", d)
		}
		if out := inSys(t, a, "ls -A /sys/kernel/"+d+" | wc -l"); out != "0" {
			t.Errorf("/sys/kernel/%s has %s entries", d, out)
		}
	}
}

func TestSysctlRuncContainerKeepsTheKernelsProcSys(t *testing.T) {
	before := readHostFile(t, "/proc/sys/kernel/panic")
	name := uniqueName(t)
	t.Cleanup(func() { run(t, "docker", "rm", "-f", name) })
	docker(t, "run", "-d", "--name", name, "--runtime=runc", busybox, "sleep", "3600")
	if out := inSys(t, name, "grep ' /proc/sys ' /proc/self/mountinfo"); strings.Contains(out, "fuse") {
		t.Errorf("runc container's /proc/sys is %q", out)
	}
	if _, err := inSysErr(t, name, "echo 5 > /proc/sys/kernel/panic"); err == nil {
		t.Error("runc container wrote kernel.panic")
	}
	if out := inSys(t, name, "cat /proc/sys/kernel/panic"); out != before {
		t.Errorf("runc container reads %q, host %q", out, before)
	}
	if after := readHostFile(t, "/proc/sys/kernel/panic"); after != before {
		t.Errorf("host kernel.panic changed from %s to %s", before, after)
	}
}
