package main

import (
	"slices"
	"testing"
)

func TestFlagsFirstMovesFlagsAfterTheIDBeforeIt(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"update flag after the id (runc accepts it)",
			[]string{"sysbox-runc", "update", "c1", "--pids-limit", "5"},
			[]string{"sysbox-runc", "update", "--pids-limit", "5", "c1"}},
		{"a value that looks like a flag stays with its flag",
			[]string{"sysbox-runc", "update", "c1", "--memory-swap", "-1", "-r", "-"},
			[]string{"sysbox-runc", "update", "--memory-swap", "-1", "-r", "-", "c1"}},
		{"name=value and booleans take one word",
			[]string{"sysbox-runc", "kill", "c1", "KILL", "--all", "--bogus=3"},
			[]string{"sysbox-runc", "kill", "--all", "--bogus=3", "c1", "KILL"}},
		{"global flags before the command are skipped, with their values",
			[]string{"sysbox-runc", "--root", "/r", "--debug", "delete", "c1", "-f"},
			[]string{"sysbox-runc", "--root", "/r", "--debug", "delete", "-f", "c1"}},
		{"exec keeps the command line after the id",
			[]string{"sysbox-runc", "exec", "c1", "sh", "-c", "true"},
			[]string{"sysbox-runc", "exec", "c1", "sh", "-c", "true"}},
		{"ps keeps its ps options",
			[]string{"sysbox-runc", "ps", "c1", "-ef"},
			[]string{"sysbox-runc", "ps", "c1", "-ef"}},
		{"-- ends the flags",
			[]string{"sysbox-runc", "kill", "c1", "--", "-9"},
			[]string{"sysbox-runc", "kill", "--", "c1", "-9"}},
		{"already in order",
			[]string{"sysbox-runc", "start", "c1"},
			[]string{"sysbox-runc", "start", "c1"}},
		{"unknown command is left to the parser",
			[]string{"sysbox-runc", "nope", "c1", "-x"},
			[]string{"sysbox-runc", "nope", "c1", "-x"}},
	}
	app := newApp()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := flagsFirst(app, slices.Clone(tt.in)); !slices.Equal(got, tt.want) {
				t.Errorf("flagsFirst(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
