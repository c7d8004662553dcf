package syscont

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// MinOOMScoreAdj is the lowest oom_score_adj a system container gets: the kernel refuses
// -1000 (OOM-unkillable) from inside a user namespace.
const MinOOMScoreAdj = -999

// stepOOMScoreAdj raises process.oomScoreAdj to at least MinOOMScoreAdj and never lower than
// the runtime's own value: libcontainer writes it from the container's init, which
// inherits the runtime's value, and lowering it needs CAP_SYS_RESOURCE, which host root
// lacks on some hosts (the write then fails with EACCES and the container does not start).
// It warns when it changes the value. An unset value stays unset (libcontainer leaves
// oom_score_adj alone then).
func stepOOMScoreAdj(s *specs.Spec, _ Options, in Inputs) error {
	p := s.Process
	if p.OOMScoreAdj == nil {
		return nil
	}
	want := *p.OOMScoreAdj
	v := max(want, MinOOMScoreAdj, in.CallerOOMScoreAdj)
	if v != want {
		in.warn("oom_score_adj %d raised to %d (the lowest a system container can get here: at least %d and not below the runtime's own %d)",
			want, v, MinOOMScoreAdj, in.CallerOOMScoreAdj)
		p.OOMScoreAdj = &v
	}
	return nil
}
