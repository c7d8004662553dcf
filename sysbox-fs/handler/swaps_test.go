package handler

import (
	"strings"
	"testing"
	"time"
)

// swapLine is a /proc/swaps line as the kernel prints it: the name padded
// to 40 columns, tabs between the columns.
func swapLine(name, rest string) string {
	return name + strings.Repeat(" ", 40-len(name)) + rest + "\n"
}

func TestSwapsContent(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	hostFile := hostSwapsNone + swapLine("/swapfile", "file\t\t2097148\t\t0\t\t-2")
	tests := []struct {
		name    string
		host    string
		cgroups CgroupReader
		want    string
	}{
		{
			name:    "v1 swap limit: one line with the container's size and usage",
			host:    hostSwaps,
			cgroups: cgroupV1(t, map[string]map[string]string{"memory": memV1("268435456\n", "268435456", "536870912\n")}),
			want:    hostSwapsNone + swapLine("/dev/vda2", "partition\t262144\t\t1024\t\t-2"),
		},
		{
			name:    "v1 no swap limit: the host's size, the container's usage",
			host:    hostSwaps,
			cgroups: cgroupV1(t, map[string]map[string]string{"memory": memV1(v1Unset, "9223372036854771712", v1Unset)}),
			want:    hostSwapsNone + swapLine("/dev/vda2", "partition\t1000000\t\t1024\t\t-2"),
		},
		{
			name:    "v1 memory-swap equal to memory: header only",
			host:    hostSwaps,
			cgroups: cgroupV1(t, map[string]map[string]string{"memory": memV1("268435456\n", "268435456", "268435456\n")}),
			want:    hostSwapsNone,
		},
		{
			name:    "host without swap: header only",
			host:    hostSwapsNone,
			cgroups: cgroupV1(t, map[string]map[string]string{"memory": memV1("268435456\n", "268435456", "536870912\n")}),
			want:    hostSwapsNone,
		},
		{
			name:    "v2 memory.swap.max and memory.swap.current",
			host:    hostSwaps,
			cgroups: cgroupV2(t, memV2("268435456\n", "134217728\n")),
			want:    hostSwapsNone + swapLine("/dev/vda2", "partition\t131072\t\t2048\t\t-2"),
		},
		{
			name:    "v2 swap.max 0: header only",
			host:    hostSwaps,
			cgroups: cgroupV2(t, memV2("268435456\n", "0\n")),
			want:    hostSwapsNone,
		},
		{
			name:    "swap file on the host: the line keeps its type",
			host:    hostFile,
			cgroups: cgroupV2(t, memV2("268435456\n", "max\n")),
			want:    hostSwapsNone + swapLine("/swapfile", "file\t\t2097148\t\t2048\t\t-2"),
		},
		{
			name: "v1 without swap accounting: the host's file",
			host: hostSwaps,
			cgroups: func() CgroupReader {
				files := memV1("268435456\n", "268435456", "")
				delete(files, "memory.memsw.limit_in_bytes")
				delete(files, "memory.memsw.usage_in_bytes")
				return cgroupV1(t, map[string]map[string]string{"memory": files})
			}(),
			want: hostSwaps,
		},
		{
			name:    "no memory controller: the host's file",
			host:    hostSwaps,
			cgroups: cgroupV1(t, map[string]map[string]string{"cpuset": {}}),
			want:    hostSwaps,
		},
		{
			name:    "not registered: the host's file",
			host:    hostSwaps,
			cgroups: nil,
			want:    hostSwaps,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Container{ID: "c1", Cgroups: tc.cgroups, Host: fakeProc(t, now, map[string]string{"swaps": tc.host})}
			got, err := Swaps{}.Content(c)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got:\n%q\nwant:\n%q", got, tc.want)
			}
		})
	}
}

// TestSwapLineLayoutIsTheKernels re-prints lines in the kernel's layout:
// small and large (no second tab from 10000000 kB on) sizes, both types.
func TestSwapLineLayoutIsTheKernels(t *testing.T) {
	tests := []struct {
		name, typ  string
		size, used uint64
		prio       int
		want       string
	}{
		{"/dev/vda2", "partition", 1000000, 100000, -2, swapLine("/dev/vda2", "partition\t1000000\t\t100000\t\t-2")},
		{"/swapfile", "file", 2097148, 0, -2, swapLine("/swapfile", "file\t\t2097148\t\t0\t\t-2")},
		{"/dev/sdb1", "partition", 16777212, 12000000, 5, swapLine("/dev/sdb1", "partition\t16777212\t12000000\t5")},
		{"/a/very/long/path/to/a/swap/file/on/some/disk", "file", 1, 0, -3,
			"/a/very/long/path/to/a/swap/file/on/some/disk file\t\t1\t\t0\t\t-3\n"},
	}
	for _, tc := range tests {
		if got := string(appendSwapLine(nil, []byte(tc.name), []byte(tc.typ), tc.size, tc.used, tc.prio)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
