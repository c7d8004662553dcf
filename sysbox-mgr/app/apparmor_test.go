package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAppArmorLoaderLoadsTheProfileOnlyWhereAppArmorIsOn(t *testing.T) {
	dir := t.TempDir()
	profile := filepath.Join(dir, "sysbox-container")
	if err := os.WriteFile(profile, []byte("profile sysbox-container {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	enabled := func(v string) string {
		p := filepath.Join(t.TempDir(), "enabled")
		if err := os.WriteFile(p, []byte(v), 0o444); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name        string
		enabledFile string
		file        string
		parserErr   error
		wantCalled  bool
		wantErr     string // "" = nil; "off" = errAppArmorOff
	}{
		{"AppArmor on: the profile is loaded", enabled("Y\n"), profile, nil, true, ""},
		{"AppArmor off in the kernel", enabled("N\n"), profile, nil, false, "off"},
		{"no AppArmor module at all", filepath.Join(dir, "missing"), profile, nil, false, "off"},
		{"profile file missing", enabled("Y\n"), filepath.Join(dir, "nope"), nil, false, "no such file"},
		{"parser fails: its output is in the error", enabled("Y\n"), profile, errors.New("exit status 1"), true, "syntax error at line 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			l := appArmorLoader{EnabledFile: tc.enabledFile, Parser: func(_ context.Context, a ...string) ([]byte, error) {
				args = a
				return []byte("syntax error at line 3\n"), tc.parserErr
			}}
			err := l.load(context.Background(), tc.file)
			switch tc.wantErr {
			case "":
				if err != nil {
					t.Fatalf("load: %v", err)
				}
			case "off":
				if !errors.Is(err, errAppArmorOff) {
					t.Fatalf("load = %v, want errAppArmorOff", err)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("load = %v, want an error containing %q", err, tc.wantErr)
				}
			}
			if called := args != nil; called != tc.wantCalled {
				t.Fatalf("parser called: %v, want %v", called, tc.wantCalled)
			}
			if tc.wantCalled && !slices.Equal(args, []string{"-r", "-W", tc.file}) {
				t.Errorf("parser args %q", args)
			}
		})
	}
}
