package main

import (
	"reflect"
	"testing"

	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
)

func TestDeferNofileKeepsTheContainersLimitOutOfTheRuntimesSetup(t *testing.T) {
	own := unix.Rlimit{Cur: 1048575, Max: 1048576}
	core := configs.Rlimit{Type: unix.RLIMIT_CORE, Soft: 0, Hard: 0}
	tests := []struct {
		name      string
		in        []configs.Rlimit
		wantSetup []configs.Rlimit
		wantFinal *configs.Rlimit
	}{
		{"no NOFILE: unchanged", []configs.Rlimit{core}, []configs.Rlimit{core}, nil},
		{"a low NOFILE is raised to the runtime's for the setup and kept for later",
			[]configs.Rlimit{core, {Type: unix.RLIMIT_NOFILE, Soft: 20, Hard: 20}},
			[]configs.Rlimit{core, {Type: unix.RLIMIT_NOFILE, Soft: 1048576, Hard: 1048576}},
			&configs.Rlimit{Type: unix.RLIMIT_NOFILE, Soft: 20, Hard: 20}},
		{"a NOFILE above the runtime's stays as high",
			[]configs.Rlimit{{Type: unix.RLIMIT_NOFILE, Soft: 2097152, Hard: 4194304}},
			[]configs.Rlimit{{Type: unix.RLIMIT_NOFILE, Soft: 2097152, Hard: 4194304}},
			&configs.Rlimit{Type: unix.RLIMIT_NOFILE, Soft: 2097152, Hard: 4194304}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setup, final := deferNofile(tt.in, own)
			if !reflect.DeepEqual(setup, tt.wantSetup) || !reflect.DeepEqual(final, tt.wantFinal) {
				t.Errorf("deferNofile = %+v, %+v; want %+v, %+v", setup, final, tt.wantSetup, tt.wantFinal)
			}
		})
	}
}
