package handler

import (
	"strings"
	"testing"
)

func TestDefaultTableIsValidAndServesUptime(t *testing.T) {
	tab := Default()
	if err := tab.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, ok := tab["proc/uptime"].(Uptime); !ok {
		t.Fatalf("proc/uptime is %T, want Uptime", tab["proc/uptime"])
	}
}

func TestTableValidateRejectsBadPaths(t *testing.T) {
	ok := Func(func(Container) ([]byte, error) { return nil, nil })
	tests := map[string]Table{
		"empty path":         {"": ok},
		"absolute":           {"/proc/uptime": ok},
		"unclean":            {"proc//uptime": ok},
		"dot":                {".": ok},
		"dot-dot":            {"../etc/passwd": ok},
		"trailing slash":     {"proc/": ok},
		"nil handler":        {"proc/uptime": nil},
		"file used as a dir": {"proc/sys": ok, "proc/sys/kernel/panic": ok},
	}
	for name, tab := range tests {
		if err := tab.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %v", name, tab)
		}
	}
}

func TestTablePathsAreSorted(t *testing.T) {
	ok := Func(func(Container) ([]byte, error) { return nil, nil })
	got := Table{"proc/uptime": ok, "proc/meminfo": ok, "sys/x": ok}.Paths()
	if strings.Join(got, " ") != "proc/meminfo proc/uptime sys/x" {
		t.Fatalf("Paths() = %v", got)
	}
}
