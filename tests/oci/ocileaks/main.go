// Command ocileaks checks that sysbox-runc gave back everything it took for
// the containers a conformance run created: the uid/gid lease in sysbox-mgr,
// the FUSE tree in sysbox-fs and the ID-mapped rootfs staging mount. With
// -release it gives back whatever was left, so that a run never leaves a
// lease or a mount behind even when the runtime has a bug.
//
//	ocileaks [-release] IDS_FILE
//
// IDS_FILE holds one container id per line; run it after the containers were
// deleted and their bundles removed. A lease counts as left behind only when
// it outlives -lease-grace, since sysbox-mgr keeps a deleted container's lease
// until its reaper sees the rootfs gone. Each leak is printed as
// "<id>: <what>"; the exit code is 3 when something was left behind.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	ipc "github.com/sysboxd/sysboxd/sysbox-ipc"
	"github.com/sysboxd/sysboxd/sysbox-ipc/fsclient"
	"github.com/sysboxd/sysboxd/sysbox-ipc/mgrclient"
)

const exitLeaks = 3

func main() {
	leaked, err := mainErr(os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocileaks:", err)
		os.Exit(1)
	}
	if leaked {
		os.Exit(exitLeaks)
	}
}

type config struct {
	stagingRoot string
	fuseRoot    string
	mgrSocket   string
	fsSocket    string
	leaseGrace  time.Duration
}

func mainErr(args []string, stdout io.Writer) (bool, error) {
	fl := flag.NewFlagSet("ocileaks", flag.ContinueOnError)
	release := fl.Bool("release", false, "give back what was left behind")
	var cfg config
	fl.StringVar(&cfg.stagingRoot, "staging-root", "/run/sysbox/rootfs", "where sysbox-runc stages ID-mapped root filesystems")
	fl.StringVar(&cfg.fuseRoot, "fuse-root", "/var/lib/sysboxfs", "where sysbox-fs mounts the per-container FUSE trees")
	fl.StringVar(&cfg.mgrSocket, "mgr-socket", ipc.MgrSocket, "sysbox-mgr socket")
	fl.StringVar(&cfg.fsSocket, "fs-socket", ipc.FsSocket, "sysbox-fs socket")
	fl.DurationVar(&cfg.leaseGrace, "lease-grace", 10*time.Second, "how long a lease may outlive its removed rootfs (sysbox-mgr's reaper)")
	if err := fl.Parse(args); err != nil {
		return false, err
	}
	if fl.NArg() != 1 {
		return false, errors.New("usage: ocileaks [-release] IDS_FILE")
	}
	ids, err := readIDs(fl.Arg(0))
	if err != nil {
		return false, err
	}
	if len(ids) == 0 {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+cfg.leaseGrace)
	defer cancel()
	inv, err := takeInventory(ctx, cfg)
	if err != nil {
		return false, err
	}
	// sysbox-mgr keeps a deleted container's lease until its reaper sees
	// the rootfs gone (every few seconds): give it that time.
	for deadline := time.Now().Add(cfg.leaseGrace); holdsLease(ids, inv) && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		if inv, err = takeInventory(ctx, cfg); err != nil {
			return false, err
		}
	}
	leaks := findLeaks(ids, inv, cfg)
	for _, l := range leaks {
		fmt.Fprintf(stdout, "%s: %s\n", l.id, strings.Join(l.what, ", "))
	}
	if *release && len(leaks) > 0 {
		if err := releaseAll(ctx, cfg, leaks); err != nil {
			return true, err
		}
	}
	return len(leaks) > 0, nil
}

func readIDs(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read container ids: %w", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id := strings.TrimSpace(sc.Text())
		if id == "" || seen[id] {
			continue
		}
		if strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
			return nil, fmt.Errorf("read container ids: %q is not a container id", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read container ids: %w", err)
	}
	return ids, nil
}

func holdsLease(ids []string, inv inventory) bool {
	for _, id := range ids {
		if inv.leases[id] {
			return true
		}
	}
	return false
}

// inventory is what the host holds right now.
type inventory struct {
	leases map[string]bool // ids with a sysbox-mgr lease
	fsIDs  map[string]bool // ids registered with sysbox-fs
	mounts map[string]bool // mount points (host mount namespace)
	dirs   map[string]bool // paths that exist
}

func takeInventory(ctx context.Context, cfg config) (inventory, error) {
	inv := inventory{leases: map[string]bool{}, fsIDs: map[string]bool{}, mounts: map[string]bool{}, dirs: map[string]bool{}}
	mgr, err := mgrclient.New(cfg.mgrSocket)
	if err != nil {
		return inv, err
	}
	defer mgr.Close()
	mst, err := mgr.Status(ctx)
	if err != nil {
		return inv, err
	}
	for _, l := range mst.GetLeases() {
		inv.leases[l.GetId()] = true
	}
	fs, err := fsclient.New(cfg.fsSocket)
	if err != nil {
		return inv, err
	}
	defer fs.Close()
	fst, err := fs.Status(ctx)
	if err != nil {
		return inv, err
	}
	for _, c := range fst.GetContainers() {
		inv.fsIDs[c.GetId()] = true
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return inv, fmt.Errorf("read mount table: %w", err)
	}
	for mp := range mountPoints(string(mi)) {
		inv.mounts[mp] = true
	}
	for _, root := range []string{cfg.stagingRoot, cfg.fuseRoot} {
		entries, err := os.ReadDir(root)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return inv, fmt.Errorf("list %s: %w", root, err)
		}
		for _, e := range entries {
			inv.dirs[filepath.Join(root, e.Name())] = true
		}
	}
	return inv, nil
}

// mountPoints collects the mount point field of each mountinfo line, with the
// octal escapes the kernel uses for blanks decoded.
func mountPoints(mountinfo string) map[string]bool {
	out := map[string]bool{}
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) > 4 {
			out[r.Replace(f[4])] = true
		}
	}
	return out
}

// leak is what one container left behind.
type leak struct {
	id         string
	lease      bool
	fs         bool
	staging    string // staging path, when a mount or directory is left there
	stagingMnt bool
	what       []string
}

func findLeaks(ids []string, inv inventory, cfg config) []leak {
	var out []leak
	sort.Strings(ids)
	for _, id := range ids {
		l := leak{id: id}
		if inv.leases[id] {
			l.lease = true
			l.what = append(l.what, "sysbox-mgr lease")
		}
		fuse := filepath.Join(cfg.fuseRoot, id)
		if inv.fsIDs[id] || inv.mounts[fuse] {
			l.fs = true
			l.what = append(l.what, "sysbox-fs FUSE tree "+fuse)
		}
		staging := filepath.Join(cfg.stagingRoot, id)
		switch {
		case inv.mounts[staging]:
			l.staging, l.stagingMnt = staging, true
			l.what = append(l.what, "rootfs staging mount "+staging)
		case inv.dirs[staging]:
			l.staging = staging
			l.what = append(l.what, "rootfs staging dir "+staging)
		}
		if len(l.what) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// releaseAll gives back, for each leak, what sysbox-runc delete would have:
// the FUSE tree, the staging mount and the lease (with its special dirs).
func releaseAll(ctx context.Context, cfg config, leaks []leak) error {
	mgr, err := mgrclient.New(cfg.mgrSocket)
	if err != nil {
		return err
	}
	defer mgr.Close()
	fs, err := fsclient.New(cfg.fsSocket)
	if err != nil {
		return err
	}
	defer fs.Close()
	var errs []error
	for _, l := range leaks {
		if l.fs {
			if err := fs.Unregister(ctx, l.id); err != nil && !ipc.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("%s: %w", l.id, err))
			}
		}
		if l.stagingMnt {
			if err := unix.Unmount(l.staging, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("%s: unmount %s: %w", l.id, l.staging, err))
			}
		}
		if l.staging != "" {
			if err := os.Remove(l.staging); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("%s: %w", l.id, err))
			}
		}
		if l.lease {
			if err := mgr.Unregister(ctx, l.id, true); err != nil && !ipc.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("%s: %w", l.id, err))
			}
		}
	}
	return errors.Join(errs...)
}
