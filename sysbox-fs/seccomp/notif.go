package seccomp

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's seccomp user-notification structures (linux/seccomp.h).
// golang.org/x/sys has the ioctl numbers but not these types.

// seccompData is struct seccomp_data.
type seccompData struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

// notif is struct seccomp_notif: one trapped syscall.
type notif struct {
	ID    uint64
	Pid   uint32 // the calling thread, in the agent's pid namespace
	Flags uint32
	Data  seccompData
}

// notifResp is struct seccomp_notif_resp.
type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// The ioctl numbers encode the structure sizes: a mismatch would be a bug
// here, caught at compile time.
var (
	_ [unix.SECCOMP_IOCTL_NOTIF_RECV>>16&0x3fff - unsafe.Sizeof(notif{})]struct{}
	_ [unsafe.Sizeof(notif{}) - unix.SECCOMP_IOCTL_NOTIF_RECV>>16&0x3fff]struct{}
	_ [unix.SECCOMP_IOCTL_NOTIF_SEND>>16&0x3fff - unsafe.Sizeof(notifResp{})]struct{}
	_ [unsafe.Sizeof(notifResp{}) - unix.SECCOMP_IOCTL_NOTIF_SEND>>16&0x3fff]struct{}
)

func ioctlPtr(fd uintptr, req uint, p unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), uintptr(p))
	if e != 0 {
		return e
	}
	return nil
}

// recvNotif is SECCOMP_IOCTL_NOTIF_RECV. It blocks when no notification is
// pending: call it once the fd polls readable.
func recvNotif(fd uintptr, n *notif) error {
	*n = notif{} // the kernel requires a zeroed buffer
	return ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(n))
}

// sendResp is SECCOMP_IOCTL_NOTIF_SEND. ENOENT: the caller is gone (killed,
// or interrupted by a signal and restarting the call).
func sendResp(fd uintptr, r *notifResp) error {
	return ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(r))
}

// idValid is SECCOMP_IOCTL_NOTIF_ID_VALID: whether notification id is still
// waiting for its answer (its caller alive and in the syscall).
func idValid(fd uintptr, id uint64) bool {
	return ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}

// nativeArch is the AUDIT_ARCH_* value of the agent's own architecture,
// whose struct layouts (struct sysinfo) the agent writes; 0 when unknown.
// Calls made through another ABI (i386 programs on x86-64) are left to the
// kernel.
func nativeArch() uint32 {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	case "ppc64le":
		return unix.AUDIT_ARCH_PPC64LE
	case "s390x":
		return unix.AUDIT_ARCH_S390X
	case "riscv64":
		return unix.AUDIT_ARCH_RISCV64
	}
	return 0
}
