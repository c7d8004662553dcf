package sysctl

import (
	"os"
	"os/exec"
	"testing"
)

// The cost of resolving the caller's namespace: an open and read of a
// net knob by the init itself (no stat) and by another process in the
// init's namespaces (one stat of /proc/<pid>/ns/net).
func BenchmarkOpenReadNetKnob(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: setns")
	}
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	proc, err := OpenProc("/proc")
	if err != nil {
		b.Fatal(err)
	}
	defer proc.Close()
	host := Host{Dir: "/proc/sys"}
	c := NewContainer(NewValues(NewTable(host, Knobs()), host), proc, "/proc", os.Getpid)
	defer c.Close()
	buf := make([]byte, 64)
	for _, bc := range []struct {
		name string
		pid  int
	}{{"init", os.Getpid()}, {"other-same-ns", other.Process.Pid}} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				f, err := c.OpenFor(bc.pid, "net/core/somaxconn", os.O_RDONLY)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.ReadAt(buf, 0); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}
