// Package dockercfg registers and unregisters an OCI runtime in Docker's
// daemon configuration (/etc/docker/daemon.json) without touching anything
// else in it: every other key and every other runtime keeps its value.
//
// The file is replaced atomically (a temporary file in the same directory,
// synced, then renamed over it) and keeps its mode and owner. A file that is
// not a JSON object is refused with an error naming the file and the place
// of the JSON error; it is then left as it was.
package dockercfg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// DefaultPath is where dockerd reads its configuration by default.
const DefaultPath = "/etc/docker/daemon.json"

// ErrInvalid is wrapped by the errors about a configuration file that is not
// a JSON object (or whose "runtimes" is not an object).
var ErrInvalid = errors.New("invalid Docker daemon configuration")

// Result says what an edit did.
type Result int

const (
	// Unchanged: the file already said what was asked; it was not written.
	Unchanged Result = iota
	// Added: the runtime was not registered and now is.
	Added
	// Updated: the runtime was registered with another path and now has the new one.
	Updated
	// Removed: the runtime was registered and now is not.
	Removed
)

func (r Result) String() string {
	switch r {
	case Added:
		return "added"
	case Updated:
		return "updated"
	case Removed:
		return "removed"
	}
	return "unchanged"
}

// AddRuntime makes runtimes[name].path in the file at config equal to path,
// creating the file (mode 0644) and its directory when missing. Other fields
// of an existing runtimes[name] entry (such as runtimeArgs) are kept.
func AddRuntime(config, name, path string) (Result, error) {
	if name == "" || path == "" {
		return Unchanged, errors.New("runtime name and path must not be empty")
	}
	if !filepath.IsAbs(path) {
		return Unchanged, fmt.Errorf("runtime path %q is not absolute", path)
	}
	config, err := resolve(config)
	if err != nil {
		return Unchanged, err
	}
	doc, mode, err := load(config)
	if err != nil {
		return Unchanged, err
	}
	runtimes, err := objectField(config, doc, "runtimes")
	if err != nil {
		return Unchanged, err
	}
	entry, err := objectField(config+`: "runtimes"`, runtimes, name)
	if err != nil {
		return Unchanged, err
	}
	result := Added
	if old, ok := entry["path"]; ok {
		var oldPath string
		if json.Unmarshal(old, &oldPath) == nil && oldPath == path {
			return Unchanged, nil
		}
		result = Updated
	}
	if entry["path"], err = json.Marshal(path); err != nil {
		return Unchanged, err
	}
	if err := setField(doc, runtimes, name, entry); err != nil {
		return Unchanged, err
	}
	return result, store(config, doc, mode)
}

// RemoveRuntime deletes runtimes[name] from the file at config. A missing
// file or entry is not an error (Unchanged). "runtimes" itself is kept even
// when it becomes empty: dockerd's reload (SIGHUP) replaces its set of
// runtimes only when the key is present.
func RemoveRuntime(config, name string) (Result, error) {
	if name == "" {
		return Unchanged, errors.New("runtime name must not be empty")
	}
	if _, err := os.Stat(config); errors.Is(err, fs.ErrNotExist) {
		return Unchanged, nil
	}
	config, err := resolve(config)
	if err != nil {
		return Unchanged, err
	}
	doc, mode, err := load(config)
	if err != nil {
		return Unchanged, err
	}
	if _, ok := doc["runtimes"]; !ok {
		return Unchanged, nil
	}
	runtimes, err := objectField(config, doc, "runtimes")
	if err != nil {
		return Unchanged, err
	}
	if _, ok := runtimes[name]; !ok {
		return Unchanged, nil
	}
	delete(runtimes, name)
	raw, err := json.Marshal(runtimes)
	if err != nil {
		return Unchanged, err
	}
	doc["runtimes"] = raw
	return Removed, store(config, doc, mode)
}

// RuntimePath returns runtimes[name].path of the file at config ("" when
// the file or the entry is missing).
func RuntimePath(config, name string) (string, error) {
	if _, err := os.Stat(config); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	doc, _, err := load(config)
	if err != nil {
		return "", err
	}
	runtimes, err := objectField(config, doc, "runtimes")
	if err != nil {
		return "", err
	}
	entry, err := objectField(config+`: "runtimes"`, runtimes, name)
	if err != nil {
		return "", err
	}
	var p string
	if raw, ok := entry["path"]; ok {
		if err := json.Unmarshal(raw, &p); err != nil {
			return "", fmt.Errorf("%s: runtimes.%s.path is not a string: %w", config, name, ErrInvalid)
		}
	}
	return p, nil
}

// resolve follows a symbolic link at config, so that the file it points to
// is replaced and the link kept.
func resolve(config string) (string, error) {
	st, err := os.Lstat(config)
	if err != nil || st.Mode()&fs.ModeSymlink == 0 {
		return config, nil
	}
	target, err := filepath.EvalSymlinks(config)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", config, err)
	}
	return target, nil
}

// load reads the file as a JSON object (an empty or missing file is an
// empty object) and returns it with the file's mode (0644 for a new file).
func load(config string) (map[string]json.RawMessage, fs.FileMode, error) {
	data, err := os.ReadFile(config)
	mode := fs.FileMode(0o644)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return map[string]json.RawMessage{}, mode, nil
	case err != nil:
		return nil, 0, fmt.Errorf("read Docker configuration: %w", err)
	}
	if st, err := os.Stat(config); err == nil {
		mode = st.Mode().Perm()
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return map[string]json.RawMessage{}, mode, nil
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, 0, fmt.Errorf("%s: %s: %w", config, describe(data, err), ErrInvalid)
	}
	if doc == nil { // the file says "null"
		return nil, 0, fmt.Errorf("%s: the top level is null, not an object: %w", config, ErrInvalid)
	}
	return doc, mode, nil
}

// describe turns a JSON decoding error into a message with a line and column.
func describe(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return fmt.Sprintf("line %d, column %d: %v", line, col, syn)
	case errors.As(err, &typ):
		return fmt.Sprintf("the top level is a JSON %s, not an object", typ.Value)
	}
	return err.Error()
}

// position converts a byte offset (as json.SyntaxError gives it: just past
// the offending byte) into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line, col = 1, 0
	for _, b := range data[:offset] {
		if b == '\n' {
			line++
			col = 0
			continue
		}
		col++
	}
	if col == 0 {
		col = 1
	}
	return line, col
}

// objectField decodes doc[key] as an object (empty when absent); where names
// the place in messages.
func objectField(where string, doc map[string]json.RawMessage, key string) (map[string]json.RawMessage, error) {
	raw, ok := doc[key]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return map[string]json.RawMessage{}, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("%s: %q is not an object: %w", where, key, ErrInvalid)
	}
	return obj, nil
}

// setField stores entry as runtimes[name] and runtimes as doc["runtimes"].
func setField(doc, runtimes map[string]json.RawMessage, name string, entry map[string]json.RawMessage) error {
	raw, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	runtimes[name] = raw
	if raw, err = json.Marshal(runtimes); err != nil {
		return err
	}
	doc["runtimes"] = raw
	return nil
}

// store writes doc to config atomically with mode, keeping the owner of an
// existing file, and syncs the file and its directory.
func store(config string, doc map[string]json.RawMessage, mode fs.FileMode) error {
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", config, err)
	}
	out = append(out, '\n')
	dir := filepath.Dir(config)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(config)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", config, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if st, err := os.Stat(config); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && (int(sys.Uid) != os.Geteuid() || int(sys.Gid) != os.Getegid()) {
			if err := tmp.Chown(int(sys.Uid), int(sys.Gid)); err != nil {
				tmp.Close()
				return fmt.Errorf("write %s: keep owner: %w", config, err)
			}
		}
	}
	_, err = tmp.Write(out)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), config)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", config, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: the rename is done either way
		d.Close()
	}
	return nil
}
