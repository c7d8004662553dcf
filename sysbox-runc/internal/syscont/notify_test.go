package syscont

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestStepSeccompNotifyOnDockerDefaultProfile(t *testing.T) {
	s := loadSpec(t, "testdata/docker-default.json")
	orig := cloneSpec(t, s)
	if err := stepSeccompNotify(s, Options{}, Inputs{}); err != nil {
		t.Fatal(err)
	}
	sc := s.Linux.Seccomp
	if sc.ListenerPath != SeccompAgentSocket {
		t.Errorf("listenerPath %q, want %q", sc.ListenerPath, SeccompAgentSocket)
	}
	var notify []specs.LinuxSyscall
	for _, r := range sc.Syscalls {
		if r.Action == specs.ActNotify {
			notify = append(notify, r)
		} else {
			for _, n := range TrappedSyscalls() {
				if slices.Contains(r.Names, n) {
					t.Errorf("%s still in a %s rule", n, r.Action)
				}
			}
		}
	}
	if len(notify) != 1 || !slices.Equal(notify[0].Names, TrappedSyscalls()) || len(notify[0].Args) != 0 {
		t.Fatalf("notify rules %+v, want one for %v", notify, TrappedSyscalls())
	}
	// Every other syscall keeps exactly the rules it had.
	others := func(n string) bool { return !slices.Contains(TrappedSyscalls(), n) }
	before, after := ruleSet(t, orig.Linux.Seccomp.Syscalls, others), ruleSet(t, sc.Syscalls, others)
	if !slices.Equal(before, after) {
		t.Errorf("rules of other syscalls changed:\nbefore %d rules, after %d", len(before), len(after))
	}
	if sc.DefaultAction != orig.Linux.Seccomp.DefaultAction || !slices.Equal(sc.Architectures, orig.Linux.Seccomp.Architectures) ||
		!slices.Equal(sc.Flags, orig.Linux.Seccomp.Flags) {
		t.Error("default action, architectures or flags changed")
	}
}

func TestStepSeccompNotify(t *testing.T) {
	allow := func(names ...string) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: names, Action: specs.ActAllow}
	}
	notify := func(names ...string) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: names, Action: specs.ActNotify}
	}
	// The mount traps are SystemSyscalls: trapped whatever the profile says.
	notifyAll := notify("sysinfo", "mount", "umount2", "fsopen", "move_mount")
	notifyMounts := notify("mount", "umount2", "fsopen", "move_mount")
	errno := uint(1)
	tests := []struct {
		name string
		in   *specs.LinuxSeccomp
		want *specs.LinuxSeccomp
		warn string
	}{
		{
			name: "no profile: one that allows everything but traps the trapped syscalls",
			in:   nil,
			want: &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: nativeSeccompArchs(),
				ListenerPath: SeccompAgentSocket, Syscalls: []specs.LinuxSyscall{notifyAll}},
		},
		{
			name: "allowed among others: moved to its own notify rule",
			in:   &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{allow("read", "sysinfo", "mount", "write")}},
			want: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: SeccompAgentSocket,
				Syscalls: []specs.LinuxSyscall{allow("read", "write"), notifyAll}},
		},
		{
			name: "allowed alone in a LOG rule: the rule goes",
			in: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"sysinfo"}, Action: specs.ActLog}, allow("read")}},
			want: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: SeccompAgentSocket,
				Syscalls: []specs.LinuxSyscall{allow("read"), notifyAll}},
		},
		{
			name: "allowed by the default action",
			in:   &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"kexec_load"}, Action: specs.ActErrno}}},
			want: &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: SeccompAgentSocket, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"kexec_load"}, Action: specs.ActErrno}, notifyAll}},
		},
		{
			name: "sysinfo denied by a rule: the profile decides for it",
			in: &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"sysinfo"}, Action: specs.ActErrno, ErrnoRet: &errno}}},
			want: &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: SeccompAgentSocket, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"sysinfo"}, Action: specs.ActErrno, ErrnoRet: &errno}, notifyMounts}},
		},
		{
			name: "denied by the default action: sysinfo stays denied, the mount calls are trapped",
			in:   &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{allow("read")}},
			want: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: SeccompAgentSocket,
				Syscalls: []specs.LinuxSyscall{allow("read"), notifyMounts}},
		},
		{
			name: "mount calls denied or conditional (Docker without CAP_SYS_ADMIN): trapped, out of those rules",
			in: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
				allow("read", "sysinfo"),
				{Names: []string{"mount", "umount2", "kexec_load"}, Action: specs.ActErrno, ErrnoRet: &errno},
				{Names: []string{"fsopen"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0, Op: specs.OpEqualTo}}}}},
			want: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: SeccompAgentSocket, Syscalls: []specs.LinuxSyscall{
				allow("read"),
				{Names: []string{"kexec_load"}, Action: specs.ActErrno, ErrnoRet: &errno},
				notifyAll}},
		},
		{
			name: "sysinfo allowed for some arguments only: the profile decides for it",
			in: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"sysinfo"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpNotEqual}}}}},
			want: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: SeccompAgentSocket, Syscalls: []specs.LinuxSyscall{{Names: []string{"sysinfo"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpNotEqual}}}, notifyMounts}},
		},
		{
			name: "already trapped: unchanged",
			in: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: SeccompAgentSocket,
				Syscalls: []specs.LinuxSyscall{allow("read"), notifyAll}},
			want: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: SeccompAgentSocket,
				Syscalls: []specs.LinuxSyscall{allow("read"), notifyAll}},
		},
		{
			name: "only sysinfo trapped (a spec made before the mount traps): the mount calls added",
			in: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: SeccompAgentSocket,
				Syscalls: []specs.LinuxSyscall{allow("read"), notify("sysinfo")}},
			want: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: SeccompAgentSocket,
				Syscalls: []specs.LinuxSyscall{allow("read"), notify("sysinfo"), notifyMounts}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := minimalSpec()
			s.Linux.Seccomp = tc.in
			var warns []string
			if err := stepSeccompNotify(s, Options{}, Inputs{Warn: func(m string) { warns = append(warns, m) }}); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Linux.Seccomp, tc.want) {
				t.Errorf("got  %+v\nwant %+v", s.Linux.Seccomp, tc.want)
			}
			if tc.warn == "" && len(warns) > 0 || tc.warn != "" && (len(warns) != 1 || !strings.Contains(warns[0], tc.warn)) {
				t.Errorf("warnings %q, want one naming %q", warns, tc.warn)
			}
		})
	}
}

// TestProfileAddedForPrivilegedAllowsTheSystemSyscalls checks the profile made for a
// profile-less spec after the whole pipeline: sysinfo trapped, the architectures listed,
// and nothing denied.
func TestProfileAddedForPrivilegedAllowsTheSystemSyscalls(t *testing.T) {
	s := loadSpec(t, "testdata/docker-privileged.json")
	o, err := Validate(s, Options{SysContMode: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := Transform(s, o, testInputs(nil)); err != nil {
		t.Fatal(err)
	}
	sc := s.Linux.Seccomp
	if sc == nil || sc.DefaultAction != specs.ActAllow || len(sc.Architectures) == 0 {
		t.Fatalf("profile %+v, want default ALLOW with architectures", sc)
	}
	for _, r := range sc.Syscalls {
		if r.Action != specs.ActAllow && r.Action != specs.ActNotify {
			t.Errorf("rule %+v denies", r)
		}
		if r.Action == specs.ActNotify && !slices.Equal(r.Names, TrappedSyscalls()) {
			t.Errorf("notify rule %v, want %v", r.Names, TrappedSyscalls())
		}
	}
}

// TestSeccompListenerOfTheEngineIsRefused: a profile naming an agent of its own
// (linux.seccomp.listenerPath) is refused by Validate, with an error naming the field,
// instead of losing sysbox-fs's traps (or the engine's agent) without a word.
func TestSeccompListenerOfTheEngineIsRefused(t *testing.T) {
	tests := []struct {
		name     string
		listener string
		refused  bool
	}{
		{"another agent", "/run/other.sock", true},
		{"sysbox-fs's own (a spec transformed before)", SeccompAgentSocket, false},
		{"none", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := minimalSpec()
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: tc.listener}
			_, err := Validate(s, Options{SysContMode: true})
			if !tc.refused {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "linux.seccomp.listenerPath") ||
				!strings.Contains(err.Error(), tc.listener) {
				t.Fatalf("Validate: err = %v, want ErrNotSupported naming linux.seccomp.listenerPath and %s", err, tc.listener)
			}
			if err := stepSeccompNotify(s, Options{}, Inputs{}); !errors.Is(err, ErrNotSupported) {
				t.Fatalf("stepSeccompNotify: err = %v, want ErrNotSupported", err)
			}
		})
	}
}
