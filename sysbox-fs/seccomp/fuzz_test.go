package seccomp

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzParseNewMount fuzzes the arguments of a trapped mount(2) the agent emulates (fstype,
// source and data are strings read from the caller's memory, flags its register).
// Properties: no panic; a refusal wraps EINVAL and happens exactly when a non-empty option
// has an empty key; an accepted call's options re-join to data without its empty options
// (nothing lost, nothing invented); the attributes are only the MOUNT_ATTR_* bits mount(2)
// maps, with exactly one atime mode; the source defaults to fstype.
func FuzzParseNewMount(f *testing.F) {
	f.Add("proc", "proc", uint64(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC), "hidepid=2,gid=5")
	f.Add("proc", "", uint64(msMgcVal|unix.MS_RDONLY), "subset=pid,,hidepid=invisible")
	f.Add("sysfs", "sysfs", uint64(unix.MS_NOATIME|unix.MS_STRICTATIME), "")
	f.Add("proc", "none", uint64(0), "=x")
	f.Add("proc", "none", uint64(0), "a==b,c=,=")
	f.Add("sysfs", "", ^uint64(0), ",,,")
	const knownAttrs = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV |
		unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODIRATIME | unix.MOUNT_ATTR__ATIME
	f.Fuzz(func(t *testing.T, fstype, source string, flags uint64, data string) {
		pm, err := parseNewMount(fstype, source, flags, data)
		var wantErr bool
		var nonEmpty []string
		for _, o := range strings.Split(data, ",") {
			if o == "" {
				continue
			}
			nonEmpty = append(nonEmpty, o)
			if strings.HasPrefix(o, "=") {
				wantErr = true
			}
		}
		if err != nil {
			if !wantErr || !errors.Is(err, unix.EINVAL) {
				t.Fatalf("parseNewMount(data %q) = %v; want no error", data, err)
			}
			return
		}
		if wantErr {
			t.Fatalf("parseNewMount(data %q) accepted an option with an empty key: %+v", data, pm.Options)
		}
		var joined []string
		for _, o := range pm.Options {
			if o.Key == "" || strings.Contains(o.Key, ",") || strings.Contains(o.Key, "=") || strings.Contains(o.Value, ",") {
				t.Fatalf("parseNewMount(data %q): malformed option %+v", data, o)
			}
			if o.Flag {
				if o.Value != "" {
					t.Fatalf("parseNewMount(data %q): flag option %+v with a value", data, o)
				}
				joined = append(joined, o.Key)
			} else {
				joined = append(joined, o.Key+"="+o.Value)
			}
		}
		if strings.Join(joined, ",") != strings.Join(nonEmpty, ",") {
			t.Fatalf("parseNewMount(data %q) options %+v do not re-join to the data", data, pm.Options)
		}
		if pm.FSType != fstype || (source != "" && pm.Source != source) || (source == "" && pm.Source != fstype) {
			t.Fatalf("parseNewMount(%q, %q): fstype %q source %q", fstype, source, pm.FSType, pm.Source)
		}
		if pm.Attrs&^uint64(knownAttrs) != 0 {
			t.Fatalf("mountAttrs(%#x) = %#x: bits beyond the mapped ones", flags, pm.Attrs)
		}
		switch pm.Attrs & unix.MOUNT_ATTR__ATIME {
		case unix.MOUNT_ATTR_RELATIME, unix.MOUNT_ATTR_NOATIME, unix.MOUNT_ATTR_STRICTATIME:
		default:
			t.Fatalf("mountAttrs(%#x) = %#x: not exactly one atime mode", flags, pm.Attrs)
		}
		if (pm.Attrs&unix.MOUNT_ATTR_RDONLY != 0) != (mountFlags(flags)&unix.MS_RDONLY != 0) {
			t.Fatalf("mountAttrs(%#x) = %#x: read-only does not follow MS_RDONLY", flags, pm.Attrs)
		}
	})
}

// FuzzMagicTarget fuzzes a mount target path read from the caller. Properties: no panic;
// only /proc/self/ and /proc/thread-self/ paths are split; the link is root, cwd or fd/<n>
// with n a decimal below 2^31; prefix, link and rest put back together give the target
// (but for a trailing slash after the link).
func FuzzMagicTarget(f *testing.F) {
	for _, s := range []string{
		"/proc/self/fd/7", "/proc/thread-self/fd/12/sub/dir", "/proc/self/root/etc", "/proc/self/cwd",
		"/proc/self/fd/", "/proc/self/fd/-1", "/proc/self/fd/2147483648", "/proc/self/fd/+3",
		"/proc/self/exe", "/proc/1/root", "proc/self/root", "/proc/self/root/", "/proc/self//root",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		link, rest, ok := magicTarget(target)
		if !ok {
			if link != "" || rest != "" {
				t.Fatalf("magicTarget(%q) refused but returned %q, %q", target, link, rest)
			}
			return
		}
		var prefix string
		for _, p := range []string{"/proc/self/", "/proc/thread-self/"} {
			if strings.HasPrefix(target, p) {
				prefix = p
			}
		}
		if prefix == "" {
			t.Fatalf("magicTarget(%q) split a path outside /proc/self and /proc/thread-self", target)
		}
		switch {
		case link == "root", link == "cwd":
		case strings.HasPrefix(link, "fd/"):
			n := strings.TrimPrefix(link, "fd/")
			v, err := strconv.ParseUint(n, 10, 64)
			if err != nil || v >= 1<<31 || strings.ContainsAny(n, "+-/") {
				t.Fatalf("magicTarget(%q) link %q is no fd number", target, link)
			}
		default:
			t.Fatalf("magicTarget(%q) link %q is none of root, cwd, fd/<n>", target, link)
		}
		whole := prefix + link
		if rest != "" {
			whole += "/" + rest
		}
		if whole != target && whole+"/" != target {
			t.Fatalf("magicTarget(%q) = %q, %q: does not put back together (%q)", target, link, rest, whole)
		}
	})
}

// FuzzFilesUnder fuzzes the destinations of the virtual files a container registered.
// Properties: no panic; every file kept has a clean relative path below the root (no
// "..", no leading "/", not empty), so the agent never places a file outside the new
// procfs or sysfs.
func FuzzFilesUnder(f *testing.F) {
	for _, s := range []string{"/proc/meminfo", "proc/uptime", "/proc/../etc/passwd", "/proc", "/proc/", "/sys/devices/system/cpu/online", "//proc//sys/", "/procfoo/x", "/proc/./../proc/stat"} {
		f.Add(s, "/var/lib/sysboxfs/c"+s)
	}
	f.Fuzz(func(t *testing.T, dest, source string) {
		for _, root := range []string{"/proc", "/sys"} {
			for _, mf := range filesUnder([]VirtualFile{{Destination: dest, Source: source}}, root) {
				if mf.Rel == "" || path.IsAbs(mf.Rel) || path.Clean(mf.Rel) != mf.Rel || mf.Rel == ".." || strings.HasPrefix(mf.Rel, "../") {
					t.Fatalf("filesUnder(%q, %q) kept relative path %q", dest, root, mf.Rel)
				}
				if mf.Source != source || source == "" {
					t.Fatalf("filesUnder(%q, %q) source %q, want %q", dest, root, mf.Source, source)
				}
			}
		}
	})
}

// FuzzMountCallOf fuzzes the architecture and syscall number of a notification.
// Properties: no panic; a call of an architecture other than the native one (or i386 on
// x86-64) is never taken for a mount call; on x86-64 the x32 bit does not change the
// answer; an unknown native architecture traps nothing.
func FuzzMountCallOf(f *testing.F) {
	f.Add(uint32(unix.AUDIT_ARCH_X86_64), uint32(unix.AUDIT_ARCH_X86_64), int32(unix.SYS_MOUNT))
	f.Add(uint32(unix.AUDIT_ARCH_X86_64), uint32(unix.AUDIT_ARCH_I386), int32(i386Umount2))
	f.Add(uint32(unix.AUDIT_ARCH_X86_64), uint32(unix.AUDIT_ARCH_X86_64), int32(x32Bit|unix.SYS_UMOUNT2))
	f.Add(uint32(unix.AUDIT_ARCH_AARCH64), uint32(unix.AUDIT_ARCH_ARM), int32(21))
	f.Add(uint32(0), uint32(0), int32(unix.SYS_MOUNT))
	f.Fuzz(func(t *testing.T, native, arch uint32, nr int32) {
		got := mountCallOf(native, arch, nr)
		if got < callOther || got > callMoveMount {
			t.Fatalf("mountCallOf(%#x, %#x, %d) = %d: no such call", native, arch, nr, got)
		}
		if got == callOther {
			return
		}
		if native == 0 {
			t.Fatalf("mountCallOf(0, %#x, %d) = %d: nothing is native", arch, nr, got)
		}
		if arch != native && (native != unix.AUDIT_ARCH_X86_64 || arch != unix.AUDIT_ARCH_I386) {
			t.Fatalf("mountCallOf(%#x, %#x, %d) = %d for a foreign architecture", native, arch, nr, got)
		}
		if arch == native && native == unix.AUDIT_ARCH_X86_64 {
			if other := mountCallOf(native, arch, nr^x32Bit); other != got {
				t.Fatalf("x32 bit changes mountCallOf(x86-64, %d) from %d to %d", nr, got, other)
			}
		}
	})
}

// FuzzReadString fuzzes the caller memory readString decodes: a file stands in for
// /proc/<tid>/mem. Properties: no panic; the string is the bytes from addr up to the first
// NUL when that comes within max bytes; ENAMETOOLONG when it does not; EFAULT for a null
// pointer or memory that cannot be read (past the end here) before a NUL.
func FuzzReadString(f *testing.F) {
	f.Add([]byte("proc\x00hidepid=2\x00"), uint64(5), uint16(255))
	f.Add([]byte("abc"), uint64(1), uint16(10))
	f.Add([]byte("abcdef\x00"), uint64(0), uint16(3))
	f.Add([]byte("x\x00"), uint64(1), uint16(0))
	f.Add(make([]byte, 9000), uint64(4095), uint16(4096))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, mem []byte, addr uint64, max16 uint16) {
		max := int(max16)
		p := filepath.Join(dir, "mem")
		if err := os.WriteFile(p, mem, 0o600); err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		m := &callerMem{fd: fd}
		got, err := m.readString(addr, max)

		var want string
		var wantErr error
		switch {
		case addr == 0 || addr >= uint64(len(mem)):
			wantErr = unix.EFAULT
		default:
			s := mem[addr:]
			i := strings.IndexByte(string(s), 0)
			switch {
			case i >= 0 && i <= max:
				want = string(s[:i])
			case i >= 0, len(s) > max:
				wantErr = unix.ENAMETOOLONG
			default:
				wantErr = unix.EFAULT // the string runs off the readable memory
			}
		}
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("readString(addr %d, max %d) over %d bytes = %q, %v; want %v", addr, max, len(mem), got, err, wantErr)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("readString(addr %d, max %d) over %d bytes = %q, %v; want %q", addr, max, len(mem), got, err, want)
		}
	})
}
