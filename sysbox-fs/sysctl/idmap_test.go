package sysctl

import (
	"errors"
	"syscall"
	"testing"
)

var containerGids = idMap{{in: 0, out: 165536, n: 65536}}

// The kernel reads ping_group_range's gids in the writer's user namespace:
// host root accepted "0 2147483648" and gids the container does not map.
func TestPingGroupRangeWritesAreCheckedAndMappedAsTheKernelDoes(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"0 2147483647", "", syscall.EINVAL}, // 2147483647 is not mapped
		{"0 2147483648", "", syscall.EINVAL}, // past INT_MAX
		{"0 65535", "165536 231071\n", nil},
		{"1\t0\n", "165537 165536\n", nil}, // the kernel's "off" value
		{"100 200", "165636 165736\n", nil},
		{"-1 5", "", syscall.EINVAL},
		{"0 65536", "", syscall.EINVAL},
		{"5", "", syscall.EINVAL},
		{"1 2 3", "", syscall.EINVAL},
		{"a b", "", syscall.EINVAL},
	} {
		got, err := gidRangeToHost(tc.in, containerGids)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("gidRangeToHost(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestPingGroupRangeReadsShowTheNamespacesGids(t *testing.T) {
	for _, tc := range []struct{ host, want string }{
		{"1\t0\n", "65534\t65534\n"}, // host gids 1 and 0: unmapped, as the kernel shows them
		{"165536\t231071\n", "0\t65535\n"},
		{"165636 165736", "100\t200\n"},
	} {
		got, err := gidRangeFromHost(tc.host, containerGids)
		if err != nil || got != tc.want {
			t.Errorf("gidRangeFromHost(%q) = %q, %v; want %q", tc.host, got, err, tc.want)
		}
	}
}

func TestParseIDMap(t *testing.T) {
	m, err := parseIDMap("         0     165536      65536\n     65536    1000000 10\n")
	if err != nil || len(m) != 2 || m[1] != (idExtent{65536, 1000000, 10}) {
		t.Fatalf("parseIDMap: %+v %v", m, err)
	}
	if h, ok := m.toHost(65540); !ok || h != 1000004 {
		t.Errorf("toHost(65540) = %d %v", h, ok)
	}
	if _, err := parseIDMap("0 1\n"); err == nil {
		t.Error("a two-field line parsed")
	}
}
