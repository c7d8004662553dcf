package handler

import "testing"

func TestDefaultTableServesTheCgroupAwareFiles(t *testing.T) {
	tab := Default()
	for _, p := range []string{
		"proc/uptime", "proc/meminfo", "proc/cpuinfo", "proc/stat", "proc/loadavg",
		"proc/swaps", "proc/diskstats", "sys/devices/system/cpu/online",
	} {
		if tab[p] == nil {
			t.Errorf("no handler for %s", p)
		}
	}
	// Files that can outgrow a page bound their size.
	for _, p := range []string{"proc/cpuinfo", "proc/stat", "proc/diskstats"} {
		if _, ok := tab[p].(SizeBounder); !ok {
			t.Errorf("%s (%T) does not implement SizeBounder", p, tab[p])
		}
	}
}
