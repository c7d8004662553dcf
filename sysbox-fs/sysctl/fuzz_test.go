package sysctl

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// fuzzHostValue is an in-range starting value for k's host file.
func fuzzHostValue(t testing.TB, k Knob) string {
	t.Helper()
	var seed string
	switch f := k.Format.(type) {
	case IntVec:
		seed = strconv.FormatInt(max(f.Min, 0), 10)
	case Ulong:
		seed = strconv.FormatUint(f.Min, 10)
	case Name:
		seed = "pfifo_fast"
	default:
		t.Fatalf("knob %s: no starting value for format %T", k.Path, k.Format)
	}
	v, err := k.Format.Canon("", seed)
	if err != nil {
		t.Fatalf("knob %s: starting value %q: %v", k.Path, seed, err)
	}
	return v
}

// checkInRange fails unless the canonical value s of knob k is within its format's range.
func checkInRange(t *testing.T, k Knob, s string) {
	t.Helper()
	switch f := k.Format.(type) {
	case IntVec:
		fields := strings.Split(s, "\t")
		if len(fields) != f.Fields {
			t.Fatalf("%s reads %q: %d fields, want %d", k.Path, s, len(fields), f.Fields)
		}
		for _, fl := range fields {
			v, err := strconv.ParseInt(fl, 10, 64)
			if err != nil || v < f.Min || v > f.Max || v < math.MinInt32 || v > math.MaxInt32 {
				t.Fatalf("%s reads %q: field %q is not a decimal int in [%d, %d]", k.Path, s, fl, f.Min, f.Max)
			}
		}
	case Ulong:
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v < f.Min || v > f.Max {
			t.Fatalf("%s reads %q: not a decimal unsigned long in [%d, %d]", k.Path, s, f.Min, f.Max)
		}
	case Name:
		if s == "" || len(s) > f.Max || !nameRE.MatchString(s) {
			t.Fatalf("%s reads %q: not a name of at most %d bytes", k.Path, s, f.Max)
		}
	}
}

// FuzzKnobWrite writes fuzzed bytes (what a process in the container writes to
// /proc/sys/<knob>) to every emulated knob through Values.Write, over a fake host
// /proc/sys. Properties: no panic; a refused write fails with EINVAL and leaves the value
// as it was; an accepted value reads back in canonical form (decimal, tab-separated
// fields, within the knob's range), and writing that text back is accepted and reads the
// same (round trip).
func FuzzKnobWrite(f *testing.F) {
	for _, s := range []string{
		"1", "-1", " 42\n", "0x10", "010", "08", "4 4 1 7", "4\t4", "2147483648", "-2147483649",
		"18446744073709551615", "18446744073709551616", "9223372036854775808", "-", "0x", "+5",
		"1_000", "fq_codel", "pfifo_fast\n", "a-very-long-qdisc-name", "", "\x00", "3 junk",
	} {
		f.Add(s)
	}
	knobs := Knobs()
	files := make(map[string]string)
	for _, k := range knobs {
		files[k.HostPath()] = fuzzHostValue(f, k) + "\n"
	}
	dir := filepath.Join(f.TempDir(), "sys")
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	host := Host{Dir: dir}
	f.Fuzz(func(t *testing.T, written string) {
		vals := NewValues(NewTable(host, knobs), host)
		for _, k := range knobs {
			before, err := vals.Read(k.Path)
			if err != nil {
				t.Fatalf("read %s: %v", k.Path, err)
			}
			if err := vals.Write(k.Path, []byte(written)); err != nil {
				if !errors.Is(err, syscall.EINVAL) {
					t.Fatalf("write %q to %s: error is not EINVAL: %v", written, k.Path, err)
				}
				after, err := vals.Read(k.Path)
				if err != nil {
					t.Fatalf("read %s: %v", k.Path, err)
				}
				if string(after) != string(before) {
					t.Fatalf("refused write %q to %s changed it from %q to %q", written, k.Path, before, after)
				}
				continue
			}
			got, err := vals.Read(k.Path)
			if err != nil {
				t.Fatalf("read %s: %v", k.Path, err)
			}
			s, ok := strings.CutSuffix(string(got), "\n")
			if !ok || strings.Contains(s, "\n") {
				t.Fatalf("%s reads %q: want one line with its newline", k.Path, got)
			}
			checkInRange(t, k, s)
			if err := vals.Write(k.Path, got); err != nil {
				t.Fatalf("%s: writing back its own value %q (after %q) refused: %v", k.Path, got, written, err)
			}
			again, err := vals.Read(k.Path)
			if err != nil {
				t.Fatalf("read %s: %v", k.Path, err)
			}
			if string(again) != string(got) {
				t.Fatalf("%s: value %q written back reads %q", k.Path, got, again)
			}
		}
	})
}
