package seccomp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A procfs always shows the pid namespace it was made for. Kernels from 6.17 on take that
// namespace as an fsconfig option ("pidns", an fd), so the agent builds the caller's procfs
// itself. Older kernels (Debian 12's 6.1 among them) give a new procfs the pid namespace
// of the process that creates it, and a thread cannot change its own (setns(CLONE_NEWPID)
// only changes the namespace of its future children). There the agent starts a short-lived
// helper, itself re-executed with ProcfsHelperArg, as a child in the caller's pid
// namespace; the helper builds the detached procfs with fsopen/fsconfig/fsmount and hands
// the mount fd back over a socket. The helper stays in the host's mount, user and other
// namespaces with the agent's credentials; inside the container it is visible for its
// lifetime as a process that root there cannot signal, trace or inspect (it belongs to the
// host's user namespace).

// ProcfsHelperArg, as a binary's first argument, makes it the procfs helper (see
// RunProcfsHelperIfAsked). The agent re-executes its own binary (/proc/self/exe) with it,
// so every binary that runs an Agent must call RunProcfsHelperIfAsked first thing in main.
const ProcfsHelperArg = "__sysbox-fs-procfs-helper"

// procfsHelperTimeout bounds a helper's run (start, fsmount, reply).
const procfsHelperTimeout = 5 * time.Second

// RunProcfsHelperIfAsked runs the procfs helper and exits when args (os.Args) ask for
// it; otherwise it returns at once.
func RunProcfsHelperIfAsked(args []string) {
	if len(args) < 2 || args[1] != ProcfsHelperArg {
		return
	}
	if err := procfsHelper(os.NewFile(3, "reply"), args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// procfsHelperArgs encodes what the helper needs of pm: source, mount attributes, then
// each option as "s:key=value" or "f:key".
func procfsHelperArgs(pm newMount) []string {
	args := []string{pm.Source, strconv.FormatUint(pm.Attrs, 10)}
	for _, o := range pm.Options {
		if o.Flag {
			args = append(args, "f:"+o.Key)
		} else {
			args = append(args, "s:"+o.Key+"="+o.Value)
		}
	}
	return args
}

// parseProcfsHelperArgs is procfsHelperArgs' inverse.
func parseProcfsHelperArgs(args []string) (newMount, error) {
	if len(args) < 2 {
		return newMount{}, fmt.Errorf("procfs helper: want SOURCE ATTRS [OPTION...], got %q", args)
	}
	attrs, err := strconv.ParseUint(args[1], 10, 64)
	if err != nil {
		return newMount{}, fmt.Errorf("procfs helper: attrs %q: %w", args[1], err)
	}
	pm := newMount{FSType: "proc", Source: args[0], Attrs: attrs}
	for _, a := range args[2:] {
		switch {
		case strings.HasPrefix(a, "f:"):
			pm.Options = append(pm.Options, fsOption{Key: a[2:], Flag: true})
		case strings.HasPrefix(a, "s:"):
			k, v, _ := strings.Cut(a[2:], "=")
			pm.Options = append(pm.Options, fsOption{Key: k, Value: v})
		default:
			return newMount{}, fmt.Errorf("procfs helper: option %q: want f:KEY or s:KEY=VALUE", a)
		}
	}
	return pm, nil
}

// procfsHelper builds the procfs args describe in its own pid namespace and sends the
// detached mount over reply. Each reply is a 4-byte errno (native endian): 0 with the
// mount's fd attached, or the kernel's error, which the agent answers the caller with as
// mount(2) would have.
func procfsHelper(reply *os.File, args []string) error {
	pm, err := parseProcfsHelperArgs(args)
	mnt := -1
	if err == nil {
		mnt, err = makeFS(pm, -1, -1)
	}
	if err != nil {
		errno := unix.EINVAL
		errors.As(err, &errno)
		_ = unix.Sendmsg(int(reply.Fd()), errnoBytes(errno), nil, nil, 0)
		return err
	}
	defer unix.Close(mnt)
	if err := unix.Sendmsg(int(reply.Fd()), errnoBytes(0), unix.UnixRights(mnt), nil, 0); err != nil {
		return fmt.Errorf("procfs helper: send the mount: %w", err)
	}
	return nil
}

func errnoBytes(e unix.Errno) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, uint32(e))
	return b
}

// makeFS makes a detached pm.FSType mount with pm's source, options and attributes. A
// procfs is for the pid namespace pidns (an fd; -1: the caller's own).
//
// A read-write sysfs refused with EPERM is tried again once the superblock
// of the caller's /sys (sys: an O_PATH fd of it, -1 for none) is made
// read-write (see sysfsSuperblockWritable).
func makeFS(pm newMount, pidns, sys int) (int, error) {
	fs, err := unix.Fsopen(pm.FSType, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", pm.FSType, err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigSetString(fs, "source", pm.Source); err != nil {
		return -1, fmt.Errorf("fsconfig source: %w", err)
	}
	if pidns >= 0 {
		if err := unix.FsconfigSetFd(fs, "pidns", pidns); err != nil {
			return -1, fmt.Errorf("fsconfig pidns: %w", err)
		}
	}
	for _, o := range pm.Options {
		if o.Flag {
			err = unix.FsconfigSetFlag(fs, o.Key)
		} else {
			err = unix.FsconfigSetString(fs, o.Key, o.Value)
		}
		if err != nil {
			return -1, fmt.Errorf("fsconfig %s: %w", o.Key, err)
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("fsconfig create: %w", err)
	}
	mnt, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, int(pm.Attrs))
	if errors.Is(err, unix.EPERM) && pm.FSType == "sysfs" && pm.Attrs&unix.MOUNT_ATTR_RDONLY == 0 && sys >= 0 {
		// See sysfsSuperblockWritable: then the same context mounts.
		if werr := sysfsSuperblockWritable(sys); werr != nil {
			return -1, fmt.Errorf("fsmount: %w (%w)", err, werr)
		}
		mnt, err = unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, int(pm.Attrs))
	}
	if err != nil {
		return -1, fmt.Errorf("fsmount: %w", err)
	}
	return mnt, nil
}

// procfsPidnsOption tells once whether the kernel takes procfs's "pidns" option.
type procfsPidnsOption struct {
	once sync.Once
	ok   bool
}

func (p *procfsPidnsOption) supported() bool {
	p.once.Do(func() {
		fs, err := unix.Fsopen("proc", unix.FSOPEN_CLOEXEC)
		if err != nil {
			return
		}
		defer unix.Close(fs)
		ns, err := unix.Open("/proc/self/ns/pid", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		defer unix.Close(ns)
		p.ok = unix.FsconfigSetFd(fs, "pidns", ns) == nil
	})
	return p.ok
}

// procfsViaHelper makes a detached procfs of pm for pid namespace pidns (an fd) by
// running the helper as a child in that namespace. The caller closes the fd.
func procfsViaHelper(pidns int, pm newMount) (int, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("procfs helper: socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(pair[0]), "procfs-helper"), os.NewFile(uintptr(pair[1]), "reply")
	defer ours.Close()
	var stderr bytes.Buffer
	cmd := exec.Command("/proc/self/exe", append([]string{ProcfsHelperArg}, procfsHelperArgs(pm)...)...)
	cmd.Args[0] = "sysbox-fs-procfs-helper"
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = &stderr
	err = startInPidNS(cmd, pidns)
	theirs.Close()
	if err != nil {
		return -1, fmt.Errorf("procfs helper: %w", err)
	}
	mnt, rerr := receiveFd(ours, procfsHelperTimeout)
	if rerr != nil {
		_ = cmd.Process.Kill()
	}
	werr := cmd.Wait()
	var errno unix.Errno
	switch {
	case rerr == nil:
		return mnt, nil
	case errors.As(rerr, &errno):
		return -1, fmt.Errorf("procfs helper: %w", rerr) // the kernel's answer, for the caller
	case strings.TrimSpace(stderr.String()) != "":
		return -1, fmt.Errorf("procfs helper: %s (%w)", strings.TrimSpace(stderr.String()), rerr)
	}
	return -1, fmt.Errorf("procfs helper: %w (exit: %v)", rerr, werr)
}

// startInPidNS starts cmd as a child in pid namespace pidns: from a throwaway thread that
// joined the namespace for its children (Go forks from the calling thread).
func startInPidNS(cmd *exec.Cmd, pidns int) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := unix.Setns(pidns, unix.CLONE_NEWPID); err != nil {
			done <- fmt.Errorf("setns pid namespace: %w", err)
			return
		}
		done <- cmd.Start()
	}()
	return <-done
}

// receiveFd receives the helper's reply on f within timeout: the fd sent with SCM_RIGHTS,
// or the errno the helper met.
func receiveFd(f *os.File, timeout time.Duration) (int, error) {
	conn, err := net.FileConn(f)
	if err != nil {
		return -1, err
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return -1, errors.New("not a unix socket")
	}
	if err := uc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return -1, err
	}
	buf, oob := make([]byte, 4), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		return -1, fmt.Errorf("receive the mount: %w", err)
	}
	if n != 4 {
		return -1, fmt.Errorf("receive the mount: a reply of %d bytes", n)
	}
	if errno := unix.Errno(binary.NativeEndian.Uint32(buf)); errno != 0 {
		return -1, fmt.Errorf("make the procfs: %w", errno)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("receive the mount: no fd in the reply (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("receive the mount: want one fd (%v)", err)
	}
	unix.CloseOnExec(fds[0])
	return fds[0], nil
}
