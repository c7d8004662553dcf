package state

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func mustT(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestJournalReplaysPutsAndDeletesOverTheSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	mustT(t, Save(path, &File{Version: Version, Leases: []Lease{{ID: "a", UID: 1}, {ID: "b", UID: 2}}}))
	mustT(t, Append(path, Op{Put: &Lease{ID: "c", UID: 3}}))
	mustT(t, Append(path, Op{Put: &Lease{ID: "a", UID: 1, Running: true}}))
	mustT(t, Append(path, Op{Del: "b"}))
	mustT(t, Append(path, Op{Del: "never-there"})) // harmless
	f, n, err := LoadAll(path)
	mustT(t, err)
	want := []Lease{{ID: "a", UID: 1, Running: true}, {ID: "c", UID: 3}}
	if n != 4 || !reflect.DeepEqual(f.Leases, want) {
		t.Fatalf("replayed %d: %+v, want %+v", n, f.Leases, want)
	}
	// A snapshot folds the journal in and empties it.
	mustT(t, Save(path, f))
	if fi, err := os.Stat(JournalPath(path)); err != nil || fi.Size() != 0 {
		t.Fatalf("journal after snapshot: %v %v", fi, err)
	}
	g, n, err := LoadAll(path)
	mustT(t, err)
	if n != 0 || !reflect.DeepEqual(g.Leases, want) {
		t.Fatalf("after snapshot: %+v (%d replayed)", g.Leases, n)
	}
}

func TestJournalOlderThanSnapshotReplaysToTheSameState(t *testing.T) {
	// A crash after the snapshot was renamed into place but before the
	// journal was emptied: the journal's changes are all in the snapshot.
	path := filepath.Join(t.TempDir(), FileName)
	mustT(t, Append(path, Op{Put: &Lease{ID: "a", UID: 1}}))
	mustT(t, Append(path, Op{Put: &Lease{ID: "b", UID: 2}}))
	mustT(t, Append(path, Op{Del: "a"}))
	journal, err := os.ReadFile(JournalPath(path))
	mustT(t, err)
	snap := &File{Version: Version, Leases: []Lease{{ID: "b", UID: 2}}}
	mustT(t, Save(path, snap))
	mustT(t, os.WriteFile(JournalPath(path), journal, 0o600))
	f, _, err := LoadAll(path)
	mustT(t, err)
	if !reflect.DeepEqual(f.Leases, snap.Leases) {
		t.Fatalf("got %+v, want %+v", f.Leases, snap.Leases)
	}
}

func TestJournalTornTailIsIgnoredButCorruptLineIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	mustT(t, Append(path, Op{Put: &Lease{ID: "a", UID: 1}}))
	jf, err := os.OpenFile(JournalPath(path), os.O_WRONLY|os.O_APPEND, 0)
	mustT(t, err)
	_, err = jf.WriteString(`{"put":{"id":"b","ui`) // the crash cut this write short
	jf.Close()
	mustT(t, err)
	f, n, err := LoadAll(path)
	mustT(t, err)
	if n != 1 || len(f.Leases) != 1 || f.Leases[0].ID != "a" {
		t.Fatalf("torn tail: %+v (%d)", f.Leases, n)
	}
	for _, bad := range []string{"garbage\n", `{"put":{"id":"x"},"del":"y"}` + "\n", `{}` + "\n", `{"put":{"uid":1}}` + "\n", `{"put":{"id":"x","bogus":1}}` + "\n",
		// Two entries or junk on one line: only the first entry used to be applied.
		`{"del":"x"}{"del":"y"}` + "\n", `{"del":"x"} junk` + "\n", `{"del":"x"}}` + "\n"} {
		mustT(t, os.WriteFile(JournalPath(path), []byte(`{"del":"a"}`+"\n"+bad+`{"del":"a"}`+"\n"), 0o600))
		if _, _, err := LoadAll(path); err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), JournalPath(path)) {
			t.Errorf("journal line %q: got %v, want an error naming the journal and line 2", bad, err)
		}
	}
}

func TestAppendFailsWhenTheStateDirIsGone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, FileName)
	mustT(t, Append(path, Op{Put: &Lease{ID: "a"}}))
	mustT(t, os.RemoveAll(dir))
	mustT(t, os.WriteFile(dir, nil, 0o600)) // a file where the dir was
	if err := Append(path, Op{Put: &Lease{ID: "b"}}); err == nil {
		t.Fatal("append succeeded without a state dir")
	}
	if err := Append(path, Op{}); err == nil {
		t.Fatal("empty op accepted")
	}
}
