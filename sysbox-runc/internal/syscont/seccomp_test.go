package syscont

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ruleSet flattens rules into one line per (name, rule without other names), sorted.
func ruleSet(t *testing.T, rules []specs.LinuxSyscall, keep func(name string) bool) []string {
	t.Helper()
	var out []string
	for _, r := range rules {
		for _, n := range r.Names {
			if !keep(n) {
				continue
			}
			one := r
			one.Names = []string{n}
			b, err := json.Marshal(one)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	sort.Strings(out)
	return out
}

func TestStepSeccompOnDockerDefaultProfile(t *testing.T) {
	s := loadSpec(t, "testdata/docker-default.json")
	orig := cloneSpec(t, s)
	if err := stepSeccomp(s, Options{}, Inputs{}); err != nil {
		t.Fatal(err)
	}
	want := SystemSyscalls()
	for _, name := range want {
		var allow, other int
		for _, r := range s.Linux.Seccomp.Syscalls {
			if !slices.Contains(r.Names, name) {
				continue
			}
			if r.Action == specs.ActAllow && len(r.Args) == 0 {
				allow++
			} else {
				other++
			}
		}
		if allow != 1 || other != 0 {
			t.Errorf("%s: %d unconditional allow rules and %d others, want 1 and 0", name, allow, other)
		}
	}
	// Every other syscall keeps exactly the rules it had (so what was denied stays denied).
	notOurs := func(n string) bool { return !slices.Contains(want, n) }
	before, after := ruleSet(t, orig.Linux.Seccomp.Syscalls, notOurs), ruleSet(t, s.Linux.Seccomp.Syscalls, notOurs)
	if !slices.Equal(before, after) {
		t.Errorf("rules of other syscalls changed: %d before, %d after", len(before), len(after))
	}
	if s.Linux.Seccomp.DefaultAction != orig.Linux.Seccomp.DefaultAction || !slices.Equal(s.Linux.Seccomp.Architectures, orig.Linux.Seccomp.Architectures) {
		t.Error("default action or architectures changed")
	}
}

func TestStepSeccompRules(t *testing.T) {
	errno := uint(1)
	cond := []specs.LinuxSeccompArg{{Index: 0, Value: 0x7E020000, Op: specs.OpMaskedEqual}}
	for _, tc := range []struct {
		name  string
		rules []specs.LinuxSyscall
		want  []specs.LinuxSyscall // the last rule, if added, is checked separately
		added []string
	}{
		{
			name:  "conditional clone and denied clone3 replaced",
			rules: []specs.LinuxSyscall{{Names: []string{"clone"}, Action: specs.ActAllow, Args: cond}, {Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &errno}},
			want:  nil,
			added: SystemSyscalls(),
		},
		{
			name:  "denied name removed from a shared rule, others kept",
			rules: []specs.LinuxSyscall{{Names: []string{"reboot", "mount", "kexec_load"}, Action: specs.ActErrno, ErrnoRet: &errno}},
			want:  []specs.LinuxSyscall{{Names: []string{"reboot", "kexec_load"}, Action: specs.ActErrno, ErrnoRet: &errno}},
			added: SystemSyscalls(),
		},
		{
			name:  "unconditional allow and notify kept, not added again",
			rules: []specs.LinuxSyscall{{Names: []string{"read", "mount"}, Action: specs.ActAllow}, {Names: []string{"umount2"}, Action: specs.ActNotify}},
			want:  []specs.LinuxSyscall{{Names: []string{"read", "mount"}, Action: specs.ActAllow}, {Names: []string{"umount2"}, Action: specs.ActNotify}},
			added: slices.DeleteFunc(SystemSyscalls(), func(n string) bool { return n == "mount" || n == "umount2" }),
		},
		{
			name:  "conditional notify replaced",
			rules: []specs.LinuxSyscall{{Names: []string{"setns"}, Action: specs.ActNotify, Args: cond}},
			added: SystemSyscalls(),
		},
		{
			name:  "kill and trap for a name replaced",
			rules: []specs.LinuxSyscall{{Names: []string{"unshare"}, Action: specs.ActKillProcess}, {Names: []string{"syslog"}, Action: specs.ActTrap}},
			added: SystemSyscalls(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := minimalSpec()
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: tc.rules}
			if err := stepSeccomp(s, Options{}, Inputs{}); err != nil {
				t.Fatal(err)
			}
			got := s.Linux.Seccomp.Syscalls
			if len(got) != len(tc.want)+1 {
				t.Fatalf("rules = %+v, want %d kept + 1 added", got, len(tc.want))
			}
			for i := range tc.want {
				if !slices.Equal(got[i].Names, tc.want[i].Names) || got[i].Action != tc.want[i].Action || len(got[i].Args) != len(tc.want[i].Args) {
					t.Errorf("rule %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			last := got[len(got)-1]
			if last.Action != specs.ActAllow || len(last.Args) != 0 || !slices.Equal(last.Names, tc.added) {
				t.Errorf("added rule = %+v, want unconditional allow of %v", last, tc.added)
			}
		})
	}
}

func TestStepSeccompWithoutProfileAddsNone(t *testing.T) {
	s := minimalSpec()
	if err := stepSeccomp(s, Options{}, Inputs{}); err != nil {
		t.Fatal(err)
	}
	if s.Linux.Seccomp != nil {
		t.Errorf("profile added: %+v", s.Linux.Seccomp)
	}
}

func TestSystemSyscallsReturnsAFreshList(t *testing.T) {
	a := SystemSyscalls()
	a[0] = "changed"
	if SystemSyscalls()[0] != "mount" {
		t.Error("SystemSyscalls shares its backing array")
	}
}
