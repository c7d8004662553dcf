//go:build e2e

package e2e

// sysbox-runc's command line as engines and scripts use it: each test runs
// the same bundle under sysbox-runc and, where it is installed, under runc,
// and expects the same behaviour from both.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cliRuntimes are the runtimes a test compares: sysbox-runc, and runc when
// it is installed (Debian's runc package or Docker's /usr/bin/runc).
func cliRuntimes(t *testing.T) []string {
	t.Helper()
	rts := []string{runtime}
	if p, err := exec.LookPath("runc"); err == nil {
		rts = append(rts, p)
	} else {
		t.Logf("runc is not installed: checking sysbox-runc alone")
	}
	return rts
}

// editSpec applies a jq filter to the bundle's config.json.
func editSpec(t *testing.T, dir, filter string) {
	t.Helper()
	cfg := filepath.Join(dir, "config.json")
	must(t, "sh", "-c", "jq '"+filter+"' "+cfg+" > "+cfg+".new && mv "+cfg+".new "+cfg)
}

// cliID is a container id for runtime rt no other test uses.
func cliID(t *testing.T, rt string) string {
	return "e2e-cli-" + filepath.Base(rt) + "-" + strings.TrimPrefix(uniqueName(t), "sysbox-e2e-")
}

// startDetached runs the bundle's container detached under rt (its process
// sleeps) and returns the --root it lives in; it is deleted at the end.
func startDetached(t *testing.T, rt, dir, id string) string {
	t.Helper()
	root := t.TempDir()
	t.Cleanup(func() { run(t, rt, "--root", root, "delete", "--force", id) })
	must(t, rt, "--root", root, "run", "--detach", "--bundle", dir, id)
	return root
}

// sleepingBundle is a bundle whose process sleeps, without a terminal.
func sleepingBundle(t *testing.T) string {
	t.Helper()
	dir := bundle(t)
	setProcess(t, dir, "sleep", "3600")
	return dir
}

// exitCodeOf is the exit code in an error from run, or -1.
func exitCodeOf(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// initPid is the host pid of the container's init, from `state`.
func initPid(t *testing.T, rt, root, id string) int {
	t.Helper()
	var st struct {
		Pid    int    `json:"pid"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(must(t, rt, "--root", root, "state", id)), &st); err != nil {
		t.Fatalf("%s state: %v", rt, err)
	}
	return st.Pid
}

// hostCgroupFile reads a file of the v1 controller's cgroup of pid.
func hostCgroupFile(t *testing.T, pid int, controller, file string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				return strings.TrimSpace(readFile(t, filepath.Join("/sys/fs/cgroup", parts[1], parts[2], file)))
			}
		}
	}
	t.Fatalf("pid %d has no %s cgroup:\n%s", pid, controller, b)
	return ""
}

// TestRuncCLIExecRunsAsTheSpecUser: exec without --user runs as the spec's
// process.user (and in its cwd), and --user uid keeps the spec's gid.
func TestRuncCLIExecRunsAsTheSpecUser(t *testing.T) {
	for _, rt := range cliRuntimes(t) {
		t.Run(filepath.Base(rt), func(t *testing.T) {
			dir := sleepingBundle(t)
			editSpec(t, dir, `.process.user={"uid":1000,"gid":1001} | .process.cwd="/tmp"`)
			id := cliID(t, rt)
			root := startDetached(t, rt, dir, id)
			out := must(t, rt, "--root", root, "exec", id, "sh", "-c", "echo $(id -u) $(id -g) $(pwd)")
			if got := strings.TrimSpace(out); got != "1000 1001 /tmp" {
				t.Errorf("exec without --user: %q, want the spec's user and cwd %q", got, "1000 1001 /tmp")
			}
			out = must(t, rt, "--root", root, "exec", "--user", "0", id, "sh", "-c", "echo $(id -u) $(id -g)")
			if got := strings.TrimSpace(out); got != "0 1001" {
				t.Errorf("exec --user 0: %q, want %q (the spec's gid stays)", got, "0 1001")
			}
		})
	}
}

// inTerminal runs a shell command line under script(1), which gives it a
// terminal, and returns what it wrote (raw bytes, no translation by us).
func inTerminal(t *testing.T, cmdline string) string {
	t.Helper()
	if _, err := exec.LookPath("script"); err != nil {
		t.Fatalf("script(1) (util-linux) is needed to give the runtime a terminal: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "script", "-qec", cmdline, "/dev/null")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%q", cmdline, err, out)
	}
	return string(out)
}

// TestRuncCLITerminalTranslatesLineEndsOnce: with a terminal (run in the
// foreground, exec -t) the runtime turns ONLCR off on the container's pty,
// as runc does: only the caller's terminal turns "\n" into "\r\n" (under
// script(1) the output reads "a\r\n", never "a\r\r\n"), and with no
// terminal on the caller's side the lines come through as "\n".
func TestRuncCLITerminalTranslatesLineEndsOnce(t *testing.T) {
	for _, rt := range cliRuntimes(t) {
		t.Run(filepath.Base(rt), func(t *testing.T) {
			dir := bundle(t)
			editSpec(t, dir, `.process.terminal=true | .process.args=["printf","run-a\nrun-b\n"]`)
			root := t.TempDir()
			id := cliID(t, rt)
			t.Cleanup(func() { run(t, rt, "--root", root, "delete", "--force", id) })
			out := inTerminal(t, rt+" --root "+root+" run --bundle "+dir+" "+id)
			if !strings.Contains(out, "run-a\r\nrun-b\r\n") || strings.Contains(out, "\r\r") {
				t.Errorf("run with a terminal wrote %q, want each line end translated once (\\r\\n)", out)
			}

			sdir := sleepingBundle(t)
			sid := cliID(t, rt)
			sroot := startDetached(t, rt, sdir, sid)
			// The runtime turns ONLCR off once the terminal reaches it, while
			// the exec'd program may already run (runc alike): write after a
			// moment.
			out = inTerminal(t, rt+` --root `+sroot+` exec -t `+sid+` sh -c 'sleep 1; printf "exec-a\nexec-b\n"'`)
			if !strings.Contains(out, "exec-a\r\nexec-b\r\n") || strings.Contains(out, "\r\r") {
				t.Errorf("exec -t wrote %q, want each line end translated once (\\r\\n)", out)
			}
			if rt != runtime {
				return // runc's exec -t needs a terminal of its own
			}
			out = must(t, rt, "--root", sroot, "exec", "-t", sid, "sh", "-c", `sleep 1; printf "exec-a\nexec-b\n"`)
			if out != "exec-a\nexec-b\n" {
				t.Errorf("exec -t into a pipe wrote %q, want %q", out, "exec-a\nexec-b\n")
			}
		})
	}
}

// TestRuncCLIUpdateTakesFlagsAfterTheID: `update <id> --pids-limit N
// --cpu-share S` (flags after the id) changes the container's cgroups, and
// so do --cpu-idle and per-device blkio limits given with -r.
func TestRuncCLIUpdateTakesFlagsAfterTheID(t *testing.T) {
	needCgroupV1(t) // reads the v1 files; TestCgroupV2DockerUpdateIsSeenInside covers update on v2
	for _, rt := range cliRuntimes(t) {
		t.Run(filepath.Base(rt), func(t *testing.T) {
			id := cliID(t, rt)
			root := startDetached(t, rt, sleepingBundle(t), id)
			must(t, rt, "--root", root, "update", id, "--pids-limit", "42", "--cpu-share", "512", "--memory", "300m")
			pid := initPid(t, rt, root, id)
			for _, c := range []struct{ controller, file, want string }{
				{"pids", "pids.max", "42"},
				{"cpu", "cpu.shares", "512"},
				{"memory", "memory.limit_in_bytes", strconv.Itoa(300 << 20)},
			} {
				if got := hostCgroupFile(t, pid, c.controller, c.file); got != c.want {
					t.Errorf("after update, %s = %s, want %s", c.file, got, c.want)
				}
			}

			// runc takes --cpu-idle and per-device limits in -r since 1.2
			// (Debian 12 ships 1.1.5): sysbox-runc follows runc 1.2+.
			if !runcAtLeast12(t, rt) {
				t.Logf("%s is older than 1.2: --cpu-idle and -r per-device limits checked on sysbox-runc only", rt)
				return
			}
			must(t, rt, "--root", root, "update", id, "--cpu-idle", "1")
			if got := hostCgroupFile(t, pid, "cpu", "cpu.idle"); got != "1" {
				t.Errorf("after update --cpu-idle 1, cpu.idle = %s, want 1", got)
			}

			// Per-device limits come in through -r, as with runc.
			dev := blockDevice(t)
			res := filepath.Join(t.TempDir(), "resources.json")
			if err := os.WriteFile(res, []byte(`{"blockIO":{"throttleReadBpsDevice":[{"major":`+dev[0]+`,"minor":`+dev[1]+
				`,"rate":1048576}],"throttleWriteIOPSDevice":[{"major":`+dev[0]+`,"minor":`+dev[1]+`,"rate":300}]}}`), 0o644); err != nil {
				t.Fatal(err)
			}
			must(t, rt, "--root", root, "update", id, "-r", res)
			for file, want := range map[string]string{
				"blkio.throttle.read_bps_device":   dev[0] + ":" + dev[1] + " 1048576",
				"blkio.throttle.write_iops_device": dev[0] + ":" + dev[1] + " 300",
			} {
				if got := hostCgroupFile(t, pid, "blkio", file); got != want {
					t.Errorf("after update -r, %s = %q, want %q", file, got, want)
				}
			}
		})
	}
}

// runcAtLeast12 reports whether runtime rt is sysbox-runc or a runc of
// version 1.2 or later ("runc version 1.1.5+ds1" is not).
func runcAtLeast12(t *testing.T, rt string) bool {
	t.Helper()
	if rt == runtime {
		return true
	}
	out := must(t, rt, "--version")
	var major, minor int
	if _, err := fmt.Sscanf(out, "runc version %d.%d", &major, &minor); err != nil {
		t.Fatalf("%s --version: %q: %v", rt, out, err)
	}
	return major > 1 || major == 1 && minor >= 2
}

// blockDevice is the major and minor of a block device of the host: a disk
// if there is one, else a loop, zram or ram device.
func blockDevice(t *testing.T) [2]string {
	t.Helper()
	paths, _ := filepath.Glob("/sys/block/*/dev")
	var fallback [2]string
	for _, p := range paths {
		major, minor, ok := strings.Cut(strings.TrimSpace(readFile(t, p)), ":")
		if !ok {
			continue
		}
		name := filepath.Base(filepath.Dir(p))
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "zram") || strings.HasPrefix(name, "ram") {
			if fallback[0] == "" {
				fallback = [2]string{major, minor}
			}
			continue
		}
		return [2]string{major, minor}
	}
	if fallback[0] == "" {
		t.Fatal("no block device in /sys/block")
	}
	return fallback
}

// TestRuncCLIKillSignalZeroChecksLiveness: `kill <id> 0` succeeds while the
// container runs and fails once it has stopped.
func TestRuncCLIKillSignalZeroChecksLiveness(t *testing.T) {
	for _, rt := range cliRuntimes(t) {
		t.Run(filepath.Base(rt), func(t *testing.T) {
			id := cliID(t, rt)
			root := startDetached(t, rt, sleepingBundle(t), id)
			must(t, rt, "--root", root, "kill", id, "0")
			must(t, rt, "--root", root, "kill", id, "KILL")
			waitFor(t, 20*time.Second, id+" to stop", func() bool {
				out, err := run(t, rt, "--root", root, "state", id)
				return err == nil && strings.Contains(out, `"stopped"`)
			})
			if _, err := run(t, rt, "--root", root, "kill", id, "0"); err == nil {
				t.Error("kill 0 on a stopped container succeeded, want a failure")
			}
		})
	}
}

// TestRuncCLIFailedExecExits255: an exec that cannot start its program
// exits 255, so that it is not mistaken for the program's own code.
func TestRuncCLIFailedExecExits255(t *testing.T) {
	for _, rt := range cliRuntimes(t) {
		t.Run(filepath.Base(rt), func(t *testing.T) {
			id := cliID(t, rt)
			root := startDetached(t, rt, sleepingBundle(t), id)
			_, err := run(t, rt, "--root", root, "exec", id, "/no/such/program")
			if code := exitCodeOf(err); code != 255 {
				t.Errorf("failed exec: exit %d (%v), want 255", code, err)
			}
			_, err = run(t, rt, "--root", root, "exec", id, "sh", "-c", "exit 3")
			if code := exitCodeOf(err); code != 3 {
				t.Errorf("exec of a program exiting 3: exit %d (%v), want 3", code, err)
			}
		})
	}
}

// TestRuncCLIRelativePidFileIsInTheCallersDirectory: a relative --pid-file
// names a file in the caller's working directory, not the bundle.
func TestRuncCLIRelativePidFileIsInTheCallersDirectory(t *testing.T) {
	for _, rt := range cliRuntimes(t) {
		t.Run(filepath.Base(rt), func(t *testing.T) {
			dir := sleepingBundle(t)
			root, cwd, id := t.TempDir(), t.TempDir(), cliID(t, rt)
			t.Cleanup(func() { run(t, rt, "--root", root, "delete", "--force", id) })
			ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, rt, "--root", root, "create", "--bundle", dir, "--pid-file", "init.pid", id)
			cmd.Dir = cwd
			cmd.WaitDelay = 2 * time.Second // the container's init keeps our pipes
			if out, err := cmd.CombinedOutput(); err != nil && !errors.Is(err, exec.ErrWaitDelay) {
				t.Fatalf("create: %v\n%s", err, out)
			}
			b, err := os.ReadFile(filepath.Join(cwd, "init.pid"))
			if err != nil {
				_, inBundle := os.Stat(filepath.Join(dir, "init.pid"))
				t.Fatalf("pid file not in the caller's directory: %v (in the bundle: %v)", err, inBundle == nil)
			}
			if got, want := strings.TrimSpace(string(b)), strconv.Itoa(initPid(t, rt, root, id)); got != want {
				t.Errorf("pid file holds %q, want the init's pid %s", got, want)
			}
		})
	}
}

// TestRuncCLINoFileLimitIsTheContainersOnly: an RLIMIT_NOFILE of 20 in the
// spec is the container process's limit; the runtime's own setup is not
// held to it.
func TestRuncCLINoFileLimitIsTheContainersOnly(t *testing.T) {
	for _, rt := range cliRuntimes(t) {
		t.Run(filepath.Base(rt), func(t *testing.T) {
			dir := bundle(t)
			setProcess(t, dir, "sh", "-c", "ulimit -n")
			editSpec(t, dir, `.process.rlimits=[{"type":"RLIMIT_NOFILE","hard":20,"soft":20}]`)
			out := must(t, rt, "--root", t.TempDir(), "run", "--bundle", dir, cliID(t, rt))
			if got := strings.TrimSpace(out); got != "20" {
				t.Errorf("ulimit -n in the container = %q, want 20", got)
			}

			// An exec takes the spec's limits too (exec without --process
			// starts from the container's process).
			sdir := sleepingBundle(t)
			editSpec(t, sdir, `.process.rlimits=[{"type":"RLIMIT_NOFILE","hard":20,"soft":20}]`)
			sid := cliID(t, rt)
			sroot := startDetached(t, rt, sdir, sid)
			for _, args := range [][]string{{"cat", "/proc/1/limits"}, {"sh", "-c", "ulimit -n"}} {
				out := must(t, rt, append([]string{"--root", sroot, "exec", sid}, args...)...)
				if args[0] == "cat" {
					if !strings.Contains(strings.Join(strings.Fields(out), " "), "Max open files 20 20 files") {
						t.Errorf("the container's init runs with limits\n%s\nwant Max open files 20 20", out)
					}
				} else if got := strings.TrimSpace(out); got != "20" {
					t.Errorf("ulimit -n in an exec = %q, want 20", got)
				}
			}
		})
	}
}

// TestRuncCLISeccompListenerPathIsRefused: sysbox-runc's own seccomp agent
// takes the notify fd, so a spec's linux.seccomp.listenerPath is refused at
// create with an error naming it, and nothing is left behind.
func TestRuncCLISeccompListenerPathIsRefused(t *testing.T) {
	dir := sleepingBundle(t)
	editSpec(t, dir, `.linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/e2e-agent.sock",`+
		`"syscalls":[{"names":["mkdirat"],"action":"SCMP_ACT_NOTIFY"}]}`)
	root, id := t.TempDir(), cliID(t, runtime)
	t.Cleanup(func() { run(t, runtime, "--root", root, "delete", "--force", id) })
	_, err := run(t, runtime, "--root", root, "create", "--bundle", dir, id)
	if err == nil || !strings.Contains(err.Error(), "listenerPath") {
		t.Fatalf("create with linux.seccomp.listenerPath: err = %v, want a refusal naming listenerPath", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("state left in --root: %v", entries)
	}
	if l, held := mgrLeases(t)[id]; held {
		t.Errorf("a refused create holds a lease: %+v", l)
	}
}

// TestRuncCLIListFailsOnAMissingRoot: a --root that does not exist is an
// error for list (runc 1.2 and later), not an empty list.
func TestRuncCLIListFailsOnAMissingRoot(t *testing.T) {
	_, err := run(t, runtime, "--root", filepath.Join(t.TempDir(), "typo"), "list")
	if code := exitCodeOf(err); code != 1 {
		t.Fatalf("list with a missing --root: exit %d (%v), want 1", code, err)
	}
	if _, err := run(t, runtime, "--no-kernel-check", "--root", t.TempDir(), "list"); err != nil {
		t.Fatalf("--no-kernel-check refused: %v", err)
	}
}

// TestRuncCLIEngineMappingsAreRefusedNamingUsernsRemap: a bundle with the
// mappings Docker's userns-remap makes (0 -> 100000, 65536 ids) is refused
// at create with an error naming the setting, and nothing is leased.
func TestRuncCLIEngineMappingsAreRefusedNamingUsernsRemap(t *testing.T) {
	dir := sleepingBundle(t)
	editSpec(t, dir, `.linux.uidMappings=[{"containerID":0,"hostID":100000,"size":65536}] | `+
		`.linux.gidMappings=[{"containerID":0,"hostID":100000,"size":65536}] | .linux.namespaces += [{"type":"user"}]`)
	root, id := t.TempDir(), cliID(t, runtime)
	t.Cleanup(func() { run(t, runtime, "--root", root, "delete", "--force", id) })
	_, err := run(t, runtime, "--root", root, "create", "--bundle", dir, id)
	if err == nil || !strings.Contains(err.Error(), "userns-remap") {
		t.Fatalf("create with engine mappings: err = %v, want a refusal naming userns-remap", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("state left in --root: %v", entries)
	}
	if l, held := mgrLeases(t)[id]; held {
		t.Errorf("a refused create holds a lease: %+v", l)
	}
}

// TestRuncCLIRunKeepLeavesTheStoppedContainer: `run --keep` in the foreground
// leaves the container stopped after its process exits (state answers), and a
// later delete removes it; for sysbox-runc the container's FUSE tree stays
// until that delete.
func TestRuncCLIRunKeepLeavesTheStoppedContainer(t *testing.T) {
	for _, rt := range cliRuntimes(t) {
		t.Run(filepath.Base(rt), func(t *testing.T) {
			dir := bundle(t)
			setProcess(t, dir, "true")
			root, id := t.TempDir(), cliID(t, rt)
			t.Cleanup(func() { run(t, rt, "--root", root, "delete", "--force", id) })
			must(t, rt, "--root", root, "run", "--keep", "--bundle", dir, id)
			out := must(t, rt, "--root", root, "state", id)
			if !strings.Contains(out, `"stopped"`) {
				t.Fatalf("state after run --keep: %s, want stopped", out)
			}
			tree := filepath.Join("/var/lib/sysboxfs", id)
			sysbox := rt == runtime
			if _, err := os.Stat(tree); sysbox && err != nil {
				t.Errorf("the kept container's FUSE tree %s: %v", tree, err)
			}
			must(t, rt, "--root", root, "delete", id)
			if _, err := run(t, rt, "--root", root, "state", id); err == nil {
				t.Errorf("state after delete succeeded, want the container gone")
			}
			if _, err := os.Stat(tree); sysbox && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("FUSE tree %s after delete: %v, want it gone", tree, err)
			}
		})
	}
}
