// Package state persists sysbox-mgr's leases: one JSON file, replaced
// atomically (temp file, fsync, rename, fsync of the directory) on every
// change, so a crash leaves either the old or the new state, never a mix.
package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sysboxd/sysboxd/internal/atomicfile"
)

// Version is the state file format this code reads and writes.
const Version = 1

// FileName is the state file's name inside the state directory.
const FileName = "state.json"

// Mount is a special dir handed to a container.
type Mount struct {
	Kind        string `json:"kind"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

// Lease is what the manager knows of one container. Size 0 means the
// container registered but holds no id block yet.
type Lease struct {
	ID     string `json:"id"`
	UID    uint32 `json:"uid"`
	GID    uint32 `json:"gid"`
	Size   uint32 `json:"size"`
	Rootfs string `json:"rootfs,omitempty"`
	// RootfsDev is the device (st_dev) of the rootfs's parent directory
	// at Register: the filesystem the engine keeps the rootfs on.
	RootfsDev uint64  `json:"rootfs_dev,omitempty"`
	Bundle    string  `json:"bundle,omitempty"`
	Running   bool    `json:"running"`
	Mounts    []Mount `json:"mounts,omitempty"`
}

// File is the state file's content.
type File struct {
	Version int     `json:"version"`
	Leases  []Lease `json:"leases"`
}

// Load reads the state file at path. A missing file is an empty state;
// anything unreadable (bad JSON, unknown fields, unknown version, a lease
// without an id or listed twice) is an error naming the file.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &File{Version: Version}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state file: %w", err)
	}
	var f File
	if err := decodeStrict(data, &f); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt: %w", path, err)
	}
	if f.Version != Version {
		return nil, fmt.Errorf("state file %s has version %d, this sysbox-mgr reads version %d", path, f.Version, Version)
	}
	seen := map[string]bool{}
	for i, l := range f.Leases {
		if l.ID == "" {
			return nil, fmt.Errorf("state file %s: lease %d has no id", path, i)
		}
		if seen[l.ID] {
			return nil, fmt.Errorf("state file %s: id %q is listed twice", path, l.ID)
		}
		seen[l.ID] = true
	}
	return &f, nil
}

// decodeStrict decodes the one JSON value data holds into v: unknown fields
// and anything but white space after the value are errors.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// Save writes f to path atomically and durably, then empties the
// journal (f must hold every change in it).
func Save(path string, f *File) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	// renameio (under atomicfile) fsyncs the file before the rename; the
	// directory is synced below, so that the rename itself is durable.
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	// The snapshot holds everything the journal did.
	return truncateJournal(path)
}
