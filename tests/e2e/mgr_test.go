//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dataRoot is sysbox-mgr's default data root (special dirs live below it).
const dataRoot = "/var/lib/sysbox"

// specialDir is the host dir backing /var/lib/docker of container full.
func specialDir(full string) string { return filepath.Join(dataRoot, "docker", full) }

// hostDirsOf lists every special dir (any kind, half-made ones too) of
// container full that exists on the host.
func hostDirsOf(t *testing.T, full string) []string {
	t.Helper()
	kinds, err := os.ReadDir(dataRoot)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range kinds {
		for _, name := range []string{full, ".tmp-" + full} {
			p := filepath.Join(dataRoot, k.Name(), name)
			if _, err := os.Lstat(p); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// hostOwner returns the host uid and gid of path.
func hostOwner(t *testing.T, path string) (uid, gid uint64) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return uint64(st.Uid), uint64(st.Gid)
}

// waitReleased waits until sysbox-mgr holds no lease for full and every
// special dir of full is gone from the host.
func waitReleased(t *testing.T, full string) {
	t.Helper()
	waitFor(t, releaseWait, "lease and special dirs of "+full+" to be released", func() bool {
		_, held := mgrLeases(t)[full]
		return !held && len(hostDirsOf(t, full)) == 0
	})
}

func overlaps(a, b idRange) bool {
	return a.outside < b.outside+b.count && b.outside < a.outside+a.count
}

func TestTenConcurrentContainersGetPairwiseDisjointRanges(t *testing.T) {
	const n = 10
	names := make([]string, n)
	for i := range names {
		names[i] = uniqueName(t)
		name := names[i]
		t.Cleanup(func() { run(t, "docker", "rm", "-f", name) })
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = run(t, "docker", "run", "-d", "--name", name, "--runtime="+runtime, busybox, "sleep", "3600")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("container %d of %d started in parallel failed: %v", i+1, n, err)
		}
	}
	leases := mgrLeases(t)
	ranges := make([]idRange, n)
	for i, name := range names {
		ranges[i] = containerRange(t, name)
		r := ranges[i]
		if r.inside != 0 || r.count != 65536 {
			t.Fatalf("%s: uid_map %+v, want 0 <start> 65536", name, r)
		}
		l, ok := leases[fullID(t, name)]
		if !ok || uint64(l.GetUid()) != r.outside || l.GetSize() != 65536 {
			t.Fatalf("%s: sysbox-mgr lease %+v does not match uid_map %+v", name, l, r)
		}
		gm := parseIDMap(t, docker(t, "exec", name, "cat", "/proc/self/gid_map"))
		if len(gm) != 1 || gm[0].outside != uint64(l.GetGid()) || gm[0].count != 65536 {
			t.Fatalf("%s: gid_map %+v does not match lease gid %d", name, gm, l.GetGid())
		}
	}
	for i := range ranges {
		for j := i + 1; j < n; j++ {
			if overlaps(ranges[i], ranges[j]) {
				t.Fatalf("%s %+v and %s %+v overlap", names[i], ranges[i], names[j], ranges[j])
			}
		}
	}
}

func TestStopStartKeepsRangeAndInnerDockerData(t *testing.T) {
	id := startSys(t)
	full := fullID(t, id)
	r := containerRange(t, id)
	docker(t, "exec", id, "sh", "-c", "echo kept > /var/lib/docker/probe && mkdir /var/lib/docker/d && chown 1000:1000 /var/lib/docker/d")

	host := specialDir(full)
	if got := readFile(t, filepath.Join(host, "probe")); got != "kept\n" {
		t.Fatalf("host special dir file = %q, want %q", got, "kept\n")
	}
	for path, want := range map[string]uint64{host: r.outside, filepath.Join(host, "probe"): r.outside, filepath.Join(host, "d"): r.outside + 1000} {
		if uid, gid := hostOwner(t, path); uid != want || gid != want {
			t.Errorf("%s owned by %d:%d on the host, want %d:%d (container's range)", path, uid, gid, want, want)
		}
	}

	canary := startSys(t)
	canaryFull := fullID(t, canary)
	merged := inspect(t, id, "{{.GraphDriver.Data.MergedDir}}")
	docker(t, "stop", "-t", "1", id)
	// Docker removes the layer's merged dir at stop; the reaper must not
	// take that for a removal. Once it is gone, remove another container:
	// the reaper pass that releases that one also looked at this one.
	waitFor(t, 10*time.Second, "docker to remove "+merged+" at stop", func() bool {
		_, err := os.Stat(merged)
		return errors.Is(err, os.ErrNotExist)
	})
	docker(t, "rm", "-f", canary)
	waitReleased(t, canaryFull)
	if l, ok := mgrLeases(t)[full]; !ok || l.GetRunning() {
		t.Fatalf("stopped container's lease: %+v (held %v), want held and not running", l, ok)
	}
	docker(t, "start", id)
	if after := containerRange(t, id); after != r {
		t.Fatalf("range changed across stop/start: %+v -> %+v", r, after)
	}
	out := docker(t, "exec", id, "sh", "-c", "cat /var/lib/docker/probe; stat -c '%u:%g' /var/lib/docker/d /var/lib/docker")
	if want := "kept\n1000:1000\n0:0\n"; out != want {
		t.Fatalf("inside after stop/start:\n%s\nwant:\n%s", out, want)
	}
}

func TestRmReleasesLeaseAndDeletesSpecialDirs(t *testing.T) {
	id := startSys(t)
	full := fullID(t, id)
	docker(t, "exec", id, "sh", "-c", "echo x > /var/lib/docker/f; echo y > /var/lib/containerd/g")
	if len(hostDirsOf(t, full)) == 0 {
		t.Fatalf("no special dirs under %s for a running container", dataRoot)
	}
	docker(t, "stop", "-t", "1", id)
	start := time.Now()
	docker(t, "rm", id)
	waitReleased(t, full)
	t.Logf("lease and dirs released %s after docker rm", time.Since(start).Round(time.Millisecond))
}

func TestRunRmReleasesLeaseAndDeletesSpecialDirs(t *testing.T) {
	cidFile := filepath.Join(t.TempDir(), "cid")
	name := uniqueName(t)
	t.Cleanup(func() { run(t, "docker", "rm", "-f", name) })
	out := docker(t, "run", "--rm", "--name", name, "--cidfile", cidFile, "--runtime="+runtime, busybox,
		"sh", "-c", "echo x > /var/lib/docker/f && cat /var/lib/docker/f")
	if out != "x\n" {
		t.Fatalf("output %q", out)
	}
	full := strings.TrimSpace(readFile(t, cidFile))
	waitReleased(t, full)
}

func TestUserBindMountAtVarLibDockerWinsOverSpecialDir(t *testing.T) {
	hostDir := t.TempDir()
	if err := os.Chmod(hostDir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hostDir, "mine"), []byte("user data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := startSys(t, "-v", hostDir+":/var/lib/docker")
	full := fullID(t, id)
	if out := docker(t, "exec", id, "cat", "/var/lib/docker/mine"); out != "user data\n" {
		t.Fatalf("inside /var/lib/docker/mine = %q: the user's mount is not at /var/lib/docker", out)
	}
	docker(t, "exec", id, "sh", "-c", "echo from inside > /var/lib/docker/new")
	if got := readFile(t, filepath.Join(hostDir, "new")); got != "from inside\n" {
		t.Fatalf("file written inside landed elsewhere: host dir has %q", got)
	}
	if _, err := os.Lstat(specialDir(full)); !os.IsNotExist(err) {
		t.Fatalf("special dir %s exists although the user mounts /var/lib/docker (err %v)", specialDir(full), err)
	}
	l := mgrLeases(t)[full]
	for _, m := range l.GetMounts() {
		if m.GetDestination() == "/var/lib/docker" {
			t.Fatalf("sysbox-mgr handed out a mount for /var/lib/docker: %+v", m)
		}
	}
	if len(l.GetMounts()) == 0 {
		t.Fatalf("the other special dirs are missing: %+v", l)
	}
}

// seedImage imports a tiny image: busybox plus the given files (path ->
// uid, content), removed when the test ends.
func seedImage(t *testing.T, files map[string]seedFile) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed to build the test image: %v", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body []byte) {
		h.Size = int64(len(body))
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(1700000000, 0)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	dirs := map[string]bool{}
	mkdirs := func(p string) {
		var parts []string
		for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
			parts = append(parts, d)
		}
		for i := len(parts) - 1; i >= 0; i-- {
			if !dirs[parts[i]] {
				dirs[parts[i]] = true
				add(&tar.Header{Typeflag: tar.TypeDir, Name: parts[i] + "/", Mode: 0o755}, nil)
			}
		}
	}
	mkdirs("bin/busybox")
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755}, bb)
	for _, app := range []string{"sh", "cat", "stat", "sleep", "ls", "echo", "find", "mkdir", "chown", "rm"} {
		add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + app, Linkname: "busybox", Mode: 0o777}, nil)
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := files[p]
		mkdirs(p)
		add(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: 0o644, Uid: f.uid, Gid: f.uid}, []byte(f.content))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(tarPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := "sysbox-e2e-seed:" + strings.TrimPrefix(uniqueName(t), "sysbox-e2e-")
	t.Cleanup(func() { run(t, "docker", "rmi", "-f", tag) })
	docker(t, "import", "--change", "CMD [\"/bin/sh\"]", tarPath, tag)
	return tag
}

type seedFile struct {
	uid     int
	content string
}

func TestImageContentAtVarLibDockerIsCopiedInWithOwners(t *testing.T) {
	img := seedImage(t, map[string]seedFile{
		"var/lib/docker/x":         {uid: 1000, content: "from the image\n"},
		"var/lib/docker/sub/y":     {uid: 0, content: "root file\n"},
		"var/lib/containerd/z.cfg": {uid: 33, content: "cfg\n"},
	})
	name := uniqueName(t)
	t.Cleanup(func() { run(t, "docker", "rm", "-f", name) })
	docker(t, "run", "-d", "--name", name, "--runtime="+runtime, img, "sleep", "3600")
	full := fullID(t, name)
	r := containerRange(t, name)
	out := docker(t, "exec", name, "sh", "-c",
		"stat -c '%u:%g %n' /var/lib/docker/x /var/lib/docker/sub/y /var/lib/containerd/z.cfg; cat /var/lib/docker/x")
	want := "1000:1000 /var/lib/docker/x\n0:0 /var/lib/docker/sub/y\n33:33 /var/lib/containerd/z.cfg\nfrom the image\n"
	if out != want {
		t.Fatalf("inside:\n%s\nwant:\n%s", out, want)
	}
	hx := filepath.Join(specialDir(full), "x")
	if uid, gid := hostOwner(t, hx); uid != r.outside+1000 || gid != r.outside+1000 {
		t.Fatalf("%s owned by %d:%d on the host, want %d (range start + 1000)", hx, uid, gid, r.outside+1000)
	}
	// The copy is the container's: writing it does not touch the image.
	docker(t, "exec", name, "sh", "-c", "echo changed > /var/lib/docker/x")
	if out := docker(t, "run", "--rm", img, "cat", "/var/lib/docker/x"); out != "from the image\n" {
		t.Fatalf("image content changed to %q", out)
	}
}

func TestMgrKill9KeepsRunningLeasesAndCleansUpRemovedAtStart(t *testing.T) {
	keep := startSys(t)
	gone := startSys(t)
	keepFull, goneFull := fullID(t, keep), fullID(t, gone)
	rKeep := containerRange(t, keep)
	docker(t, "exec", keep, "sh", "-c", "echo survives > /var/lib/docker/probe")
	docker(t, "exec", gone, "sh", "-c", "echo doomed > /var/lib/docker/probe")
	// Stopped while sysbox-mgr is up: removing a stopped container does
	// not call the runtime, so only the manager's start can notice it.
	docker(t, "stop", "-t", "1", gone)
	keepDirs := hostDirsOf(t, keepFull)
	if len(keepDirs) == 0 || len(hostDirsOf(t, goneFull)) == 0 {
		t.Fatal("special dirs missing before the crash")
	}

	stopMgr(t, "KILL")
	downAt := time.Now()
	docker(t, "rm", gone)
	startDaemons(t)
	t.Logf("sysbox-mgr was down for %s", time.Since(downAt).Round(time.Millisecond))

	leases := mgrLeases(t)
	if l, ok := leases[keepFull]; !ok || uint64(l.GetUid()) != rKeep.outside || !l.GetRunning() {
		t.Fatalf("running container's lease after kill -9 + start: %+v (held %v), want uid %d running", l, ok, rKeep.outside)
	}
	if l, ok := leases[goneFull]; ok {
		t.Fatalf("container removed while sysbox-mgr was down still holds %+v after start", l)
	}
	if d := hostDirsOf(t, goneFull); len(d) != 0 {
		t.Fatalf("special dirs of the removed container left after start: %v", d)
	}
	if d := hostDirsOf(t, keepFull); fmt.Sprint(d) != fmt.Sprint(keepDirs) {
		t.Fatalf("running container's special dirs changed: %v -> %v", keepDirs, d)
	}
	if out := docker(t, "exec", keep, "cat", "/var/lib/docker/probe"); out != "survives\n" {
		t.Fatalf("running container's inner data after the crash: %q", out)
	}
	if again := containerRange(t, keep); again != rKeep {
		t.Fatalf("running container's range changed: %+v -> %+v", rKeep, again)
	}

	fresh := startSys(t)
	rFresh := containerRange(t, fresh)
	for id, l := range mgrLeases(t) {
		if id == fullID(t, fresh) || l.GetSize() == 0 {
			continue
		}
		other := idRange{outside: uint64(l.GetUid()), count: uint64(l.GetSize())}
		if overlaps(rFresh, other) {
			t.Fatalf("new container's range %+v overlaps the lease of %s %+v", rFresh, id, l)
		}
	}
}

// upperDir is Docker's overlay2 upper dir of a container (what docker
// commit archives).
func upperDir(t *testing.T, name string) string {
	t.Helper()
	return strings.TrimSpace(docker(t, "inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", name))
}

// A system container's /var/lib/docker is a host dir bound over the
// rootfs, which docker commit does not archive: sysbox-mgr copies it into
// the container's layer when the container stops.
func TestCommitOfStoppedContainerCapturesInnerDockerData(t *testing.T) {
	id := startSys(t)
	docker(t, "exec", id, "sh", "-c", `set -e
		mkdir -p /var/lib/docker/overlay2/l1/diff/etc
		echo inner > /var/lib/docker/overlay2/l1/diff/etc/conf
		chown -R 1000:1000 /var/lib/docker/overlay2/l1/diff/etc
		mknod /var/lib/docker/overlay2/l1/diff/etc/deleted c 0 0
		ln /var/lib/docker/overlay2/l1/diff/etc/conf /var/lib/docker/overlay2/l1/diff/etc/conf.link`)
	docker(t, "stop", "-t", "1", id)

	// The copy in the upper dir holds in-container ids, like every file
	// Docker keeps in a layer, and no whiteout of its own.
	up := filepath.Join(upperDir(t, id), "var/lib/docker")
	if uid, gid := hostOwner(t, filepath.Join(up, "overlay2/l1/diff/etc/conf")); uid != 1000 || gid != 1000 {
		t.Fatalf("copy in the upper dir owned by %d:%d, want 1000:1000", uid, gid)
	}
	if _, err := os.Lstat(filepath.Join(up, "overlay2/l1/diff/etc/deleted")); !os.IsNotExist(err) {
		t.Fatalf("inner whiteout stored as a whiteout of the container's own layer: %v", err)
	}

	img := "sysbox-e2e-commit:" + strings.TrimPrefix(uniqueName(t), "sysbox-e2e-")
	t.Cleanup(func() { run(t, "docker", "rmi", "-f", img) })
	docker(t, "commit", id, img)
	out := sysRun(t, img, "sh", "-c", `cd /var/lib/docker/overlay2/l1/diff/etc
		cat conf; stat -c '%u:%g %h' conf; stat -c '%F %t:%T %u' deleted; ls -A /var/lib/docker`)
	want := "inner\n1000:1000 2\ncharacter special file 0:0 0\noverlay2\n"
	if out != want {
		t.Fatalf("container from the committed image sees:\n%s\nwant:\n%s", out, want)
	}

	// The container itself starts with its data once, not twice, and a
	// stop without changes does not copy again.
	ino := func() uint64 {
		fi, err := os.Lstat(up)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	before := ino()
	docker(t, "start", id)
	if out := docker(t, "exec", id, "ls", "-A", "/var/lib/docker"); out != "overlay2\n" {
		t.Fatalf("after start, /var/lib/docker has %q", out)
	}
	docker(t, "stop", "-t", "1", id)
	if ino() != before {
		t.Fatal("unchanged special dir copied out again at the second stop")
	}
}

// The real thing: images and containers of a Docker running inside a
// system container survive docker commit of that container.
func TestCommitCapturesInnerDockerImagesAndContainers(t *testing.T) {
	const dind = "sysbox-test/debian-docker"
	name := uniqueName(t)
	t.Cleanup(func() { run(t, "docker", "rm", "-f", name) })
	// dockerd as PID 1 stops cleanly on docker stop (no stale pid files in
	// the committed rootfs).
	docker(t, "run", "-d", "--name", name, "--runtime="+runtime, dind, "sh", "-c", "exec dockerd >/var/log/dockerd.log 2>&1")
	waitInnerDocker(t, name)
	img, err := run(t, "sh", "-c", "docker save "+busybox+" | docker exec -i "+name+" docker load")
	if err != nil {
		t.Fatalf("loading an image into the inner Docker: %v (%s)", err, img)
	}
	docker(t, "exec", name, "docker", "run", "--name", "inner1", busybox, "sh", "-c", "echo inner data > /f")
	docker(t, "stop", "-t", "30", name)

	committed := "sysbox-e2e-dind:" + strings.TrimPrefix(uniqueName(t), "sysbox-e2e-")
	t.Cleanup(func() { run(t, "docker", "rmi", "-f", committed) })
	docker(t, "commit", name, committed)
	second := uniqueName(t)
	t.Cleanup(func() { run(t, "docker", "rm", "-f", second) })
	docker(t, "run", "-d", "--name", second, "--runtime="+runtime, committed, "sh", "-c", "exec dockerd >/var/log/dockerd.log 2>&1")
	waitInnerDocker(t, second)
	out := docker(t, "exec", second, "sh", "-c", "docker images --format '{{.Repository}}'; docker ps -a --format '{{.Names}}'; docker start -a inner1 >/dev/null; docker cp inner1:/f - | tar xO; docker run --rm "+busybox+" echo inner run ok")
	want := busybox + "\ninner1\ninner data\ninner run ok\n"
	if out != want {
		t.Fatalf("inner Docker of the committed image:\n%s\nwant:\n%s", out, want)
	}
}

func waitInnerDocker(t *testing.T, name string) {
	t.Helper()
	waitFor(t, 60*time.Second, "inner dockerd in "+name, func() bool {
		_, err := run(t, "docker", "exec", name, "docker", "info")
		return err == nil
	})
}
