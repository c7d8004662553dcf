package main

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestExecProcessStartsFromTheContainersProcess(t *testing.T) {
	spec := specs.Process{
		Args: []string{"init"}, Env: []string{"PATH=/bin", "A=1"}, Cwd: "/srv", Terminal: true,
		User:    specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{5}},
		Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 64, Soft: 64}},
	}
	tests := []struct {
		name               string
		flags              execFlags
		wantUID, wantGID   uint32
		wantCwd            string
		wantEnv            []string
		wantGids           []uint32
		wantTerminal, fail bool
	}{
		{name: "no --user: the spec's user, cwd and env",
			flags:   execFlags{args: []string{"id"}},
			wantUID: 1000, wantGID: 1001, wantCwd: "/srv", wantEnv: []string{"PATH=/bin", "A=1"}, wantGids: []uint32{5}},
		{name: "--user uid keeps the spec's gid, as runc",
			flags:   execFlags{args: []string{"id"}, user: "7"},
			wantUID: 7, wantGID: 1001, wantCwd: "/srv", wantEnv: []string{"PATH=/bin", "A=1"}, wantGids: []uint32{5}},
		{name: "--user uid:gid, --cwd, -e, -g, -t",
			flags:   execFlags{args: []string{"id"}, user: "0:0", cwd: "/", env: []string{"B=2"}, gids: []int{9}, tty: true},
			wantUID: 0, wantGID: 0, wantCwd: "/", wantEnv: []string{"PATH=/bin", "A=1", "B=2"}, wantGids: []uint32{5, 9}, wantTerminal: true},
		{name: "bad --user", flags: execFlags{args: []string{"id"}, user: "root"}, fail: true},
		{name: "negative gid", flags: execFlags{args: []string{"id"}, gids: []int{-1}}, fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := processFromFlags(spec, tt.flags)
			if tt.fail {
				if err == nil {
					t.Fatal("bad flags accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.User.UID != tt.wantUID || p.User.GID != tt.wantGID {
				t.Errorf("user = %d:%d, want %d:%d", p.User.UID, p.User.GID, tt.wantUID, tt.wantGID)
			}
			if p.Cwd != tt.wantCwd || !slices.Equal(p.Env, tt.wantEnv) || !slices.Equal(p.User.AdditionalGids, tt.wantGids) {
				t.Errorf("cwd %q env %q gids %v; want %q %q %v", p.Cwd, p.Env, p.User.AdditionalGids, tt.wantCwd, tt.wantEnv, tt.wantGids)
			}
			if p.Terminal != tt.wantTerminal || !slices.Equal(p.Args, tt.flags.args) || len(p.Rlimits) != 1 {
				t.Errorf("terminal %v args %q rlimits %v", p.Terminal, p.Args, p.Rlimits)
			}
		})
	}
	if len(spec.Env) != 2 || len(spec.User.AdditionalGids) != 1 {
		t.Errorf("the container's process was changed: %+v", spec)
	}
}
