package syscont

import (
	"fmt"
	"runtime"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
)

// SeccompAgentSocket is the seccomp profile's listenerPath: sysbox-fs's seccomp agent
// (sysbox-fs --seccomp-socket, whose default is this same path). libcontainer connects to it
// and hands over the notify fd of the container's init and of every exec'd process; if
// nothing listens there, the container fails to start ("failed to connect with seccomp
// agent").
const SeccompAgentSocket = ipc.SeccompSocket

// TrappedSyscalls returns the syscalls a system container hands to sysbox-fs's seccomp agent
// (SCMP_ACT_NOTIFY), which answers them with the container's own data:
//   - sysinfo, so that free, uptime and top (busybox) show the container's memory, uptime
//     and load as /proc/meminfo, /proc/uptime and /proc/loadavg do;
//   - mount, so that a procfs mounted inside the container (inner containers,
//     unshare --mount-proc) gets the container's virtual files on top (other mounts
//     continue to the kernel);
//   - umount2 and move_mount, so that the virtual files and /proc cannot be unmounted or
//     moved away to uncover the host's files;
//   - fsopen, so that the new mount API cannot build a raw procfs or sysfs (refused with
//     ENOSYS for those two: tools fall back to mount).
func TrappedSyscalls() []string {
	return []string{"sysinfo", "mount", "umount2", "fsopen", "move_mount"}
}

// stepSeccompNotify hands TrappedSyscalls to sysbox-fs's agent. A spec without a seccomp
// profile (--privileged downgraded, seccomp=unconfined) gets one that allows everything
// else (default action ALLOW, the native architectures), so that the trap is always there.
//
// A spec that names another agent (its own listenerPath) never gets here: checkSeccompListener
// refuses it in Validate.
//
// A syscall is trapped only where the profile allows it unconditionally (an ALLOW or LOG rule
// without arguments, or no rule and an ALLOW or LOG default), or where it is one of
// SystemSyscalls, which the "seccomp" step allows whatever the profile says: its name moves
// from every rule to one NOTIFY rule. A profile that denies another syscall, or allows it
// only for some arguments, keeps its own decision.
//
// Runs before "seccomp", which then adds SystemSyscalls to a profile created here (redundant
// with the ALLOW default; libcontainer skips such rules), so that Transform stays idempotent.
func stepSeccompNotify(s *specs.Spec, _ Options, in Inputs) error {
	sc := s.Linux.Seccomp
	if sc == nil {
		sc = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: nativeSeccompArchs()}
		s.Linux.Seccomp = sc
	}
	if err := checkSeccompListener(s); err != nil {
		return err
	}
	var trap []string
	trapped := false
	for _, name := range TrappedSyscalls() {
		d := seccompDecision(sc, name)
		if d == decisionOther && slices.Contains(SystemSyscalls(), name) {
			d = decisionAllow // allowed by stepSeccomp in any case
		}
		switch d {
		case decisionNotify:
			trapped = true
		case decisionAllow:
			trap = append(trap, name)
		}
	}
	if len(trap) > 0 {
		var rules []specs.LinuxSyscall
		for _, r := range sc.Syscalls {
			r.Names = slices.DeleteFunc(slices.Clone(r.Names), func(n string) bool { return slices.Contains(trap, n) })
			if len(r.Names) > 0 {
				rules = append(rules, r)
			}
		}
		sc.Syscalls = append(rules, specs.LinuxSyscall{Names: trap, Action: specs.ActNotify})
		trapped = true
	}
	if trapped {
		sc.ListenerPath = SeccompAgentSocket
	}
	return nil
}

// checkSeccompListener refuses a seccomp profile that hands syscalls to an agent of the
// engine's own (linux.seccomp.listenerPath). libcontainer gives each process's notify fd to
// a single agent, and a system container's must be sysbox-fs's: its traps on mount, umount2
// and move_mount are what keep the virtual /proc and /sys files from being unmounted to
// uncover the host's, and sysinfo answers with the container's figures. Chaining a second
// agent (sysbox-fs forwarding the syscalls it does not handle) is not implemented.
func checkSeccompListener(s *specs.Spec) error {
	if s.Linux == nil || s.Linux.Seccomp == nil {
		return nil
	}
	if p := s.Linux.Seccomp.ListenerPath; p != "" && p != SeccompAgentSocket {
		return fmt.Errorf("%w: linux.seccomp.listenerPath %q: the seccomp notify fd of a system container "+
			"goes to sysbox-fs's agent (it traps %v to protect and virtualize /proc and /sys), and a second "+
			"agent cannot be chained", ErrNotSupported, p, TrappedSyscalls())
	}
	return nil
}

type seccompVerdict int

const (
	decisionOther  seccompVerdict = iota // denied, or decided by arguments: left alone
	decisionAllow                        // allowed whatever the arguments
	decisionNotify                       // already handed to an agent
)

// seccompDecision tells what profile sc does with syscall name.
func seccompDecision(sc *specs.LinuxSeccomp, name string) seccompVerdict {
	named, allowed := false, false
	for _, r := range sc.Syscalls {
		if !slices.Contains(r.Names, name) {
			continue
		}
		named = true
		switch {
		case len(r.Args) > 0:
			return decisionOther
		case r.Action == specs.ActNotify:
			return decisionNotify
		case r.Action == specs.ActAllow || r.Action == specs.ActLog:
			allowed = true
		default:
			return decisionOther
		}
	}
	if allowed || !named && (sc.DefaultAction == specs.ActAllow || sc.DefaultAction == specs.ActLog) {
		return decisionAllow
	}
	return decisionOther
}

// nativeSeccompArchs lists the architectures a profile made here covers: the runtime's own
// and the compat ABIs the kernel runs on it, as Docker's default profile lists them. A
// filter kills calls from an architecture it does not list, so i386 programs would die.
func nativeSeccompArchs() []specs.Arch {
	switch runtime.GOARCH {
	case "amd64":
		return []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	case "arm64":
		return []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	case "ppc64le":
		return []specs.Arch{specs.ArchPPC64LE}
	case "s390x":
		return []specs.Arch{specs.ArchS390X, specs.ArchS390}
	case "riscv64":
		return []specs.Arch{specs.ArchRISCV64}
	}
	return nil
}
