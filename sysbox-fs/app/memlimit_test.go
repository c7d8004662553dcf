package app

import "testing"

func TestMemoryLimitGrowsWithTheContainers(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want int64
	}{
		{0, 10 << 20},
		{10, 10<<20 + 10*192<<10},
		{100, 10<<20 + 100*192<<10},
	} {
		if got := defaultMemoryLimit.forContainers(tc.n); got != tc.want {
			t.Errorf("%d containers: limit %d, want %d", tc.n, got, tc.want)
		}
	}
}

func TestMemoryLimitFlag(t *testing.T) {
	if m, err := parseMemoryLimitMB(0); m != nil || err != nil {
		t.Errorf("0: %v, %v; want no limit", m, err)
	}
	if _, err := parseMemoryLimitMB(-1); err == nil {
		t.Error("-1 accepted")
	}
	m, err := parseMemoryLimitMB(16)
	if err != nil || m.forContainers(1) != 16<<20+192<<10 {
		t.Errorf("16: %+v, %v", m, err)
	}
}
