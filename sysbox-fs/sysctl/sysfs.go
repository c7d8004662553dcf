package sysctl

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"os"
	"sync"
)

// productUUIDNamespace is the name-based UUID namespace of container
// product UUIDs (a random UUID chosen for Sysboxd).
var productUUIDNamespace = [16]byte{
	0x5f, 0x3c, 0x0e, 0x4e, 0x8a, 0x4b, 0x4c, 0x1d, 0x9b, 0x67, 0x2f, 0x0d, 0x6c, 0x1e, 0x7a, 0x93,
}

// ProductUUID is the DMI product UUID a container sees
// (/sys/devices/virtual/dmi/id/product_uuid): a version 5 UUID of the
// container id, so it is stable for a container and differs between
// containers (Kubernetes takes it as the node's identity).
func ProductUUID(id string) string {
	h := sha1.New()
	h.Write(productUUIDNamespace[:])
	h.Write([]byte(id))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Value is one per-container value outside /proc/sys (a module parameter
// such as nf_conntrack's hashsize): it starts from the host file's value
// at its first use, takes writes checked by its Format and never writes
// the host.
type Value struct {
	hostFile string
	format   Format

	mu  sync.Mutex
	val string
	set bool
}

// NewValue is a value that starts from hostFile's content.
func NewValue(hostFile string, f Format) *Value {
	return &Value{hostFile: hostFile, format: f}
}

func (v *Value) currentLocked() (string, error) {
	if v.set {
		return v.val, nil
	}
	b, err := os.ReadFile(v.hostFile)
	if err != nil {
		return "", fmt.Errorf("host value: %w", err)
	}
	v.val, v.set = string(bytes.TrimRight(b, "\n")), true
	return v.val, nil
}

// Read returns the value with a newline.
func (v *Value) Read() ([]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, err := v.currentLocked()
	if err != nil {
		return nil, err
	}
	return []byte(s + "\n"), nil
}

// Write sets the value from the text written.
func (v *Value) Write(data []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	old, err := v.currentLocked()
	if err != nil {
		return err
	}
	s, err := v.format.Canon(old, string(data))
	if err != nil {
		return err
	}
	v.val = s
	return nil
}
