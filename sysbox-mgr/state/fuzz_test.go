package state

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadAll fuzzes the state file and its journal as sysbox-mgr reads them at start.
// Properties: no panic; a file that loads has a lease id on every lease and no id twice;
// saved as a snapshot it loads back to the same state; and the same leases written as a
// journal (Append, one put per lease) over an empty snapshot replay to the same state.
func FuzzLoadAll(f *testing.F) {
	f.Add([]byte(`{"version":1,"leases":[{"id":"a","uid":165536,"gid":165536,"size":65536,"rootfs":"/r","running":true,"mounts":[{"kind":"docker","source":"/s","destination":"/var/lib/docker"}]}]}`),
		[]byte(`{"put":{"id":"b","uid":231072}}`+"\n"+`{"del":"a"}`+"\n"+`{"put":{"id":"c"`))
	f.Add([]byte(`{"version":1,"leases":[]}`), []byte(`{"del":"x"}{"del":"y"}`+"\n"))
	f.Add([]byte(`{"version":1,"leases":[{"id":"a"},{"id":"b"}]}`), []byte(`{"del":"a"}`+"\n"+`{"put":{"id":"a","mounts":[]}}`+"\n"))
	f.Add([]byte(`{"version":1,"leases":[]}}`), []byte(nil))
	f.Add([]byte(nil), []byte("\n\n"))
	f.Fuzz(func(t *testing.T, snapshot, journal []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "in", FileName)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if snapshot != nil {
			if err := os.WriteFile(path, snapshot, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(JournalPath(path), journal, 0o600); err != nil {
			t.Fatal(err)
		}
		st, _, err := LoadAll(path)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, l := range st.Leases {
			if l.ID == "" || seen[l.ID] {
				t.Fatalf("loaded lease id %q empty or listed twice: %+v", l.ID, st.Leases)
			}
			seen[l.ID] = true
		}
		want := canonJSON(t, st)

		again := filepath.Join(dir, "snapshot", FileName)
		if err := Save(again, st); err != nil {
			t.Fatalf("save: %v", err)
		}
		if got := loadJSON(t, again); !bytes.Equal(got, want) {
			t.Fatalf("snapshot reloads as\n%s\nwant\n%s", got, want)
		}

		// Appends fsync: keep the journal round trip to small states.
		if len(st.Leases) > 8 {
			return
		}
		viaJournal := filepath.Join(dir, "journal", FileName)
		if err := Save(viaJournal, &File{Version: Version}); err != nil {
			t.Fatalf("save: %v", err)
		}
		for i := range st.Leases {
			if err := Append(viaJournal, Op{Put: &st.Leases[i]}); err != nil {
				t.Fatalf("append: %v", err)
			}
		}
		if got := loadJSON(t, viaJournal); !bytes.Equal(got, want) {
			t.Fatalf("journal replays as\n%s\nwant\n%s", got, want)
		}
	})
}

// loadJSON loads the state at path with its journal and encodes it.
func loadJSON(t *testing.T, path string) []byte {
	t.Helper()
	st, _, err := LoadAll(path)
	if err != nil {
		t.Fatalf("reload %s: %v", path, err)
	}
	return canonJSON(t, st)
}

// canonJSON encodes st with empty lists as null: "leases": [] and "leases": null (or no
// mounts and "mounts": []) are the same state, which a round trip need not keep apart.
func canonJSON(t *testing.T, st *File) []byte {
	t.Helper()
	c := *st
	c.Leases = nil
	for _, l := range st.Leases {
		if len(l.Mounts) == 0 {
			l.Mounts = nil
		}
		c.Leases = append(c.Leases, l)
	}
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
