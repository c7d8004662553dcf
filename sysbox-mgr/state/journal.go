package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// JournalName is the journal's name inside the state directory. Rewriting
// the whole state file on every change costs O(leases) per change (a
// 10000-lease host spent 40 ms per change); the journal makes a change
// one appended line and one fdatasync. The state file is a snapshot that
// Save rewrites now and then (see Compact in the manager), emptying the
// journal.
const JournalName = "state.journal"

// Op is one journal line: a lease as it now is (Put), or a lease that is
// gone (Del).
type Op struct {
	Put *Lease `json:"put,omitempty"`
	Del string `json:"del,omitempty"`
}

// JournalPath is the journal next to the state file at path.
func JournalPath(path string) string { return filepath.Join(filepath.Dir(path), JournalName) }

// Append writes op to the journal of the state file at path and makes it
// durable. The journal is opened by path on every call, so a state dir
// that was removed or replaced is an error, never a write into a file no
// one will read. On failure the journal is cut back to where it was.
func Append(path string, op Op) error {
	if (op.Put == nil) == (op.Del == "") {
		return errors.New("journal op must be exactly one of put and del")
	}
	line, err := json.Marshal(op)
	if err != nil {
		return fmt.Errorf("encode journal entry: %w", err)
	}
	line = append(line, '\n')
	jp := JournalPath(path)
	f, err := os.OpenFile(jp, os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		f, err = createJournal(jp)
	}
	if err != nil {
		return fmt.Errorf("open state journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", jp, err)
	}
	if _, err = f.Write(line); err == nil {
		err = f.Sync()
	}
	if err != nil {
		_ = f.Truncate(fi.Size())
		return fmt.Errorf("append to %s: %w", jp, err)
	}
	return nil
}

func createJournal(jp string) (*os.File, error) {
	dir := filepath.Dir(jp)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(jp, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open state dir for fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync state dir %s: %w", dir, err)
	}
	return nil
}

// truncateJournal empties the journal once a snapshot holds everything
// in it. A snapshot newer than the journal's last line is harmless if the
// emptying is lost in a crash: replaying old changes over it ends in the
// same state, since it was taken right after the last of them.
func truncateJournal(path string) error {
	jp := JournalPath(path)
	f, err := os.OpenFile(jp, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open state journal: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("empty %s: %w", jp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", jp, err)
	}
	return nil
}

// replay applies the journal of the state file at path to f. A last line
// without its newline is a write a crash cut short (never acknowledged)
// and is ignored; any other line that does not parse is an error naming
// the file and line.
func replay(path string, f *File) (int, error) {
	jp := JournalPath(path)
	data, err := os.ReadFile(jp)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read state journal: %w", err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i != len(data)-1 {
		data = data[:i+1] // torn tail
	}
	idx := make(map[string]int, len(f.Leases))
	for i, l := range f.Leases {
		idx[l.ID] = i
	}
	n := 0
	for lineNo, line := range bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		var op Op
		if err := decodeStrict(line, &op); err != nil || (op.Put == nil) == (op.Del == "") || (op.Put != nil && op.Put.ID == "") {
			return 0, fmt.Errorf("state journal %s is corrupt at line %d", jp, lineNo+1)
		}
		n++
		if op.Put != nil {
			if i, ok := idx[op.Put.ID]; ok {
				f.Leases[i] = *op.Put
			} else {
				idx[op.Put.ID] = len(f.Leases)
				f.Leases = append(f.Leases, *op.Put)
			}
			continue
		}
		if i, ok := idx[op.Del]; ok {
			last := len(f.Leases) - 1
			f.Leases[i] = f.Leases[last]
			idx[f.Leases[i].ID] = i
			f.Leases = f.Leases[:last]
			delete(idx, op.Del)
		}
	}
	return n, nil
}

// LoadAll reads the state file at path and replays its journal over it.
// It also returns how many journal entries it applied.
func LoadAll(path string) (*File, int, error) {
	f, err := Load(path)
	if err != nil {
		return nil, 0, err
	}
	n, err := replay(path, f)
	if err != nil {
		return nil, 0, err
	}
	return f, n, nil
}
