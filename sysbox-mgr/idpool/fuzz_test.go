package idpool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadSubidFile fuzzes /etc/subuid-style content and the user looked up in it.
// Properties: no panic; an accepted range starts above host id 0, holds at least one
// container block and ends within the id space; written back as "user:start:count" it
// reads back the same; a missing entry wraps ErrNoEntry.
func FuzzReadSubidFile(f *testing.F) {
	f.Add("root:165536:1048576\n", "root")
	f.Add("# comment\n\nother:1:2\nroot:165536:65536\nroot:1:1\n", "root")
	f.Add("root:0:65536\n", "root")
	f.Add("root:4294901760:65536\n", "root")
	f.Add("root:100000:65535\n", "root")
	f.Add("root:1:2:3\n", "root")
	f.Add("  root:165536:65536  \n", "root")
	f.Add("root:+165536:65536\n", "root")
	f.Add("sysbox:165536:65536", "sysbox")
	f.Add("", "")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content, user string) {
		path := filepath.Join(dir, "subuid")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := ReadSubidFile(path, user)
		if err != nil {
			return
		}
		if r.Start == 0 || r.Size < BlockSize || r.End() > maxID {
			t.Fatalf("ReadSubidFile(%q, %q) accepted %v", content, user, r)
		}
		if err := os.WriteFile(path, []byte(fmt.Sprintf("%s:%d:%d\n", user, r.Start, r.Size)), 0o600); err != nil {
			t.Fatal(err)
		}
		back, err := ReadSubidFile(path, user)
		if err != nil || back != r {
			t.Fatalf("range %v written back for %q reads %v, %v", r, user, back, err)
		}
		if err := os.WriteFile(path, []byte("someone-else:165536:65536\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadSubidFile(path, user); user != "someone-else" && !errors.Is(err, ErrNoEntry) {
			t.Fatalf("user %q in a file without its entry: %v, want ErrNoEntry", user, err)
		}
	})
}
