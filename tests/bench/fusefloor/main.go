// Command fusefloor is the reference point of `make bench` (c): the least a
// go-fuse server with sysbox-fs's options (direct_io, FOPEN_NOFLUSH, one
// Go P, content built when a READ arrives at offset 0 and kept per open
// file) costs per open + read-to-EOF + close on this machine. It serves
// the given host files at the same paths under the mountpoint, each read
// building the content afresh from a copy taken at start (so a read costs
// formatting, not the host's own procfs), and /proc/uptime from the clock.
//
// usage: fusefloor MOUNTPOINT FILE... (runs until SIGINT/SIGTERM, then unmounts)
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

type dir struct{ fs.Inode }

type file struct {
	fs.Inode
	content func() []byte
}

func (f *file) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o444
	out.Size = 4096
	out.SetTimeout(time.Hour)
	return 0
}

func (f *file) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return &handle{f: f}, fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH, 0
}

type handle struct {
	f    *file
	mu   sync.Mutex
	data []byte
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off == 0 || h.data == nil {
		h.data = h.f.content()
	}
	if off >= int64(len(h.data)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(h.data[off:min(off+int64(len(dest)), int64(len(h.data)))]), 0
}

// contentOf returns the function building p's content on each read.
func contentOf(p string) (func() []byte, error) {
	if p == "/proc/uptime" {
		start := time.Now()
		return func() []byte {
			up := time.Since(start)
			return fmt.Appendf(nil, "%d.%02d %d.%02d\n", int(up.Seconds()), up.Milliseconds()/10%100,
				2*int(up.Seconds()), up.Milliseconds()/10%100)
		}, nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	lines := strings.SplitAfter(string(b), "\n")
	return func() []byte {
		out := make([]byte, 0, len(b))
		for _, l := range lines {
			out = append(out, l...)
		}
		return out
	}, nil
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: fusefloor MOUNTPOINT FILE...")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(1) // as sysbox-fs
	root := &dir{}
	contents := map[string]func() []byte{}
	for _, p := range os.Args[2:] {
		c, err := contentOf(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fusefloor:", err)
			os.Exit(1)
		}
		contents[path.Clean(p)] = c
	}
	timeout := time.Hour
	srv, err := fs.Mount(os.Args[1], root, &fs.Options{
		EntryTimeout: &timeout,
		AttrTimeout:  &timeout,
		MountOptions: fuse.MountOptions{AllowOther: true, DirectMountStrict: true, FsName: "fusefloor", Name: "fusefloor", DisableXAttrs: true},
		OnAdd: func(ctx context.Context) {
			for p, c := range contents {
				parent := &root.Inode
				parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
				for _, d := range parts[:len(parts)-1] {
					child := parent.GetChild(d)
					if child == nil {
						child = parent.NewPersistentInode(ctx, &dir{}, fs.StableAttr{Mode: syscall.S_IFDIR})
						parent.AddChild(d, child, false)
					}
					parent = child
				}
				name := parts[len(parts)-1]
				parent.AddChild(name, parent.NewPersistentInode(ctx, &file{content: c}, fs.StableAttr{Mode: syscall.S_IFREG}), false)
			}
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fusefloor: mount:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		srv.Unmount()
	}()
	fmt.Println("ready")
	srv.Wait()
}
