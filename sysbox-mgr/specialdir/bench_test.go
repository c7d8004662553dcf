package specialdir

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// copyInTree writes a 100 MB image tree at rootfs/var/lib/docker: 4 files
// of 20 MB (layer blobs) and 5120 files of 4 KB in 64 dirs (metadata,
// small layer files). It returns the byte count.
func copyInTree(b *testing.B, rootfs string) int64 {
	b.Helper()
	top := filepath.Join(rootfs, "var/lib/docker")
	big := make([]byte, 20<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	var total int64
	for i := range 4 {
		p := filepath.Join(top, "blobs", fmt.Sprintf("big%d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, big, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(big))
	}
	small := big[:4096]
	for d := range 64 {
		dir := filepath.Join(top, "overlay2", fmt.Sprintf("layer%02d", d), "diff")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 80 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", f)), small, 0o644); err != nil {
				b.Fatal(err)
			}
			total += int64(len(small))
		}
	}
	return total
}

// BenchmarkCopyIn100MB seeds a special dir from a generated 100 MB image
// dir (a few big files and many small ones), owners shifted, as at a
// container's first start. ns/op is one whole copy; MB/s from SetBytes.
func BenchmarkCopyIn100MB(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (chown into the container's range)")
	}
	rootfs := b.TempDir()
	size := copyInTree(b, rootfs)
	b.SetBytes(size)
	c := &Copier{}
	work := b.TempDir()
	i := 0
	for b.Loop() {
		b.StopTimer()
		dst := filepath.Join(work, fmt.Sprintf("dst%d", i))
		i++
		if err := os.Mkdir(dst, 0o700); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := c.CopyIn(rootfs, "/var/lib/docker", dst, testOwner); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.RemoveAll(dst); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkCopyOut100MB copies the same 100 MB tree as a special dir out
// into a fresh upper dir, as at the first stop after inner Docker wrote
// it (ids shifted back, opaque, fingerprinted).
func BenchmarkCopyOut100MB(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (chown, trusted.* xattrs)")
	}
	tree := b.TempDir()
	size := copyInTree(b, tree)
	src := filepath.Join(tree, "var/lib/docker")
	b.SetBytes(size)
	c := &Copier{}
	work := b.TempDir()
	i := 0
	for b.Loop() {
		b.StopTimer()
		upper := filepath.Join(work, fmt.Sprintf("upper%d", i))
		i++
		if err := os.Mkdir(upper, 0o755); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := c.CopyOut(src, upper, "/var/lib/docker", testOwner, nil, time.Time{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.RemoveAll(upper); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
