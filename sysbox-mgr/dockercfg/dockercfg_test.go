package dockercfg

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const runc = "/usr/bin/sysbox-runc"

func decode(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s is not valid JSON after the edit: %v\n%s", path, err, data)
	}
	return v
}

func parse(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAddRuntimeKeepsEverythingElse(t *testing.T) {
	tests := []struct {
		name   string
		before string // "" with missing: no file
		after  string
		result Result
	}{
		{"missing file", "", `{"runtimes":{"sysbox-runc":{"path":"/usr/bin/sysbox-runc"}}}`, Added},
		{"empty file", "\n", `{"runtimes":{"sysbox-runc":{"path":"/usr/bin/sysbox-runc"}}}`, Added},
		{"other keys kept",
			`{"log-level":"warn","default-ulimits":{"nofile":{"Name":"nofile","Hard":64000,"Soft":64000}},"storage-driver":"overlay2","max-concurrent-downloads":3}`,
			`{"log-level":"warn","default-ulimits":{"nofile":{"Name":"nofile","Hard":64000,"Soft":64000}},"storage-driver":"overlay2","max-concurrent-downloads":3,"runtimes":{"sysbox-runc":{"path":"/usr/bin/sysbox-runc"}}}`,
			Added},
		{"other runtimes kept",
			`{"runtimes":{"nvidia":{"path":"nvidia-container-runtime","runtimeArgs":["--debug"]}}}`,
			`{"runtimes":{"nvidia":{"path":"nvidia-container-runtime","runtimeArgs":["--debug"]},"sysbox-runc":{"path":"/usr/bin/sysbox-runc"}}}`,
			Added},
		{"old path replaced, args kept",
			`{"default-runtime":"runc","runtimes":{"sysbox-runc":{"path":"/usr/local/bin/sysbox-runc","runtimeArgs":["--x"]}}}`,
			`{"default-runtime":"runc","runtimes":{"sysbox-runc":{"path":"/usr/bin/sysbox-runc","runtimeArgs":["--x"]}}}`,
			Updated},
		{"already there", `{"runtimes":{"sysbox-runc":{"path":"/usr/bin/sysbox-runc"}}}`,
			`{"runtimes":{"sysbox-runc":{"path":"/usr/bin/sysbox-runc"}}}`, Unchanged},
		{"null runtimes", `{"runtimes":null,"debug":true}`,
			`{"debug":true,"runtimes":{"sysbox-runc":{"path":"/usr/bin/sysbox-runc"}}}`, Added},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "docker", "daemon.json")
			if tc.before != "" {
				if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(cfg, []byte(tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			res, err := AddRuntime(cfg, "sysbox-runc", runc)
			if err != nil {
				t.Fatal(err)
			}
			if res != tc.result {
				t.Errorf("result %v, want %v", res, tc.result)
			}
			if got, want := decode(t, cfg), parse(t, tc.after); !reflect.DeepEqual(got, want) {
				t.Errorf("after the edit:\n got %v\nwant %v", got, want)
			}
			if res == Unchanged {
				if data, _ := os.ReadFile(cfg); string(data) != tc.before {
					t.Errorf("an unchanged file was rewritten: %q", data)
				}
			}
		})
	}
}

func TestRemoveRuntimeKeepsEverythingElse(t *testing.T) {
	tests := []struct {
		name, before, after string
		result              Result
	}{
		{"only ours", `{"runtimes":{"sysbox-runc":{"path":"/usr/bin/sysbox-runc"}}}`, `{"runtimes":{}}`, Removed},
		{"others kept",
			`{"debug":true,"runtimes":{"nvidia":{"path":"nv"},"sysbox-runc":{"path":"/usr/bin/sysbox-runc"}}}`,
			`{"debug":true,"runtimes":{"nvidia":{"path":"nv"}}}`, Removed},
		{"not registered", `{"debug":true,"runtimes":{"nvidia":{"path":"nv"}}}`,
			`{"debug":true,"runtimes":{"nvidia":{"path":"nv"}}}`, Unchanged},
		{"no runtimes key", `{"debug":true}`, `{"debug":true}`, Unchanged},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "daemon.json")
			if err := os.WriteFile(cfg, []byte(tc.before), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := RemoveRuntime(cfg, "sysbox-runc")
			if err != nil {
				t.Fatal(err)
			}
			if res != tc.result {
				t.Errorf("result %v, want %v", res, tc.result)
			}
			if got, want := decode(t, cfg), parse(t, tc.after); !reflect.DeepEqual(got, want) {
				t.Errorf("after the edit:\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestRemoveRuntimeMissingFileIsNotCreated(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "daemon.json")
	if res, err := RemoveRuntime(cfg, "sysbox-runc"); err != nil || res != Unchanged {
		t.Fatalf("RemoveRuntime on a missing file: %v, %v; want unchanged, nil", res, err)
	}
	if _, err := os.Stat(cfg); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing file was created (stat: %v)", err)
	}
}

// Invalid files are refused with the file name and the place of the error,
// and left byte for byte as they were, with no temporary file left over.
func TestInvalidConfigIsRefusedAndLeftAlone(t *testing.T) {
	tests := []struct {
		name, content, wantMsg string
	}{
		{"syntax error", "{\n  \"debug\": true,\n  \"log-level\" \"warn\"\n}\n", "line 3, column"},
		{"trailing comma", "{\"debug\": true,}\n", "line 1, column"},
		{"array", "[1, 2]\n", "not an object"},
		{"null", "null\n", "not an object"},
		{"runtimes not an object", `{"runtimes":["sysbox-runc"]}`, `"runtimes" is not an object`},
		{"our entry not an object", `{"runtimes":{"sysbox-runc":"/usr/bin/sysbox-runc"}}`, `"sysbox-runc" is not an object`},
	}
	ops := map[string]func(string) error{
		"add":    func(c string) error { _, err := AddRuntime(c, "sysbox-runc", runc); return err },
		"remove": func(c string) error { _, err := RemoveRuntime(c, "sysbox-runc"); return err },
	}
	for _, tc := range tests {
		for opName, op := range ops {
			if opName == "remove" && strings.HasPrefix(tc.name, "our entry") {
				continue // remove does not look inside the entry it deletes
			}
			t.Run(tc.name+"/"+opName, func(t *testing.T) {
				dir := t.TempDir()
				cfg := filepath.Join(dir, "daemon.json")
				if err := os.WriteFile(cfg, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
				err := op(cfg)
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v, want one wrapping ErrInvalid", err)
				}
				if !strings.Contains(err.Error(), cfg) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("error %q should name %s and say %q", err, cfg, tc.wantMsg)
				}
				if data, _ := os.ReadFile(cfg); string(data) != tc.content {
					t.Errorf("refused file was changed to %q", data)
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 1 {
					t.Errorf("files left in %s: %v", dir, entries)
				}
			})
		}
	}
}

// The file is replaced by rename (a reader with the old file open keeps the
// old content), keeps its mode, and no temporary file stays behind.
func TestEditIsAtomicAndKeepsMode(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o644, 0o640} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "daemon.json")
			before := `{"debug":true}`
			if err := os.WriteFile(cfg, []byte(before), mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(cfg, mode); err != nil { // past the umask
				t.Fatal(err)
			}
			old, err := os.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer old.Close()
			if _, err := AddRuntime(cfg, "sysbox-runc", runc); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != mode {
				t.Errorf("mode %v after the edit, want %v", st.Mode().Perm(), mode)
			}
			buf := make([]byte, 100)
			n, _ := old.ReadAt(buf, 0)
			if string(buf[:n]) != before {
				t.Errorf("the old file was rewritten in place (now %q), not replaced", buf[:n])
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("files left in %s: %v", dir, entries)
			}
		})
	}
}

func TestSymlinkedConfigKeepsTheLink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.json")
	link := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(real, []byte(`{"debug":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.json", link); err != nil {
		t.Fatal(err)
	}
	if _, err := AddRuntime(link, "sysbox-runc", runc); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the symlink was replaced by a file (lstat: %v)", err)
	}
	if p, err := RuntimePath(real, "sysbox-runc"); err != nil || p != runc {
		t.Fatalf("the link's target says %q, %v; want %s", p, err, runc)
	}
}

func TestAddRuntimeRejectsBadArguments(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "daemon.json")
	for _, tc := range []struct{ name, path string }{{"", runc}, {"sysbox-runc", ""}, {"sysbox-runc", "sysbox-runc"}} {
		if _, err := AddRuntime(cfg, tc.name, tc.path); err == nil {
			t.Errorf("AddRuntime(%q, %q) succeeded", tc.name, tc.path)
		}
	}
	if _, err := os.Stat(cfg); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused call created %s", cfg)
	}
}
