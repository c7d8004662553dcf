//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The issue's headline: a system container sees a user-namespace map of an
// exclusive 65536-wide host range and its own uptime.
func TestSystemContainerHasExclusiveRangeAndOwnUptime(t *testing.T) {
	out := sysRun(t, busybox, "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; cat /proc/uptime; sleep 2; cat /proc/uptime")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("unexpected output:\n%s", out)
	}
	for _, l := range lines[:2] {
		m := parseIDMap(t, l)
		if len(m) != 1 || m[0].inside != 0 || m[0].outside == 0 || m[0].count != 65536 {
			t.Fatalf("id map %q: want '0 <non-zero host start> 65536'", l)
		}
	}
	first, second := uptimeOf(t, lines[2]), uptimeOf(t, lines[3])
	host := uptimeOf(t, readFile(t, "/proc/uptime"))
	if first > 10 {
		t.Errorf("container uptime %.2fs right after start: want a few seconds (host: %.2fs)", first, host)
	}
	if d := second - first; d < 1.9 || d > 5 {
		t.Errorf("container uptime advanced %.2fs over a 2s sleep", d)
	}
	if host-second < 1 {
		t.Errorf("container uptime %.2fs is not below the host's %.2fs: not virtualized", second, host)
	}
}

func TestTwoRunningContainersGetDisjointRanges(t *testing.T) {
	a, b := startSys(t), startSys(t)
	ra, rb := containerRange(t, a), containerRange(t, b)
	if ra.count != 65536 || rb.count != 65536 {
		t.Fatalf("ranges not 65536 wide: %+v %+v", ra, rb)
	}
	if ra.outside < rb.outside+rb.count && rb.outside < ra.outside+ra.count {
		t.Fatalf("ranges overlap: %+v and %+v", ra, rb)
	}
}

func TestRuncContainerIsUnaffected(t *testing.T) {
	out := docker(t, "run", "--rm", busybox, "cat", "/proc/self/uid_map")
	m := parseIDMap(t, out)
	if len(m) != 1 || m[0].inside != 0 || m[0].outside != 0 || m[0].count != 4294967295 {
		t.Fatalf("runc container uid_map = %q, want the host's identity map", out)
	}
}

// Image files are never chowned: the layer on disk keeps owner 0; inside,
// image files and files root creates show as root; and what root creates
// is stored on the host as uid 0 (the write goes through the ID-mapped
// upper layer, which maps container root back to 0 on disk).
func TestRootfsIsIDMappedNotChowned(t *testing.T) {
	id := startSys(t)
	inside := docker(t, "exec", id, "sh", "-c", "stat -c %u:%g /bin/busybox; echo hi > /created-by-root; stat -c %u:%g /created-by-root")
	if got := strings.Fields(inside); len(got) != 2 || got[0] != "0:0" || got[1] != "0:0" {
		t.Fatalf("inside: image file and new file owners = %q, want 0:0 and 0:0", inside)
	}
	upper := strings.TrimSpace(docker(t, "inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", id))
	lowers := strings.TrimSpace(docker(t, "inspect", "-f", "{{.GraphDriver.Data.LowerDir}}", id))
	if upper == "" || lowers == "" {
		t.Fatalf("no overlay dirs in docker inspect (upper %q lower %q)", upper, lowers)
	}
	if uid := ownerOf(t, filepath.Join(upper, "created-by-root")); uid != 0 {
		t.Errorf("file created by container root is stored as uid %d on the host, want 0", uid)
	}
	found := false
	for _, l := range strings.Split(lowers, ":") {
		p := filepath.Join(l, "bin", "busybox")
		if _, err := os.Lstat(p); err == nil {
			found = true
			if uid := ownerOf(t, p); uid != 0 {
				t.Errorf("image file %s chowned to %d on disk", p, uid)
			}
		}
	}
	if !found {
		t.Fatalf("bin/busybox not found in any lower layer %s", lowers)
	}
}

func TestStopStartKeepsRangeAndRmReleasesIt(t *testing.T) {
	id := startSys(t)
	full := fullID(t, id)
	before := containerRange(t, id)
	docker(t, "stop", "-t", "1", id)
	if _, ok := mgrLeases(t)[full]; !ok {
		t.Fatalf("lease of stopped container %s was dropped", full)
	}
	docker(t, "start", id)
	if after := containerRange(t, id); after != before {
		t.Fatalf("range changed across stop/start: %+v -> %+v", before, after)
	}
	docker(t, "rm", "-f", id)
	waitFor(t, releaseWait, "lease release after docker rm", func() bool {
		_, held := mgrLeases(t)[full]
		return !held
	})
	if m := mountsUnder(t, filepath.Join(fuseRoot, full)); len(m) != 0 {
		t.Fatalf("FUSE tree still mounted after rm: %v", m)
	}
}

func TestMgrRestartKeepsRunningLeaseAndIssuesNewRange(t *testing.T) {
	a := startSys(t)
	full := fullID(t, a)
	ra := containerRange(t, a)
	stopMgr(t, "TERM")
	startDaemons(t)
	l, ok := mgrLeases(t)[full]
	if !ok || uint64(l.GetUid()) != ra.outside {
		t.Fatalf("after restart the lease of %s is %+v, want uid %d", full, l, ra.outside)
	}
	b := startSys(t)
	rb := containerRange(t, b)
	if ra.outside < rb.outside+rb.count && rb.outside < ra.outside+ra.count {
		t.Fatalf("new container got an overlapping range after restart: %+v vs %+v", ra, rb)
	}
	// The first container still works and keeps its range.
	if again := containerRange(t, a); again != ra {
		t.Fatalf("running container's range changed: %+v -> %+v", ra, again)
	}
}

func TestMgrDownFailsFastNamingItAndLeavesNothing(t *testing.T) {
	stopMgr(t, "TERM")
	name := "sysbox-e2e-mgr-down"
	t.Cleanup(func() { run(t, "docker", "rm", "-f", name) })
	start := time.Now()
	_, err := run(t, "docker", "run", "--name", name, "--runtime="+runtime, busybox, "true")
	took := time.Since(start)
	if err == nil {
		t.Fatal("container started with sysbox-mgr down")
	}
	msg := err.Error()
	if !strings.Contains(msg, "sysbox-mgr") || !strings.Contains(msg, "/run/sysbox/sysmgr.sock") {
		t.Fatalf("error does not name sysbox-mgr and its socket:\n%s", msg)
	}
	if took > 30*time.Second {
		t.Errorf("failing took %s, want quick", took)
	}
	// Only this container's tree: other system containers may run.
	if tree := fuseRoot + "/" + fullID(t, name); len(mountsUnder(t, tree)) != 0 {
		t.Fatalf("the failed container left its fuse tree mounted at %s", tree)
	} else if _, err := os.Stat(tree); err == nil {
		t.Fatalf("the failed container left its fuse tree's directory %s", tree)
	}
	startDaemons(t)
	if l, held := mgrLeases(t)[fullID(t, name)]; held {
		t.Fatalf("the failed container holds a lease: %+v", l)
	}
}

func uptimeOf(t *testing.T, line string) float64 {
	t.Helper()
	f := strings.Fields(line)
	if len(f) != 2 {
		t.Fatalf("bad /proc/uptime line %q", line)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		t.Fatalf("bad /proc/uptime line %q", line)
	}
	return v
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ownerOf(t *testing.T, path string) int {
	t.Helper()
	out := must(t, "stat", "-c", "%u", path)
	uid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	return uid
}
