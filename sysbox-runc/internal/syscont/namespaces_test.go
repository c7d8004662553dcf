package syscont

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeNamespaces is a StatNamespace over a fixed table of files: the host's namespaces
// under /proc/1/ns (owned by the host's user namespace, inode 1), another system
// container's under /proc/4242/ns (owned by its user namespace, inode 100), a namespace
// made on the host with `ip netns add` and a plain file.
func fakeNamespaces(t *testing.T) (StatNamespace, *[]string) {
	const nsfsDev = 4
	hostUser := NamespaceID{Dev: nsfsDev, Ino: 1}
	otherUser := NamespaceID{Dev: nsfsDev, Ino: 100}
	files := map[string]NamespaceFile{
		"/proc/1/ns/user": {Type: specs.UserNamespace, ID: hostUser},
	}
	ino := uint64(10)
	for _, typ := range []specs.LinuxNamespaceType{
		specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace,
		specs.MountNamespace, specs.CgroupNamespace, specs.TimeNamespace,
	} {
		host := HostNamespacePath(typ)
		files[host] = NamespaceFile{Type: typ, ID: NamespaceID{Dev: nsfsDev, Ino: ino}, Owner: hostUser}
		other := strings.Replace(host, "/proc/1/", "/proc/4242/", 1)
		files[other] = NamespaceFile{Type: typ, ID: NamespaceID{Dev: nsfsDev, Ino: ino + 100}, Owner: otherUser}
		ino++
	}
	files["/proc/4242/ns/user"] = NamespaceFile{Type: specs.UserNamespace, ID: otherUser, Owner: hostUser}
	// the host's net namespace bound elsewhere (same dev/ino, another path)
	files["/run/netns/host-alias"] = files["/proc/1/ns/net"]
	files["/run/netns/made-on-host"] = NamespaceFile{Type: specs.NetworkNamespace, ID: NamespaceID{Dev: nsfsDev, Ino: 500}, Owner: hostUser}
	var asked []string
	return func(path string) (NamespaceFile, error) {
		asked = append(asked, path)
		if path == "/etc/hostname" {
			return NamespaceFile{}, fmt.Errorf("filesystem type 0xef53: %w", ErrNotNamespace)
		}
		f, ok := files[path]
		if !ok {
			return NamespaceFile{}, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		}
		return f, nil
	}, &asked
}

func withNamespacePath(s *specs.Spec, typ specs.LinuxNamespaceType, path string) *specs.Spec {
	for i := range s.Linux.Namespaces {
		if s.Linux.Namespaces[i].Type == typ {
			s.Linux.Namespaces[i].Path = path
			return s
		}
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: path})
	return s
}

func TestCheckNamespacePaths(t *testing.T) {
	for _, tc := range []struct {
		name     string
		typ      specs.LinuxNamespaceType
		path     string
		wantIs   error
		wantText []string
	}{
		{"host network by /proc/1 path names --net=host", specs.NetworkNamespace, "/proc/1/ns/net", ErrNotSupported,
			[]string{"the host network namespace /proc/1/ns/net", "drop --net=host"}},
		{"host network bound at another path is still the host's", specs.NetworkNamespace, "/run/netns/host-alias", ErrNotSupported,
			[]string{"the host network namespace /run/netns/host-alias", "drop --net=host"}},
		{"host pid names --pid=host", specs.PIDNamespace, "/proc/1/ns/pid", ErrNotSupported, []string{"drop --pid=host"}},
		{"host ipc names --ipc=host", specs.IPCNamespace, "/proc/1/ns/ipc", ErrNotSupported, []string{"drop --ipc=host"}},
		{"host uts names --uts=host", specs.UTSNamespace, "/proc/1/ns/uts", ErrNotSupported, []string{"drop --uts=host"}},
		{"host cgroup names --cgroupns=host", specs.CgroupNamespace, "/proc/1/ns/cgroup", ErrNotSupported, []string{"drop --cgroupns=host"}},
		{"host mount namespace", specs.MountNamespace, "/proc/1/ns/mnt", ErrNotSupported, []string{"the host mount namespace /proc/1/ns/mnt"}},
		{"host time namespace", specs.TimeNamespace, "/proc/1/ns/time", ErrNotSupported, []string{"the host time namespace"}},
		{"host user namespace names --userns=host", specs.UserNamespace, "/proc/1/ns/user", ErrNotSupported, []string{"drop --userns=host"}},
		{"another container's network suggests a user-defined network", specs.NetworkNamespace, "/proc/4242/ns/net", ErrNotSupported,
			[]string{"joining another container's network namespace /proc/4242/ns/net", "each have their own user namespace", "docker network create"}},
		{"another container's ipc", specs.IPCNamespace, "/proc/4242/ns/ipc", ErrNotSupported,
			[]string{"joining another container's ipc namespace /proc/4242/ns/ipc", "each have their own user namespace"}},
		{"another container's pid", specs.PIDNamespace, "/proc/4242/ns/pid", ErrNotSupported, []string{"another container's pid namespace"}},
		{"another user namespace", specs.UserNamespace, "/proc/4242/ns/user", ErrNotSupported,
			[]string{"joining the existing user namespace /proc/4242/ns/user"}},
		{"a namespace of the host's user namespace that is not the host's", specs.NetworkNamespace, "/run/netns/made-on-host", ErrNotSupported,
			[]string{"network namespace /run/netns/made-on-host of the host's user namespace"}},
		{"missing path is named", specs.NetworkNamespace, "/proc/999999/ns/net", fs.ErrNotExist,
			[]string{"network namespace path /proc/999999/ns/net", "linux.namespaces"}},
		{"a plain file is not a namespace", specs.UTSNamespace, "/etc/hostname", ErrNotNamespace,
			[]string{"uts namespace path /etc/hostname"}},
		{"a namespace of another type", specs.IPCNamespace, "/proc/4242/ns/net", ErrNotNamespace,
			[]string{"ipc namespace path /proc/4242/ns/net", "it is a network namespace"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stat, _ := fakeNamespaces(t)
			err := CheckNamespacePaths(withNamespacePath(minimalSpec(), tc.typ, tc.path), stat)
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("err = %v, want %v", err, tc.wantIs)
			}
			for _, w := range tc.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to say %q", err, w)
				}
			}
		})
	}
}

func TestCheckNamespacePathsAcceptsNewNamespacesWithoutAskingTheKernel(t *testing.T) {
	stat, asked := fakeNamespaces(t)
	s := minimalSpec()
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace}, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	if err := CheckNamespacePaths(s, stat); err != nil {
		t.Fatal(err)
	}
	if len(*asked) != 0 {
		t.Errorf("stat called for a spec without namespace paths: %v", *asked)
	}
	if err := CheckNamespacePaths(&specs.Spec{}, stat); err != nil {
		t.Errorf("spec without linux: %v", err)
	}
}

func TestCheckNamespacePathsNamesEveryJoinedNamespaceAtOnce(t *testing.T) {
	stat, _ := fakeNamespaces(t)
	s := withNamespacePath(withNamespacePath(minimalSpec(), specs.NetworkNamespace, "/proc/1/ns/net"), specs.IPCNamespace, "/proc/4242/ns/ipc")
	err := CheckNamespacePaths(s, stat)
	if err == nil || !strings.Contains(err.Error(), "--net=host") || !strings.Contains(err.Error(), "another container's ipc namespace") {
		t.Fatalf("err = %v, want both the host network and the other container's ipc namespace", err)
	}
}

func TestCheckNamespacePathsWithoutHostAnswersStillRefuses(t *testing.T) {
	// The host's files cannot be read (e.g. a restricted /proc): the join is refused all
	// the same, as another container's.
	stat := func(path string) (NamespaceFile, error) {
		if strings.HasPrefix(path, "/proc/1/") {
			return NamespaceFile{}, &fs.PathError{Op: "open", Path: path, Err: fs.ErrPermission}
		}
		return NamespaceFile{Type: specs.NetworkNamespace, ID: NamespaceID{Dev: 4, Ino: 7}}, nil
	}
	err := CheckNamespacePaths(withNamespacePath(minimalSpec(), specs.NetworkNamespace, "/var/run/netns/x"), stat)
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "/var/run/netns/x") {
		t.Fatalf("err = %v, want a refusal naming the path", err)
	}
}

func TestHostNamespacePathUsesTheProcNames(t *testing.T) {
	for typ, want := range map[specs.LinuxNamespaceType]string{
		specs.NetworkNamespace: "/proc/1/ns/net", specs.MountNamespace: "/proc/1/ns/mnt",
		specs.PIDNamespace: "/proc/1/ns/pid", specs.UserNamespace: "/proc/1/ns/user",
		specs.CgroupNamespace: "/proc/1/ns/cgroup", specs.TimeNamespace: "/proc/1/ns/time",
		specs.IPCNamespace: "/proc/1/ns/ipc", specs.UTSNamespace: "/proc/1/ns/uts",
	} {
		if got := HostNamespacePath(typ); got != want {
			t.Errorf("HostNamespacePath(%s) = %s, want %s", typ, got, want)
		}
	}
}

// sandboxNamespaces is a StatNamespace where /proc/1 cannot be read (as in some sandboxes)
// and the runtime's own namespaces (/proc/self/ns) are the host's.
func sandboxNamespaces(path string) (NamespaceFile, error) {
	hostUser := NamespaceID{Dev: 4, Ino: 1}
	switch path {
	case "/proc/self/ns/net", "/run/netns/runtime-alias":
		return NamespaceFile{Type: specs.NetworkNamespace, ID: NamespaceID{Dev: 4, Ino: 2}, Owner: hostUser}, nil
	case "/proc/self/ns/user":
		return NamespaceFile{Type: specs.UserNamespace, ID: hostUser}, nil
	case "/run/netns/made-on-host":
		return NamespaceFile{Type: specs.NetworkNamespace, ID: NamespaceID{Dev: 4, Ino: 3}, Owner: hostUser}, nil
	}
	return NamespaceFile{}, &fs.PathError{Op: "open", Path: path, Err: fs.ErrPermission}
}

func TestCheckNamespacePathsFindsTheHostWhenInitCannotBeRead(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/proc/1/ns/net", "the host network namespace /proc/1/ns/net (drop --net=host)"},
		{"/run/netns/runtime-alias", "the host network namespace /run/netns/runtime-alias (drop --net=host)"},
		{"/run/netns/made-on-host", "of the host's user namespace"},
	} {
		err := CheckNamespacePaths(withNamespacePath(minimalSpec(), specs.NetworkNamespace, tc.path), sandboxNamespaces)
		if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrNotSupported saying %q", tc.path, err, tc.want)
		}
	}
}
