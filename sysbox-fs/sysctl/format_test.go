package sysctl

import (
	"errors"
	"math"
	"syscall"
	"testing"
)

func TestFormatsCanonicaliseAndRangeCheckLikeTheKernel(t *testing.T) {
	tests := []struct {
		name    string
		format  Format
		old, in string
		want    string // "" with wantErr
		wantErr bool
	}{
		{"int decimal with newline", AnyInt, "0", "5\n", "5", false},
		{"int negative", AnyInt, "0", "-1\n", "-1", false},
		{"int hex", AnyInt, "0", "0x10", "16", false},
		{"int octal", AnyInt, "0", "010", "8", false},
		{"int surrounding space", AnyInt, "0", "  7 \n", "7", false},
		{"int above INT_MAX", AnyInt, "0", "2147483648", "", true},
		{"int below INT_MIN", AnyInt, "0", "-2147483649", "", true},
		{"int garbage", AnyInt, "0", "5x", "", true},
		{"int plus sign", AnyInt, "0", "+5", "", true},
		{"int empty", AnyInt, "0", "\n", "", true},
		{"int letters", AnyInt, "0", "abc", "", true},
		{"minmax inside", Int(0, 2), "0", "2", "2", false},
		{"minmax above", Int(0, 2), "0", "3", "", true},
		{"minmax below", Int(0, 2), "0", "-1", "", true},
		{"pid_max below minimum", Int(pidMaxMin, pidMaxLimit), "32768", "300", "", true},
		{"pid_max above limit", Int(pidMaxMin, pidMaxLimit), "32768", "4194305", "", true},
		{"vector all fields", IntVec{Fields: 4, Min: math.MinInt32, Max: intMax}, "4\t4\t1\t7", "3 2 1 0", "3\t2\t1\t0", false},
		{"vector first field only keeps the rest", IntVec{Fields: 4, Min: math.MinInt32, Max: intMax}, "4\t4\t1\t7", "3\n", "3\t4\t1\t7", false},
		{"vector extra fields ignored", IntVec{Fields: 2, Min: 0, Max: 9}, "1\t1", "2 3 4", "2\t3", false},
		{"vector one field out of range", IntVec{Fields: 2, Min: 0, Max: 9}, "1\t1", "2 10", "", true},
		{"ulong max", Ulong{Max: math.MaxUint64}, "0", "18446744073709551615", "18446744073709551615", false},
		{"ulong negative", Ulong{Max: math.MaxUint64}, "0", "-1", "", true},
		{"ulong above max", Ulong{Max: math.MaxInt64}, "0", "9223372036854775808", "", true},
		{"name", Name{Max: 15}, "pfifo_fast", "fq_codel\n", "fq_codel", false},
		{"name empty", Name{Max: 15}, "pfifo_fast", "\n", "", true},
		{"name with slash", Name{Max: 15}, "pfifo_fast", "../x", "", true},
		{"name too long", Name{Max: 15}, "pfifo_fast", "abcdefghijklmnop", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.format.Canon(tt.old, tt.in)
			if tt.wantErr {
				if !errors.Is(err, syscall.EINVAL) {
					t.Fatalf("Canon(%q, %q) = %q, %v; want EINVAL", tt.old, tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Canon(%q, %q) = %q, %v; want %q", tt.old, tt.in, got, err, tt.want)
			}
		})
	}
}
