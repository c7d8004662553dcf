package sysctl

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Host is the host's /proc/sys, where emulated knobs take their starting
// values and RaiseOnly knobs raise the host's.
type Host struct {
	// Dir is the host's /proc/sys ("/proc/sys"; a fake tree in tests).
	Dir string
}

func (h Host) read(p string) (string, error) {
	b, err := os.ReadFile(filepath.Join(h.Dir, p))
	if err != nil {
		return "", fmt.Errorf("host sysctl %s: %w", p, err)
	}
	return string(bytes.TrimRight(b, "\n")), nil
}

func (h Host) write(p, v string) error {
	f, err := os.OpenFile(filepath.Join(h.Dir, p), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("host sysctl %s: %w", p, err)
	}
	_, werr := f.WriteString(v + "\n")
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("host sysctl %s: %w", p, err)
	}
	return nil
}

func (h Host) exists(p string) bool {
	st, err := os.Stat(filepath.Join(h.Dir, p))
	return err == nil && st.Mode().IsRegular()
}

// Table is the emulated knobs the host's kernel has, by path, and the
// directories that hold them.
type Table struct {
	knobs map[string]Knob
	// dirs maps a directory ("" for /proc/sys itself) to the names of the
	// emulated entries (files and directories) directly in it.
	dirs map[string][]string
}

// NewTable keeps the knobs whose host file exists under host.Dir.
func NewTable(host Host, knobs []Knob) *Table {
	t := &Table{knobs: map[string]Knob{}, dirs: map[string][]string{}}
	for _, k := range knobs {
		if !host.exists(k.HostPath()) {
			continue
		}
		t.knobs[k.Path] = k
		for p := k.Path; p != "."; p = path.Dir(p) {
			dir := path.Dir(p)
			if dir == "." {
				dir = ""
			}
			name := path.Base(p)
			if !contains(t.dirs[dir], name) {
				t.dirs[dir] = append(t.dirs[dir], name)
			}
		}
	}
	return t
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Knob returns the emulated knob at p ("kernel/panic").
func (t *Table) Knob(p string) (Knob, bool) {
	k, ok := t.knobs[p]
	return k, ok
}

// IsDir reports whether p ("net/ipv4/neigh/default") holds emulated knobs.
func (t *Table) IsDir(p string) bool {
	_, ok := t.dirs[p]
	return ok
}

// Names lists the emulated entries directly in directory p ("" for the top).
func (t *Table) Names(p string) []string { return t.dirs[p] }

// Values is one container's emulated knob values. A knob takes its
// starting value (the host's, or the knob's Initial) at its first use.
type Values struct {
	table *Table
	host  Host
	mu    sync.Mutex
	vals  map[string]string // by Knob.HostPath for RaiseOnly, Path otherwise
	// onChange, when set, is called after each successful Write.
	onChange func()
}

// NewValues starts a container's values.
func NewValues(table *Table, host Host) *Values {
	return &Values{table: table, host: host, vals: map[string]string{}}
}

// Table is the knobs these values are for.
func (v *Values) Table() *Table { return v.table }

// Snapshot returns the values in use, keyed as Load takes them back.
func (v *Values) Snapshot() map[string]string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.vals)
}

// Load sets values taken by Snapshot (from a previous daemon's record of
// the container); knobs it does not name start as usual.
func (v *Values) Load(vals map[string]string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	maps.Copy(v.vals, vals)
}

// OnChange sets fn to be called after each successful Write, so that the
// caller can record the new values.
func (v *Values) OnChange(fn func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.onChange = fn
}

func key(k Knob) string {
	if k.Policy == RaiseOnly {
		return k.HostPath() // aliases of one kernel variable share a value
	}
	return k.Path
}

// valueLocked returns the knob's current value, starting it if needed.
func (v *Values) valueLocked(k Knob) (string, error) {
	if s, ok := v.vals[key(k)]; ok {
		return s, nil
	}
	s := k.Initial
	if s == "" {
		var err error
		if s, err = v.host.read(k.HostPath()); err != nil {
			return "", err
		}
	}
	v.vals[key(k)] = s
	return s, nil
}

// Read returns the content of the knob at p, with its newline.
func (v *Values) Read(p string) ([]byte, error) {
	k, ok := v.table.Knob(p)
	if !ok {
		return nil, fmt.Errorf("sysctl %s: %w", p, syscall.ENOENT)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	s, err := v.valueLocked(k)
	if err != nil {
		return nil, err
	}
	return []byte(s + "\n"), nil
}

// Write sets the knob at p from the text written to it. A value the
// kernel would refuse fails with EINVAL. A RaiseOnly knob raises the
// host's value first when the new value is higher than the host's now;
// if that fails, the container's value does not change either.
func (v *Values) Write(p string, data []byte) error {
	k, ok := v.table.Knob(p)
	if !ok {
		return fmt.Errorf("sysctl %s: %w", p, syscall.ENOENT)
	}
	onChange, err := v.write(k, p, data)
	if err == nil && onChange != nil {
		onChange()
	}
	return err
}

func (v *Values) write(k Knob, p string, data []byte) (onChange func(), err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	old, err := v.valueLocked(k)
	if err != nil {
		return nil, err
	}
	s, err := k.Format.Canon(old, string(data))
	if err != nil {
		return nil, fmt.Errorf("sysctl %s: %w", p, err)
	}
	if k.Policy == RaiseOnly {
		if err := v.raiseHost(k, s); err != nil {
			return nil, err
		}
	}
	v.vals[key(k)] = s
	return v.onChange, nil
}

// raiseHost writes s to the host's knob if s is above the host's value.
func (v *Values) raiseHost(k Knob, s string) error {
	cur, err := v.host.read(k.HostPath())
	if err != nil {
		return err
	}
	higher, err := numericAbove(s, cur)
	if err != nil {
		return fmt.Errorf("sysctl %s: compare with host value: %w", k.Path, err)
	}
	if !higher {
		return nil
	}
	return v.host.write(k.HostPath(), s)
}

// numericAbove reports whether the first field of a is above b's.
func numericAbove(a, b string) (bool, error) {
	fa, fb := strings.Fields(a), strings.Fields(b)
	if len(fa) == 0 || len(fb) == 0 {
		return false, errors.New("empty value")
	}
	x, err := strconv.ParseUint(fa[0], 10, 64)
	if err != nil {
		return false, err
	}
	y, err := strconv.ParseUint(fb[0], 10, 64)
	if err != nil {
		return false, err
	}
	return x > y, nil
}
