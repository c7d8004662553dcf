package app

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sysboxd/sysboxd/internal/version"
)

// The CLI refuses bad flags and arguments before it touches anything (no
// logger, no pid file: the pid file path here could not be created).
func TestCLIRefusesBadInvocations(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"extra argument", []string{"serve"}, "unexpected arguments: [serve]"},
		{"negative gomaxprocs", []string{"--gomaxprocs", "-1"}, "--gomaxprocs -1"},
		{"negative memory limit", []string{"--memory-limit-base", "-1"}, "--memory-limit-base"},
		{"unknown flag", []string{"--no-such-flag"}, "no-such-flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{name, "--pid-file", "/nonexistent/dir/sysbox-fs.pid"}, tc.args...)
			err := NewApp(&out, &errOut).Run(args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestVersionFlagPrintsTheStamp(t *testing.T) {
	var out bytes.Buffer
	if err := NewApp(&out, &bytes.Buffer{}).Run([]string{name, "--version"}); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), version.String(name)+"\n"; got != want {
		t.Fatalf("--version printed %q, want %q", got, want)
	}
}
