package seccomp

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// optionSyscalls are the calls sysbox-runc traps for SYSBOX_IGNORE_SYSFS_CHOWN
// and SYSBOX_ALLOW_TRUSTED_XATTR (native numbers), for the test child's filter.
func optionSyscalls() []uint32 {
	nrs := []uint32{
		unix.SYS_FCHOWN, unix.SYS_FCHOWNAT,
		unix.SYS_SETXATTR, unix.SYS_LSETXATTR, unix.SYS_FSETXATTR,
		unix.SYS_GETXATTR, unix.SYS_LGETXATTR, unix.SYS_FGETXATTR,
		unix.SYS_LISTXATTR, unix.SYS_LLISTXATTR, unix.SYS_FLISTXATTR,
		unix.SYS_REMOVEXATTR, unix.SYS_LREMOVEXATTR, unix.SYS_FREMOVEXATTR,
	}
	for _, nr := range []int32{chownNr, lchownNr} {
		if nr >= 0 {
			nrs = append(nrs, uint32(nr))
		}
	}
	return nrs
}

// childChown runs chown, lchown or fchown (through an fd of path).
func childChown(how, path string, uid int) error {
	switch how {
	case "lchown":
		return unix.Lchown(path, uid, -1)
	case "fchown":
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Fchown(fd, uid, -1)
	}
	return unix.Chown(path, uid, -1)
}

// childXattr runs one xattr command of the test child.
func childXattr(cmd []string) (text string, n, errno int) {
	buf := make([]byte, 4096)
	var err error
	switch cmd[0] {
	case "setxattr":
		err = unix.Setxattr(cmd[1], cmd[2], []byte(cmd[3]), 0)
	case "lsetxattr":
		err = unix.Lsetxattr(cmd[1], cmd[2], []byte(cmd[3]), 0)
	case "fsetxattr":
		var fd int
		if fd, err = unix.Open(cmd[1], unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			err = unix.Fsetxattr(fd, cmd[2], []byte(cmd[3]), 0)
			unix.Close(fd)
		}
	case "getxattr":
		if n, err = unix.Getxattr(cmd[1], cmd[2], buf); err == nil {
			text = string(buf[:n])
		}
	case "fgetxattr":
		var fd int
		if fd, err = unix.Open(cmd[1], unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			if n, err = unix.Fgetxattr(fd, cmd[2], buf); err == nil {
				text = string(buf[:n])
			}
			unix.Close(fd)
		}
	case "listxattr":
		if n, err = unix.Listxattr(cmd[1], buf); err == nil {
			text = strings.Join(strings.Split(strings.TrimSuffix(string(buf[:n]), "\x00"), "\x00"), ",")
		}
	case "removexattr":
		err = unix.Removexattr(cmd[1], cmd[2])
	}
	return text, n, childErrno(err)
}

// startUsernsChild starts an agent and a test child in a user namespace of
// its own where it is root (mapped to host root, so that the agent takes
// its fd), but without any capability over the host's user namespace, as
// a container's root: trusted.* xattrs are refused to it by the kernel,
// and chown to an id its namespace does not map fails.
func startUsernsChild(t *testing.T) *trapped {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: user namespaces mapped to root, another process's memory")
	}
	ta := startAgent(t, 0)
	one := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
	return startChildWith(t, ta, "c1", &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER, UidMappings: one, GidMappings: one,
	})
}

func hostOwner(t *testing.T, path string) uint32 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid
}

// TestChownOfSysfsIsIgnored proves that a trapped chown of a sysfs file
// (SYSBOX_IGNORE_SYSFS_CHOWN) succeeds and changes nothing, by every form
// of the call, while a chown of any other file gets the kernel's answer.
func TestChownOfSysfsIsIgnored(t *testing.T) {
	c := startUsernsChild(t)
	const sysfsFile = "/sys/kernel/uevent_seqnum"
	if _, err := os.Stat(sysfsFile); err != nil {
		t.Skipf("no %s: %v", sysfsFile, err)
	}
	other := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd, path string
		want      unix.Errno
	}{
		{"chown " + sysfsFile + " 1000", sysfsFile, 0},
		{"lchown " + sysfsFile + " 1000", sysfsFile, 0},
		{"fchown " + sysfsFile + " 1000", sysfsFile, 0},
		{"fchownat /sys/kernel uevent_seqnum 1000", sysfsFile, 0},
		{"chown /sys/kernel/../kernel/uevent_seqnum 1000", sysfsFile, 0},
		{"chown /sys/class/net/lo 1000", "/sys/class/net/lo", 0}, // a sysfs symlink, followed
		// uid 1000 is not mapped in the child's user namespace.
		{"chown " + other + " 1000", other, unix.EINVAL},
		{"fchown " + other + " 1000", other, unix.EINVAL},
		{"chown /sys/kernel/nonexistent 1000", "", unix.ENOENT},
	} {
		before := uint32(0)
		if tc.path != "" {
			before = hostOwner(t, tc.path)
		}
		if a := c.do(t, tc.cmd); a.Errno != int(tc.want) {
			t.Errorf("%s: errno %d, want %d (%v)", tc.cmd, a.Errno, tc.want, tc.want)
		}
		if tc.path != "" {
			if after := hostOwner(t, tc.path); after != before {
				t.Errorf("%s: owner changed from %d to %d", tc.cmd, before, after)
			}
		}
	}
}

// TestTrustedXattrIsPerformedForContainerRoot proves that trapped xattr
// calls on trusted.* names (SYSBOX_ALLOW_TRUSTED_XATTR) work for root of a
// user namespace as for host root: set, get, list, remove, by path and by
// fd; other names still get the kernel's answer.
func TestTrustedXattrIsPerformedForContainerRoot(t *testing.T) {
	c := startUsernsChild(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(f, "trusted.probe", []byte("1"), 0); err != nil {
		t.Skipf("%s does not take trusted.* xattrs: %v", dir, err)
	}
	if err := unix.Removexattr(f, "trusted.probe"); err != nil {
		t.Fatal(err)
	}
	if a := c.do(t, "setxattr "+f+" trusted.x hello"); a.Errno != 0 {
		t.Fatalf("setxattr trusted.x: errno %d", a.Errno)
	}
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(f, "trusted.x", buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("host getxattr trusted.x: %q, %v; want hello", buf[:n], err)
	}
	if a := c.do(t, "getxattr "+f+" trusted.x"); a.Errno != 0 || a.Text != "hello" || a.N != 5 {
		t.Errorf("getxattr trusted.x: errno %d, %q (%d bytes); want hello", a.Errno, a.Text, a.N)
	}
	if a := c.do(t, "fsetxattr "+f+" trusted.y world"); a.Errno != 0 {
		t.Errorf("fsetxattr trusted.y: errno %d", a.Errno)
	}
	if a := c.do(t, "fgetxattr "+f+" trusted.y"); a.Errno != 0 || a.Text != "world" {
		t.Errorf("fgetxattr trusted.y: errno %d, %q; want world", a.Errno, a.Text)
	}
	// A relative path, from the child's cwd.
	if a := c.do(t, "chdir "+dir); a.Errno != 0 {
		t.Fatal(a.Errno)
	}
	if a := c.do(t, "getxattr f trusted.x"); a.Errno != 0 || a.Text != "hello" {
		t.Errorf("getxattr of a relative path: errno %d, %q; want hello", a.Errno, a.Text)
	}
	if a := c.do(t, "listxattr "+f); a.Errno != 0 || !strings.Contains(","+a.Text+",", ",trusted.x,") ||
		!strings.Contains(","+a.Text+",", ",trusted.y,") {
		t.Errorf("listxattr: errno %d, %q; want trusted.x and trusted.y listed", a.Errno, a.Text)
	}
	if a := c.do(t, "getxattr "+f+" trusted.none"); a.Errno != int(unix.ENODATA) {
		t.Errorf("getxattr of a missing trusted name: errno %d, want ENODATA", a.Errno)
	}
	if a := c.do(t, "removexattr "+f+" trusted.x"); a.Errno != 0 {
		t.Errorf("removexattr trusted.x: errno %d", a.Errno)
	}
	if _, err := unix.Getxattr(f, "trusted.x", buf); err != unix.ENODATA {
		t.Errorf("host getxattr trusted.x after removexattr: %v, want ENODATA", err)
	}
	if a := c.do(t, "setxattr "+filepath.Join(dir, "missing")+" trusted.x 1"); a.Errno != int(unix.ENOENT) {
		t.Errorf("setxattr on a missing file: errno %d, want ENOENT", a.Errno)
	}
	// Other names continue to the kernel (user.* of a file the namespace's
	// root owns: allowed).
	if a := c.do(t, "setxattr "+f+" user.z ok"); a.Errno != 0 {
		t.Errorf("setxattr user.z: errno %d", a.Errno)
	}
	if n, err := unix.Getxattr(f, "user.z", buf); err != nil || string(buf[:n]) != "ok" {
		t.Errorf("host getxattr user.z: %q, %v", buf[:n], err)
	}
}

// TestOptCallOf checks the decoding of the options' calls by ABI.
func TestOptCallOf(t *testing.T) {
	native := nativeArch()
	for _, tc := range []struct {
		arch uint32
		nr   int32
		want optCall
	}{
		{native, int32(unix.SYS_FCHOWNAT), optFchownat},
		{native, int32(unix.SYS_FSETXATTR), optFsetxattr},
		{native, int32(unix.SYS_LLISTXATTR), optLlistxattr},
		{native, int32(unix.SYS_GETPID), optOther},
		{native + 1, int32(unix.SYS_FCHOWNAT), optOther},
	} {
		if got := optCallOf(native, tc.arch, tc.nr); got != tc.want {
			t.Errorf("arch %#x nr %d: %v, want %v", tc.arch, tc.nr, got, tc.want)
		}
	}
	if native == unix.AUDIT_ARCH_X86_64 {
		for nr, want := range map[int32]optCall{
			unix.SYS_CHOWN | x32Bit: optChown, 212: optOther, 237: optOther,
		} {
			if got := optCallOf(native, native, nr); got != want {
				t.Errorf("x86-64 nr %#x: %v, want %v", nr, got, want)
			}
		}
		for nr, want := range map[int32]optCall{212: optChown, 182: optChown, 298: optFchownat, 226: optSetxattr, 237: optFremovexattr, 20: optOther} {
			if got := optCallOf(native, unix.AUDIT_ARCH_I386, nr); got != want {
				t.Errorf("i386 nr %d: %v, want %v", nr, got, want)
			}
		}
	}
	if optCallOf(0, 0, int32(unix.SYS_FCHOWNAT)) != optOther {
		t.Error("unknown native arch: want optOther")
	}
}

// TestOptionCallsOfAnUnknownContainerContinue proves that the agent does
// not emulate the options' calls for a container sysbox-fs does not know:
// they get the kernel's answer.
func TestOptionCallsOfAnUnknownContainerContinue(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: user namespaces mapped to root, another process's memory")
	}
	ta := startAgent(t, 0)
	one := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
	c := startChildWith(t, ta, "unknown", &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER, UidMappings: one, GidMappings: one,
	})
	if a := c.do(t, "chown /sys/kernel/uevent_seqnum 1000"); a.Errno != int(unix.EINVAL) {
		t.Errorf("chown of sysfs: errno %d, want the kernel's EINVAL", a.Errno)
	}
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if a := c.do(t, "setxattr "+f+" trusted.x 1"); a.Errno != int(unix.EPERM) {
		t.Errorf("setxattr trusted.x: errno %d, want the kernel's EPERM", a.Errno)
	}
}
