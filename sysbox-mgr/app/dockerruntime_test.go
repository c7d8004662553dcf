package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The docker-runtime subcommands edit the file they are given and say what
// they did; a refused file makes the command fail with the file named.
func TestDockerRuntimeCommand(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "daemon.json")
	if err := os.WriteFile(cfg, []byte(`{"debug":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := NewApp(&out, &out).Run(append([]string{"sysbox-mgr", "docker-runtime"}, args...))
		return out.String(), err
	}
	steps := []struct {
		args    []string
		wantOut string
	}{
		{[]string{"add", "--config", cfg, "--path", "/usr/bin/sysbox-runc"}, "runtime sysbox-runc added"},
		{[]string{"add", "--config", cfg, "--path", "/usr/bin/sysbox-runc"}, "runtime sysbox-runc unchanged"},
		{[]string{"add", "--config", cfg, "--path", "/opt/sysbox-runc"}, "runtime sysbox-runc updated"},
		{[]string{"remove", "--config", cfg}, "runtime sysbox-runc removed"},
		{[]string{"remove", "--config", cfg}, "runtime sysbox-runc unchanged"},
	}
	for _, s := range steps {
		out, err := run(s.args...)
		if err != nil || !strings.Contains(out, s.wantOut) {
			t.Fatalf("%v: %q, %v; want output containing %q", s.args, out, err, s.wantOut)
		}
	}
	if b, _ := os.ReadFile(cfg); !strings.Contains(string(b), `"debug": true`) {
		t.Errorf("other key lost: %s", b)
	}
	if _, err := run("add", "--config", cfg); err == nil {
		t.Error("add without --path succeeded")
	}
	if err := os.WriteFile(cfg, []byte(`{"debug":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run("add", "--config", cfg, "--path", "/usr/bin/sysbox-runc"); err == nil || !strings.Contains(err.Error(), cfg) {
		t.Errorf("invalid file: error %v, want one naming %s", err, cfg)
	}
}
