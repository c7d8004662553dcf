package syscont

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FuzzSpecPipeline feeds config.json bytes (what the engine, and through it the user,
// controls) through what sysbox-runc create does: decode, Validate, Transform. Properties:
// no panic; Validate refuses with one of its sentinel errors or accepts; an accepted spec is
// transformed or refused with an error; Transform applied to its own output changes nothing
// and warns about nothing (the idempotence doc.go promises). Seeds: testdata/*.json.
func FuzzSpecPipeline(f *testing.F) {
	all, err := filepath.Glob("testdata/*.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range all {
		if strings.HasSuffix(p, ".golden.json") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"process":{},"root":{"path":"rootfs"}}`))
	f.Add([]byte(`{"process":{"env":["SYSBOX_SYSCONT_MODE=FALSE"]},"root":{"path":"rootfs"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s specs.Spec
		if err := json.Unmarshal(data, &s); err != nil {
			return
		}
		o, err := Validate(&s, Options{SysContMode: true})
		if err != nil {
			if !errors.Is(err, ErrIncomplete) && !errors.Is(err, ErrNotSupported) && !errors.Is(err, ErrBadOption) {
				t.Fatalf("Validate refused with an error that is none of the sentinels: %v", err)
			}
			return
		}
		if err := Transform(&s, o, testInputs(nil)); err != nil {
			return
		}
		once, err := json.Marshal(&s)
		if err != nil {
			t.Fatalf("marshal the transformed spec: %v", err)
		}
		var again specs.Spec
		if err := json.Unmarshal(once, &again); err != nil {
			t.Fatalf("unmarshal the transformed spec: %v", err)
		}
		var warns []string
		if err := Transform(&again, o, testInputs(&warns)); err != nil {
			t.Fatalf("second Transform refused the output of the first: %v", err)
		}
		twice, err := json.Marshal(&again)
		if err != nil {
			t.Fatalf("marshal the twice-transformed spec: %v", err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("second Transform changed the spec:\n%s", firstDiff(once, twice))
		}
		if len(warns) > 0 {
			t.Fatalf("second Transform warned: %v", warns)
		}
	})
}

// FuzzParseEnv fuzzes the SYSBOX_* variables of the container's environment. Properties: no
// panic; a refusal is ErrBadOption; every boolean variable accepts exactly TRUE or FALSE;
// the SYSBOX_SKIP_UID_SHIFT list yields only clean absolute paths, appended to the defaults;
// the variables are removed from the env and every other entry is kept in order.
func FuzzParseEnv(f *testing.F) {
	f.Add("SYSBOX_HONOR_CAPS", "TRUE", "PATH=/usr/bin")
	f.Add("SYSBOX_SYSCONT_MODE", "FALSE", "HOME=/root")
	f.Add("SYSBOX_IGNORE_SYSFS_CHOWN", "true", "")
	f.Add("SYSBOX_ALLOW_TRUSTED_XATTR", " TRUE", "A=B")
	f.Add("SYSBOX_SKIP_UID_SHIFT", "/var/lib/x,/data/../y,,/z/", "SYSBOX=")
	f.Add("SYSBOX_SKIP_UID_SHIFT", "relative,/abs", "X")
	f.Add("SYSBOX_UNKNOWN", "TRUE", "SYSBOX_")
	f.Fuzz(func(t *testing.T, name, val, other string) {
		defaults := Options{SysContMode: true, SkipUIDShift: []string{"/default"}}
		kv := name + "=" + val
		env := []string{other, kv}
		o, rest, err := parseEnv(env, defaults)
		if err != nil {
			if !errors.Is(err, ErrBadOption) {
				t.Fatalf("parseEnv(%q) error is not ErrBadOption: %v", env, err)
			}
			return
		}
		if len(defaults.SkipUIDShift) != 1 || defaults.SkipUIDShift[0] != "/default" {
			t.Fatalf("parseEnv changed the defaults' path list: %v", defaults.SkipUIDShift)
		}
		for _, e := range env {
			if strings.HasPrefix(e, envPrefix) {
				continue
			}
			if len(rest) == 0 || rest[0] != e {
				t.Fatalf("parseEnv(%q) = env %q: the non-SYSBOX entry %q is not kept in order", env, rest, e)
			}
			rest = rest[1:]
		}
		if len(rest) != 0 {
			t.Fatalf("parseEnv(%q) kept SYSBOX entries %q", env, rest)
		}
		if len(o.SkipUIDShift) == 0 || o.SkipUIDShift[0] != "/default" {
			t.Fatalf("parseEnv dropped the default skip paths: %v", o.SkipUIDShift)
		}
		for _, p := range o.SkipUIDShift {
			if !filepath.IsAbs(p) || filepath.Clean(p) != p {
				t.Fatalf("parseEnv(%q) accepted skip path %q that is not clean and absolute", env, p)
			}
		}
		boolOf := map[string]bool{
			EnvHonorCaps: o.HonorCaps, EnvSysContMode: o.SysContMode,
			EnvIgnoreSysfsChown: o.IgnoreSysfsChown, EnvAllowTrustedXattr: o.AllowTrustedXattr,
		}
		// The last SYSBOX_ assignment of a name wins; other may set the same variable first.
		if got, isBool := boolOf[name]; isBool && !strings.Contains(name, "=") {
			if val != "TRUE" && val != "FALSE" {
				t.Fatalf("parseEnv accepted %s=%q", name, val)
			}
			if got != (val == "TRUE") {
				t.Fatalf("parseEnv(%q): %s = %v", env, name, got)
			}
		}
	})
}
