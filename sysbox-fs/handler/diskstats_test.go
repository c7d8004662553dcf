package handler

import (
	"os"
	"strings"
	"testing"
	"time"
)

const (
	blkioBytesV1 = "254:0 Read 1048576\n254:0 Write 2097152\n254:0 Sync 3145728\n254:0 Async 0\n" +
		"254:0 Discard 512\n254:0 Total 3146240\n7:0 Read 0\n7:0 Write 0\n7:0 Total 0\n" +
		"8:16 Read 4096\n8:16 Write 0\n8:16 Total 4096\nTotal 3150336\n"
	blkioOpsV1 = "254:0 Read 100\n254:0 Write 50\n254:0 Sync 150\n254:0 Async 0\n254:0 Discard 1\n" +
		"254:0 Total 151\n7:0 Read 0\n7:0 Write 0\n7:0 Total 0\n8:16 Read 1\n8:16 Write 0\n8:16 Total 1\nTotal 152\n"
	// The cgroup alone, without its sub-cgroups: must not be used when the
	// _recursive files exist.
	blkioBytesOwn = "254:0 Read 512\n254:0 Write 0\n254:0 Total 512\nTotal 512\n"
	blkioOpsOwn   = "254:0 Read 1\n254:0 Write 0\n254:0 Total 1\nTotal 1\n"

	vdaLine = " 254       0 vda 100 0 2048 0 50 0 4096 0 0 0 0 1 0 1 0 0 0\n"
)

func TestDiskstatsContent(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		host    string
		cgroups CgroupReader
		want    string
	}{
		{
			name: "v1 recursive throttle stats: devices with I/O, host names and order",
			host: hostDiskstats,
			cgroups: cgroupV1(t, map[string]map[string]string{"blkio": {
				"blkio.throttle.io_service_bytes_recursive": blkioBytesV1,
				"blkio.throttle.io_serviced_recursive":      blkioOpsV1,
				"blkio.throttle.io_service_bytes":           blkioBytesOwn,
				"blkio.throttle.io_serviced":                blkioOpsOwn,
			}}),
			want: vdaLine,
		},
		{
			name: "v1 without the recursive files: the cgroup's own",
			host: hostDiskstats,
			cgroups: cgroupV1(t, map[string]map[string]string{"blkio": {
				"blkio.throttle.io_service_bytes": blkioBytesOwn,
				"blkio.throttle.io_serviced":      blkioOpsOwn,
			}}),
			want: " 254       0 vda 1 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		},
		{
			name: "v2 io.stat",
			host: hostDiskstats,
			cgroups: cgroupV2(t, map[string]string{"io.stat": "254:0 rbytes=1048576 wbytes=2097152 rios=100 wios=50 dbytes=512 dios=1\n" +
				"254:1 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n253:0 rbytes=0 wbytes=0 rios=0 wios=0 dbytes=0 dios=0\n"}),
			want: vdaLine + " 254       1 vda1 1 0 8 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		},
		{
			name:    "older kernel with 11 counters per line: as many in ours",
			host:    "   8       0 sda 9 0 9 9 9 0 9 9 0 9 9\n",
			cgroups: cgroupV2(t, map[string]string{"io.stat": "8:0 rbytes=1024 wbytes=512 rios=2 wios=1 dbytes=0 dios=0\n"}),
			want:    "   8       0 sda 2 0 2 0 1 0 1 0 0 0 0\n",
		},
		{
			name:    "no I/O yet: empty",
			host:    hostDiskstats,
			cgroups: cgroupV2(t, map[string]string{"io.stat": ""}),
			want:    "",
		},
		{
			name:    "no blkio controller: the host's file",
			host:    hostDiskstats,
			cgroups: cgroupV1(t, map[string]map[string]string{"memory": {}}),
			want:    hostDiskstats,
		},
		{
			name:    "not registered: the host's file",
			host:    hostDiskstats,
			cgroups: nil,
			want:    hostDiskstats,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Container{ID: "c1", Cgroups: tc.cgroups, Host: fakeProc(t, now, map[string]string{"diskstats": tc.host})}
			got, err := NewDiskstats("/proc").Content(c)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got:\n%q\nwant:\n%q", got, tc.want)
			}
		})
	}
}

func TestDiskstatsRejectsGarbage(t *testing.T) {
	c := Container{ID: "c1",
		Cgroups: cgroupV1(t, map[string]map[string]string{"blkio": {
			"blkio.throttle.io_service_bytes": "254:0 Read lots\n",
			"blkio.throttle.io_serviced":      blkioOpsOwn,
		}}),
		Host: fakeProc(t, time.Now(), map[string]string{"diskstats": hostDiskstats})}
	if got, err := NewDiskstats("/proc").Content(c); err == nil {
		t.Fatalf("got %q and no error", got)
	}
}

// TestDiskstatsLineLayoutIsTheKernels re-prints this host's lines (when
// there is a /proc/diskstats) with their reads, sectors and writes, and
// compares the layout of the columns up to the first counter we zero.
func TestDiskstatsLineLayoutIsTheKernels(t *testing.T) {
	b, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		t.Skip("no /proc/diskstats")
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		major, _ := parseUint([]byte(f[0]))
		minor, _ := parseUint([]byte(f[1]))
		rios, _ := parseUint([]byte(f[3]))
		got := string(appendDiskLine(nil, major, minor, []byte(f[2]), len(f)-3, devIO{rios: rios}))
		// The kernel's line up to and with the first counter.
		prefix := line[:strings.Index(line, " "+f[2]+" ")+len(f[2])+2+len(f[3])]
		if !strings.HasPrefix(got, prefix) || len(strings.Fields(got)) != len(f) {
			t.Errorf("host line %q re-printed as %q", line, got)
		}
	}
}
