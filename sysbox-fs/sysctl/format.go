package sysctl

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Format checks a value written to a knob the way the kernel's handler
// does and returns the text the knob then reads back (without its
// trailing newline). old is the knob's current value (without newline):
// the kernel updates only the fields a write gives, so "3" written to
// kernel.printk changes its first field alone.
//
// A value the kernel would refuse fails with an error wrapping EINVAL.
type Format interface {
	Canon(old, written string) (string, error)
}

// IntVec is an int knob with Fields values (proc_dointvec and
// proc_dointvec_minmax), each within [Min, Max]. The kernel reads the
// fields separated by tabs.
type IntVec struct {
	Fields   int
	Min, Max int64
}

// Int is a single int in [min, max].
func Int(min, max int64) IntVec { return IntVec{Fields: 1, Min: min, Max: max} }

// AnyInt is a single int with only the type's bounds (proc_dointvec).
var AnyInt = Int(math.MinInt32, math.MaxInt32)

// Canon implements Format.
func (f IntVec) Canon(old, written string) (string, error) {
	vals, err := parseInts(written, f.Fields, true)
	if err != nil {
		return "", err
	}
	cur := strings.Fields(old)
	out := make([]string, f.Fields)
	for i := range out {
		switch {
		case i < len(vals):
			v := vals[i]
			if v < math.MinInt32 || v > math.MaxInt32 || v < f.Min || v > f.Max {
				return "", fmt.Errorf("%d out of range [%d, %d]: %w", v, f.Min, f.Max, syscall.EINVAL)
			}
			out[i] = strconv.FormatInt(v, 10)
		case i < len(cur):
			out[i] = cur[i]
		default:
			out[i] = "0"
		}
	}
	return strings.Join(out, "\t"), nil
}

// Ulong is an unsigned long knob in [Min, Max] (proc_doulongvec_minmax).
type Ulong struct {
	Min, Max uint64
}

// Canon implements Format.
func (f Ulong) Canon(_, written string) (string, error) {
	vals, err := parseInts(written, 1, false)
	if err != nil {
		return "", err
	}
	v := uint64(vals[0])
	if v < f.Min || v > f.Max {
		return "", fmt.Errorf("%d out of range [%d, %d]: %w", v, f.Min, f.Max, syscall.EINVAL)
	}
	return strconv.FormatUint(v, 10), nil
}

// Name is a short identifier (net.core.default_qdisc): letters, digits,
// '_' and '-', at most Max bytes. The kernel also checks that a qdisc of
// that name exists; from outside the kernel only the shape can be checked.
type Name struct{ Max int }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Canon implements Format.
func (f Name) Canon(_, written string) (string, error) {
	v := strings.TrimSpace(written)
	if v == "" || len(v) > f.Max || !nameRE.MatchString(v) {
		return "", fmt.Errorf("name %q: %w", v, syscall.EINVAL)
	}
	return v, nil
}

// parseInts reads up to n integers separated by white space, in the
// kernel's syntax (optional sign, then decimal, 0x hex or 0 octal).
// Nothing but white space may follow a number; extra numbers beyond n are
// ignored, as the kernel does for a vector. No number at all is EINVAL.
// With signed, a value must fit a long; otherwise an unsigned long (and
// no minus sign).
func parseInts(s string, n int, signed bool) ([]int64, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, fmt.Errorf("no value: %w", syscall.EINVAL)
	}
	if len(fields) > n {
		fields = fields[:n]
	}
	vals := make([]int64, 0, len(fields))
	for _, f := range fields {
		v, err := parseInt(f, signed)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	return vals, nil
}

func parseInt(f string, signed bool) (int64, error) {
	neg := false
	if strings.HasPrefix(f, "-") {
		if !signed {
			return 0, fmt.Errorf("%q: negative: %w", f, syscall.EINVAL)
		}
		neg, f = true, f[1:]
	}
	base := 10
	switch {
	case len(f) > 2 && (f[:2] == "0x" || f[:2] == "0X"):
		base, f = 16, f[2:]
	case len(f) > 1 && f[0] == '0':
		base, f = 8, f[1:]
	}
	u, err := strconv.ParseUint(f, base, 64)
	if err != nil || f == "" || strings.ContainsAny(f, "+_") {
		return 0, fmt.Errorf("%q: not a number: %w", f, syscall.EINVAL)
	}
	if !signed {
		return int64(u), nil // callers read it back as uint64
	}
	if neg {
		if u > 1<<63 {
			return 0, fmt.Errorf("-%s: %w", f, syscall.EINVAL)
		}
		return -int64(u), nil
	}
	if u > math.MaxInt64 {
		return 0, fmt.Errorf("%s: %w", f, syscall.EINVAL)
	}
	return int64(u), nil
}
