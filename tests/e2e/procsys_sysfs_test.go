//go:build e2e

// Read-write sysfs mounts inside a system container: inner privileged
// containers.
package e2e

import (
	"strings"
	"testing"
)

// A read-write sysfs mounted inside (as an inner privileged container's
// runtime does) works, with the container's virtual /sys files on top,
// while the container's own /sys stays read-only. The runtime's read-only
// /sys had made the superblock read-only, and the kernel then refused every
// read-write sysfs in the container's mount namespace.
func TestProcSysReadWriteSysfsMountInside(t *testing.T) {
	id := startBox(t, nil, debianImage, "sleep", "3600")
	// the script's status is the last command's: its lines are checked
	out, _ := inSysErr(t, id, "mkdir /s && mount -t sysfs sysfs /s && echo mounted && "+
		"grep -E ' /s ' /proc/self/mountinfo | cut -d' ' -f6; "+
		"grep -c ' /s/devices/system/cpu/online .* fuse' /proc/self/mountinfo; "+
		"grep -E ' /sys ' /proc/self/mountinfo | cut -d' ' -f6; "+
		"echo x > /sys/class/net/lo/ifalias; "+
		"unshare -n sh -c 'mkdir /n && mount -t sysfs sysfs /n && echo inner-net mounted'")
	lines := strings.Split(out, "\n")
	if len(lines) != 6 || lines[0] != "mounted" || !strings.HasPrefix(lines[1], "rw,") || lines[2] != "1" ||
		!strings.HasPrefix(lines[3], "ro,") || !strings.Contains(lines[4], "Read-only file system") || lines[5] != "inner-net mounted" {
		t.Errorf("rw sysfs mount, its flags, its virtual cpu/online, /sys's flags, a write to /sys, a sysfs of a new net namespace:\n%s", out)
	}
}

// Docker inside a system container runs privileged containers: their
// runtime mounts a read-write sysfs at /sys.
func TestProcSysInnerPrivilegedDockerStarts(t *testing.T) {
	name := startBox(t, nil, debianDocker, "dockerd", "--log-level=warn")
	waitInnerDocker(t, name)
	if out, err := run(t, "sh", "-c", "docker save "+busybox+" | docker exec -i "+name+" docker load"); err != nil {
		t.Fatalf("load image inside: %v: %s", err, out)
	}
	out := docker(t, "exec", name, "docker", "run", "--privileged", "--rm", busybox, "sh", "-c",
		"grep -E ' /sys ' /proc/self/mountinfo | cut -d' ' -f6,9; cat /sys/devices/system/cpu/online")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := strings.TrimSpace(docker(t, "exec", name, "cat", "/sys/devices/system/cpu/online"))
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "rw,") || !strings.HasSuffix(lines[0], " sysfs") || lines[1] != want {
		t.Errorf("inner privileged container's /sys flags and cpu/online:\n%s\nwant rw sysfs and %s", out, want)
	}
	if out := docker(t, "exec", name, "docker", "run", "--rm", busybox, "true"); out != "" {
		t.Errorf("an unprivileged inner container printed %q", out)
	}
}
