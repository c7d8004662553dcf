package seccomp

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// sysfsBox is a shell in new user, mount and net namespaces whose root
// holds only /usr (bound) and a read-only sysfs at /sys, like a system
// container's: it runs each line sent to it and answers with its output
// and exit code.
type sysfsBox struct {
	cmd *exec.Cmd
	in  io.Writer
	out *bufio.Reader
}

const sysfsBoxSetup = `set -e
R="$BOX_ROOT"
mount -t tmpfs box "$R"
mkdir -p "$R/usr" "$R/sys" "$R/x" "$R/old" "$R/tmp" "$R/proc"
mount --rbind /usr "$R/usr"
mount --rbind /proc "$R/proc"
for l in bin sbin lib lib64; do [ -e /usr/$l ] && ln -s usr/$l "$R/$l"; done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
cd "$R"
pivot_root . old
umount -l /old
set +e
echo ready
while read -r line; do sh -c "$line" 2>&1; echo "rc=$?"; done
`

func startSysfsBox(t *testing.T) *sysfsBox {
	t.Helper()
	cmd := exec.Command("unshare", "--user", "--map-root-user", "--mount", "--net", "--propagation", "private", "sh", "-c", sysfsBoxSetup)
	cmd.Env = append(os.Environ(), "BOX_ROOT="+t.TempDir())
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	b := &sysfsBox{cmd: cmd, in: in, out: bufio.NewReader(outp)}
	line, err := b.out.ReadString('\n')
	if err != nil || line != "ready\n" {
		rest, _ := io.ReadAll(io.LimitReader(b.out, 4096))
		t.Skipf("cannot build the namespaces: %q %v %s", line, err, rest)
	}
	return b
}

// run runs a shell line in the box and returns its output and exit code.
func (b *sysfsBox) run(t *testing.T, line string) (string, string) {
	t.Helper()
	fmt.Fprintln(b.in, line)
	var out strings.Builder
	for {
		l, err := b.out.ReadString('\n')
		if err != nil {
			t.Fatalf("box ended: %v (%s)", err, out.String())
		}
		if strings.HasPrefix(l, "rc=") {
			return strings.TrimSpace(out.String()), strings.TrimSpace(strings.TrimPrefix(l, "rc="))
		}
		out.WriteString(l)
	}
}

// With a read-only sysfs superblock at /sys, the kernel refuses every
// read-write sysfs in a user namespace's mount namespace; once host root
// (the agent's thread in that mount namespace, chrooted to its root) has
// made that superblock read-write, the mount works and /sys itself stays
// read-only.
func TestSysfsSuperblockWritableLetsAReadWriteSysfsMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: namespaces and mounts")
	}
	b := startSysfsBox(t)
	if out, rc := b.run(t, "mount -t sysfs sysfs /x"); rc == "0" {
		t.Skipf("the kernel mounted a read-write sysfs beside a read-only one: nothing to fix here (%s)", out)
	}
	pid := b.cmd.Process.Pid
	// the box's shell is a child of unshare's exec: same namespaces and root
	root, err := unix.Open(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(root)
	// The box's /sys, looked up below its root from the host, as the agent
	// does on its stage path.
	makeWritable := func() error {
		how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
		sys, err := unix.Openat2(root, "sys", &how)
		if err != nil {
			return err
		}
		defer unix.Close(sys)
		return sysfsSuperblockWritable(sys)
	}
	err = makeWritable()
	if err != nil {
		t.Fatal(err)
	}
	if out, rc := b.run(t, "mount -t sysfs sysfs /x && grep ' /x ' /proc/self/mountinfo || cat /proc/self/mountinfo"); rc != "0" {
		t.Fatalf("read-write sysfs after the superblock was made writable: rc %s: %s", rc, out)
	}
	out, _ := b.run(t, "grep ' /sys ' /proc/self/mountinfo | cut -d' ' -f6")
	if !strings.HasPrefix(out, "ro,") {
		t.Errorf("/sys mount flags %q, want it read-only still", out)
	}
	// a second call (the next rw mount) changes nothing and succeeds
	err = makeWritable()
	if err != nil {
		t.Errorf("second call: %v", err)
	}
	if out, _ := b.run(t, "grep ' /sys ' /proc/self/mountinfo | cut -d' ' -f6; echo x > /sys/kernel/uevent_helper"); !strings.HasPrefix(out, "ro,") || !strings.Contains(out, "Read-only file system") {
		t.Errorf("/sys after two calls: %q, want a read-only mount", out)
	}
}
