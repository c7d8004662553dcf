// Package sysctl is the logic of a system container's /proc/sys: which
// knobs sysbox-fs keeps per container (the kernel's global ones that a
// user-namespaced root cannot write), how their writes are checked, which
// limits a container may raise on the host, and the pass-through of every
// other file to the kernel, opened in the container's network, UTS and IPC
// namespaces (Namespaces).
//
// Knobs lists the emulated knobs, one small entry each. A knob is served
// only where the host's kernel has it.
package sysctl

import (
	"math"
	"strings"
)

// Policy says what a write to an emulated knob does.
type Policy int

const (
	// Emulate keeps the value per container; the host never sees it.
	Emulate Policy = iota
	// RaiseOnly keeps the value per container and raises the host's value
	// to it when it is higher; the host's value is never lowered.
	RaiseOnly
)

// Knob is one emulated file under /proc/sys.
type Knob struct {
	// Path below /proc/sys: "kernel/panic".
	Path string
	// Host is the host file whose value the knob starts from (and which a
	// RaiseOnly knob raises), below /proc/sys; Path when empty.
	Host string
	// Initial, when set, is the knob's starting value instead of the
	// host's (what a new namespace starts with).
	Initial string
	Policy  Policy
	Format  Format
	// Mode is the file's permission bits; 0644 when zero.
	Mode uint32
}

// HostPath is the host file the knob follows, below /proc/sys.
func (k Knob) HostPath() string {
	if k.Host != "" {
		return k.Host
	}
	return k.Path
}

// FileMode is the knob's permission bits.
func (k Knob) FileMode() uint32 {
	if k.Mode != 0 {
		return k.Mode
	}
	return 0o644
}

const (
	intMax = math.MaxInt32
	// pidMaxLimit is PID_MAX_LIMIT on 64-bit kernels; pidMaxMin is
	// RESERVED_PIDS + 1.
	pidMaxLimit = 4 * 1024 * 1024
	pidMaxMin   = 301
	// nrOpenMax is the kernel's sysctl_nr_open_max on 64-bit:
	// INT_MAX rounded down to a multiple of BITS_PER_LONG.
	nrOpenMax = intMax &^ 63
	nrOpenMin = 64
)

// Knobs is the table of emulated knobs.
func Knobs() []Knob {
	ks := []Knob{
		// kernel: global knobs that init scripts, systemd and Kubernetes write.
		{Path: "kernel/panic", Format: AnyInt},
		{Path: "kernel/panic_on_oops", Format: AnyInt},
		{Path: "kernel/printk", Format: IntVec{Fields: 4, Min: math.MinInt32, Max: intMax}},
		{Path: "kernel/sysrq", Format: AnyInt},
		{Path: "kernel/kptr_restrict", Format: Int(0, 2)},
		{Path: "kernel/dmesg_restrict", Format: Int(0, 1)},
		// pid_max belongs to the pid namespace since 6.14, which a thread
		// of the daemon cannot join: kept per container.
		{Path: "kernel/pid_max", Format: Int(pidMaxMin, pidMaxLimit)},
		{Path: "kernel/yama/ptrace_scope", Format: Int(0, 3)},
		{Path: "kernel/keys/gc_delay", Format: Int(0, intMax)},
		{Path: "kernel/keys/maxbytes", Format: Int(1, intMax)},
		{Path: "kernel/keys/maxkeys", Format: Int(1, intMax)},
		{Path: "kernel/keys/root_maxbytes", Format: Int(1, intMax)},
		{Path: "kernel/keys/root_maxkeys", Format: Int(1, intMax)},
		{Path: "kernel/keys/persistent_keyring_expiry", Format: Int(0, intMax)},
		// vm
		{Path: "vm/overcommit_memory", Format: Int(0, 2)},
		{Path: "vm/max_map_count", Format: Int(0, intMax)},
		{Path: "vm/mmap_min_addr", Format: Ulong{Max: math.MaxUint64}},
		// fs
		{Path: "fs/protected_hardlinks", Format: Int(0, 1)},
		{Path: "fs/protected_symlinks", Format: Int(0, 1)},
		{Path: "fs/protected_fifos", Format: Int(0, 2)},
		{Path: "fs/protected_regular", Format: Int(0, 2)},
		{Path: "fs/inotify/max_queued_events", Format: Int(0, intMax)},
		{Path: "fs/inotify/max_user_instances", Format: Int(0, intMax)},
		{Path: "fs/inotify/max_user_watches", Format: Int(0, intMax)},
		{Path: "fs/file-max", Policy: RaiseOnly, Format: Ulong{Max: math.MaxInt64}},
		{Path: "fs/nr_open", Policy: RaiseOnly, Format: Int(nrOpenMin, nrOpenMax)},
		// net: knobs the kernel shows only in the initial network namespace.
		{Path: "net/core/default_qdisc", Format: Name{Max: 15}},
		{Path: "net/nf_conntrack_max", Host: "net/netfilter/nf_conntrack_max", Policy: RaiseOnly, Format: Int(0, intMax)},
		// read-only (0444) in a network namespace other than the initial one
		{Path: "net/netfilter/nf_conntrack_max", Policy: RaiseOnly, Format: Int(0, intMax)},
	}
	for _, ip := range []string{"ipv4", "ipv6"} {
		for _, n := range []string{"1", "2", "3"} {
			ks = append(ks, Knob{Path: "net/" + ip + "/neigh/default/gc_thresh" + n, Format: Int(0, intMax)})
		}
	}
	// user.*: limits of the reader's user namespace, which no thread of a
	// multi-threaded daemon can join: kept per container, starting from
	// what a new user namespace has (INT_MAX). The kernel does not enforce
	// a container's writes to them.
	for _, n := range []string{"cgroup", "fanotify_groups", "fanotify_marks", "inotify_instances", "inotify_watches",
		"ipc", "mnt", "net", "pid", "time", "user", "uts"} {
		name := "user/max_" + n
		if !strings.HasPrefix(n, "fanotify") && !strings.HasPrefix(n, "inotify") {
			name += "_namespaces"
		}
		ks = append(ks, Knob{Path: name, Initial: "2147483647", Format: Int(0, intMax)})
	}
	return ks
}
