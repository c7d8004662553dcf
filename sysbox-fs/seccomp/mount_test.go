package seccomp

import (
	"errors"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountVerdictEmulatesOnlyNewProcfs(t *testing.T) {
	tests := []struct {
		name   string
		flags  uint64
		fstype string
		want   verdict
	}{
		{"proc", 0, "proc", emulateProc},
		{"proc read-only nosuid", unix.MS_RDONLY | unix.MS_NOSUID, "proc", emulateProc},
		{"proc with the old magic flags value", msMgcVal | unix.MS_NODEV, "proc", emulateProc},
		{"tmpfs", 0, "tmpfs", continueCall},
		{"sysfs", unix.MS_RDONLY, "sysfs", emulateSysfs},
		{"sysfs remount", unix.MS_REMOUNT, "sysfs", continueCall},
		{"procfs name is case-sensitive", 0, "Proc", continueCall},
		{"remount of a proc", unix.MS_REMOUNT | unix.MS_RDONLY, "proc", continueCall},
		{"bind of /proc", unix.MS_BIND | unix.MS_REC, "proc", continueCall},
		{"move", unix.MS_MOVE, "proc", continueCall},
		{"propagation change", unix.MS_PRIVATE | unix.MS_REC, "proc", continueCall},
		{"shared", unix.MS_SHARED, "proc", continueCall},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mountVerdict(tc.flags, tc.fstype); got != tc.want {
				t.Fatalf("mountVerdict(%#x, %q) = %v, want %v", tc.flags, tc.fstype, got, tc.want)
			}
		})
	}
}

func TestFsopenVerdictRefusesProcAndSysfs(t *testing.T) {
	for name, want := range map[string]verdict{
		"proc": refuseENOSYS, "sysfs": refuseENOSYS,
		"tmpfs": continueCall, "overlay": continueCall, "": continueCall, "procfs": continueCall,
	} {
		if got := fsopenVerdict(name); got != want {
			t.Errorf("fsopenVerdict(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestProcMountAttrsHonourTheFlags(t *testing.T) {
	tests := []struct {
		name  string
		flags uint64
		want  uint64
	}{
		{"none: relatime, as mount(2)", 0, unix.MOUNT_ATTR_RELATIME},
		{"read-only", unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_RELATIME},
		{"read-only with the magic value", msMgcVal | unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_RELATIME},
		{"runc's proc flags", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC,
			unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_RELATIME},
		{"noatime wins over relatime", unix.MS_NOATIME | unix.MS_RELATIME, unix.MOUNT_ATTR_NOATIME},
		{"strictatime", unix.MS_STRICTATIME, unix.MOUNT_ATTR_STRICTATIME},
		{"nodiratime", unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME | unix.MOUNT_ATTR_RELATIME},
		{"flags without meaning for proc are ignored", unix.MS_SILENT | unix.MS_REC | unix.MS_SYNCHRONOUS, unix.MOUNT_ATTR_RELATIME},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mountAttrs(tc.flags); got != tc.want {
				t.Fatalf("mountAttrs(%#x) = %#x, want %#x", tc.flags, got, tc.want)
			}
		})
	}
}

func TestParseProcMountOptions(t *testing.T) {
	tests := []struct {
		name, source, data string
		want               []fsOption
		wantSource         string
		wantErr            error
	}{
		{name: "no data", source: "proc", wantSource: "proc"},
		{name: "empty source named proc", source: "", wantSource: "proc"},
		{name: "key=value and flag", source: "none", data: "hidepid=2,subset=pid",
			want: []fsOption{{Key: "hidepid", Value: "2"}, {Key: "subset", Value: "pid"}}, wantSource: "none"},
		{name: "flag option", source: "proc", data: "rw,gid=5",
			want: []fsOption{{Key: "rw", Flag: true}, {Key: "gid", Value: "5"}}, wantSource: "proc"},
		{name: "empty options skipped", source: "proc", data: ",hidepid=1,,",
			want: []fsOption{{Key: "hidepid", Value: "1"}}, wantSource: "proc"},
		{name: "value with =", source: "proc", data: "a=b=c",
			want: []fsOption{{Key: "a", Value: "b=c"}}, wantSource: "proc"},
		{name: "option without a key", source: "proc", data: "=2", wantErr: unix.EINVAL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pm, err := parseNewMount("proc", tc.source, unix.MS_RDONLY, tc.data)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pm.Options, tc.want) || pm.Source != tc.wantSource {
				t.Fatalf("got %+v source %q, want %+v source %q", pm.Options, pm.Source, tc.want, tc.wantSource)
			}
			if pm.Attrs&unix.MOUNT_ATTR_RDONLY == 0 {
				t.Errorf("MS_RDONLY not carried into the attrs: %#x", pm.Attrs)
			}
		})
	}
}

func TestProcFilesPicksTheProcEntries(t *testing.T) {
	files := []VirtualFile{
		{Destination: "/proc/meminfo", Source: "/var/lib/sysboxfs/c1/proc/meminfo"},
		{Destination: "/proc/sys", Source: "/var/lib/sysboxfs/c1/proc/sys"},
		{Destination: "/sys/devices/system/cpu/online", Source: "/var/lib/sysboxfs/c1/sys/devices/system/cpu/online"},
		{Destination: "/proc", Source: "/x"},
		{Destination: "/procfoo/x", Source: "/y"},
		{Destination: "proc/uptime", Source: "/var/lib/sysboxfs/c1/proc/uptime"},
		{Destination: "/proc/../etc/passwd", Source: "/z"},
		{Destination: "/proc/stat", Source: ""},
	}
	want := []mountFile{
		{Rel: "meminfo", Source: "/var/lib/sysboxfs/c1/proc/meminfo"},
		{Rel: "sys", Source: "/var/lib/sysboxfs/c1/proc/sys"},
		{Rel: "uptime", Source: "/var/lib/sysboxfs/c1/proc/uptime"},
	}
	if got := filesUnder(files, "/proc"); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	wantSys := []mountFile{{Rel: "devices/system/cpu/online", Source: "/var/lib/sysboxfs/c1/sys/devices/system/cpu/online"}}
	if got := filesUnder(files, "/sys"); !reflect.DeepEqual(got, wantSys) {
		t.Fatalf("under /sys: got %+v\nwant %+v", got, wantSys)
	}
}

func TestProtectedMountsRefuseOnlyVirtualMountRoots(t *testing.T) {
	p := protectedMounts{FuseDevs: []uint64{unix.Mkdev(0, 40)}, RootProcs: []uint64{80}}
	tests := []struct {
		name string
		t    umountTarget
		want bool
	}{
		{"a virtual file", umountTarget{MountRoot: true, MntID: 103, Dev: unix.Mkdev(0, 40)}, true},
		{"/proc at the container root", umountTarget{MountRoot: true, MntID: 80, Dev: unix.Mkdev(0, 46)}, true},
		{"another procfs (inner container)", umountTarget{MountRoot: true, MntID: 300, Dev: unix.Mkdev(0, 77)}, false},
		{"a tmpfs", umountTarget{MountRoot: true, MntID: 301, Dev: unix.Mkdev(0, 78)}, false},
		{"inside /proc/sys, not a mount: the kernel says EINVAL", umountTarget{MountRoot: false, MntID: 60, Dev: unix.Mkdev(0, 40)}, false},
		{"same minor, other major", umountTarget{MountRoot: true, MntID: 302, Dev: unix.Mkdev(8, 40)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.refuses(tc.t); got != tc.want {
				t.Fatalf("refuses(%+v) = %v, want %v", tc.t, got, tc.want)
			}
		})
	}
}

func TestMagicTargetSplitsTheCallersOwnLinks(t *testing.T) {
	tests := []struct {
		in, link, rest string
		ok             bool
	}{
		{"/proc/self/fd/7", "fd/7", "", true},
		{"/proc/thread-self/fd/3", "fd/3", "", true},
		{"/proc/self/fd/7/sub/dir", "fd/7", "sub/dir", true},
		{"/proc/self/root/proc/meminfo", "root", "proc/meminfo", true},
		{"/proc/self/cwd/x", "cwd", "x", true},
		{"/proc/self/root", "root", "", true},
		{"/proc/self/fd/x", "", "", false},
		{"/proc/self/fd/-1", "", "", false},
		{"/proc/self/mounts", "", "", false},
		{"/proc/selfish/fd/1", "", "", false},
		{"/proc/1/fd/7", "", "", false},
		{"relative/proc/self/fd/1", "", "", false},
	}
	for _, tc := range tests {
		link, rest, ok := magicTarget(tc.in)
		if link != tc.link || rest != tc.rest || ok != tc.ok {
			t.Errorf("magicTarget(%q) = %q, %q, %v; want %q, %q, %v", tc.in, link, rest, ok, tc.link, tc.rest, tc.ok)
		}
	}
}

func TestMountCallOfCoversTheCompatABIs(t *testing.T) {
	const x86 = unix.AUDIT_ARCH_X86_64
	tests := []struct {
		name   string
		native uint32
		arch   uint32
		nr     int32
		want   mountCall
	}{
		{"x86-64 mount", x86, x86, unix.SYS_MOUNT, callMount},
		{"x86-64 umount2", x86, x86, unix.SYS_UMOUNT2, callUmount2},
		{"x86-64 fsopen", x86, x86, unix.SYS_FSOPEN, callFsopen},
		{"x86-64 sysinfo is not a mount call", x86, x86, unix.SYS_SYSINFO, callOther},
		{"x32 umount2", x86, x86, x32Bit | unix.SYS_UMOUNT2, callUmount2},
		{"i386 mount", x86, unix.AUDIT_ARCH_I386, 21, callMount},
		{"i386 umount2", x86, unix.AUDIT_ARCH_I386, 52, callUmount2},
		{"i386 fsopen", x86, unix.AUDIT_ARCH_I386, 430, callFsopen},
		{"x86-64 move_mount", x86, x86, unix.SYS_MOVE_MOUNT, callMoveMount},
		{"i386 move_mount", x86, unix.AUDIT_ARCH_I386, 429, callMoveMount},
		{"i386 number 165 is not mount", x86, unix.AUDIT_ARCH_I386, 165, callOther},
		{"unknown native arch", 0, 0, unix.SYS_MOUNT, callOther},
		{"another arch", x86, unix.AUDIT_ARCH_AARCH64, unix.SYS_MOUNT, callOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mountCallOf(tc.native, tc.arch, tc.nr); got != tc.want {
				t.Fatalf("mountCallOf = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMoveMountSourceIsLookedUpAsTheKernelDoes(t *testing.T) {
	tests := []struct {
		name       string
		dfd        int32
		path       string
		flags      uint64
		want       string
		wantFollow bool
	}{
		{"absolute path, no symlink followed", unix.AT_FDCWD, "/proc/meminfo", 0, "/proc/meminfo", false},
		{"relative to cwd", unix.AT_FDCWD, "proc/meminfo", 0, "proc/meminfo", false},
		{"symlinks followed on request", unix.AT_FDCWD, "/x", unix.MOVE_MOUNT_F_SYMLINKS, "/x", true},
		{"relative to a dir fd", 5, "meminfo", 0, "/proc/self/fd/5/meminfo", false},
		{"absolute ignores the dir fd", 5, "/proc/uptime", 0, "/proc/uptime", false},
		{"the fd itself", 7, "", unix.MOVE_MOUNT_F_EMPTY_PATH, "/proc/self/fd/7", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, follow := moveMountSource(tc.dfd, tc.path, tc.flags)
			if got != tc.want || follow != tc.wantFollow {
				t.Fatalf("moveMountSource = %q, %v; want %q, %v", got, follow, tc.want, tc.wantFollow)
			}
		})
	}
}
