package seccomp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"golang.org/x/sys/unix"
)

const testOwner = "/test/seccomp.sock"

// fakeKeeper keeps real copies of the fds (pidfd_getfd, as sysbox-mgr
// does) in the test process, which is then the keeper the agent takes
// them back from.
type fakeKeeper struct {
	mu  sync.Mutex
	fds map[[2]string]int
	// down, when set, fails every call; refuse fails KeepFd with
	// ErrRefused.
	down   error
	refuse bool
	// calls counts every call, keeps the KeepFd calls.
	calls, keeps atomic.Int64
}

func newFakeKeeper(t *testing.T) *fakeKeeper {
	k := &fakeKeeper{fds: map[[2]string]int{}}
	t.Cleanup(k.lose)
	return k
}

func (k *fakeKeeper) KeepFd(_ context.Context, id string, pid, fd int, tag string) error {
	k.calls.Add(1)
	k.keeps.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.down != nil {
		return k.down
	}
	if k.refuse {
		return fmt.Errorf("%w: not today", ErrRefused)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return err
	}
	defer unix.Close(pidfd)
	c, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return err
	}
	if old, ok := k.fds[[2]string{id, tag}]; ok {
		unix.Close(old)
	}
	k.fds[[2]string{id, tag}] = c
	return nil
}

func (k *fakeKeeper) DropFd(_ context.Context, id, tag string) error {
	k.calls.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.down != nil {
		return k.down
	}
	if c, ok := k.fds[[2]string{id, tag}]; ok {
		unix.Close(c)
		delete(k.fds, [2]string{id, tag})
	}
	return nil
}

func (k *fakeKeeper) KeptFds(context.Context) (int, []KeptFd, error) {
	k.calls.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.down != nil {
		return 0, nil, k.down
	}
	var out []KeptFd
	for key, c := range k.fds {
		out = append(out, KeptFd{ID: key[0], Tag: key[1], Fd: c})
	}
	return os.Getpid(), out, nil
}

// held lists the copies kept for id, as tags.
func (k *fakeKeeper) held(id string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var tags []string
	for key := range k.fds {
		if key[0] == id {
			tags = append(tags, key[1])
		}
	}
	sort.Strings(tags)
	return tags
}

// lose closes every copy, as a restart of sysbox-mgr does.
func (k *fakeKeeper) lose() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, c := range k.fds {
		unix.Close(c)
		delete(k.fds, key)
	}
}

// plant makes the keeper hold a copy under (id, tag) that no agent
// serves, as left behind by a previous agent or another instance.
func (k *fakeKeeper) plant(t *testing.T, id, tag string) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.Close(p[1])
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fds[[2]string{id, tag}] = p[0]
}

func keeperConfig(k Keeper, sweep time.Duration) Config {
	return Config{Keeper: k, Owner: testOwner, Sweep: sweep}
}

func knows(ids ...string) *registry {
	r := &registry{ids: map[string]bool{}}
	for _, id := range ids {
		r.ids[id] = true
	}
	return r
}

func TestNewRequiresAnOwnerWithAKeeper(t *testing.T) {
	_, err := New(Config{Lookup: knows().lookup, Sysinfo: &fakeSource{}, Log: logrus.New(), Keeper: &fakeKeeper{}})
	if err == nil {
		t.Fatal("New accepted a Keeper without an Owner")
	}
}

func TestNotifyFdIsKeptAtTheManagerUntilItsProcessExits(t *testing.T) {
	k := newFakeKeeper(t)
	ta := startAgentWith(t, keeperConfig(k, time.Hour), knows("c1"))
	c := startChild(t, ta, "c1")
	waitFor(t, "the keeper to hold the fd", func() bool { return len(k.held("c1")) == 1 })
	if tag := k.held("c1")[0]; !strings.HasPrefix(tag, testOwner+"#"+fmt.Sprint(c.cmd.Process.Pid)+"-") {
		t.Errorf("tag %q, want the owner and the process's pid first", tag)
	}
	if a := c.do(t, "sysinfo"); a.Errno != 0 || a.Info != ta.src.info {
		t.Fatalf("sysinfo with a kept fd: errno %d, %+v", a.Errno, a.Info)
	}
	c.in.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the fd to be forgotten and dropped at the keeper", func() bool {
		return ta.served() == 0 && len(k.held("c1")) == 0
	})
}

func TestUnregisteredContainersFdIsDroppedAtTheManager(t *testing.T) {
	k := newFakeKeeper(t)
	reg := knows("c1")
	ta := startAgentWith(t, keeperConfig(k, 20*time.Millisecond), reg)
	c := startChild(t, ta, "c1")
	c.do(t, "sysinfo")
	waitFor(t, "the keeper to hold the fd", func() bool { return len(k.held("c1")) == 1 })
	reg.set("c1", false)
	waitFor(t, "the sweep to close and drop the fd", func() bool {
		return ta.served() == 0 && len(k.held("c1")) == 0
	})
	if a := c.do(t, "sysinfo"); a.Errno != int(unix.ENOSYS) {
		t.Fatalf("after the drop: errno %d, want ENOSYS (no copy left)", a.Errno)
	}
}

// The point of keeping: an agent stops, a trapped call made meanwhile
// waits (no ENOSYS), and the next agent takes the fd back and answers it.
func TestTrappedCallMadeWhileNoAgentRunsIsAnsweredByTheNextAgent(t *testing.T) {
	k := newFakeKeeper(t)
	reg := knows("c1")
	ta1 := startAgentWith(t, keeperConfig(k, time.Hour), reg)
	c := startChild(t, ta1, "c1")
	if a := c.do(t, "sysinfo"); a.Errno != 0 {
		t.Fatalf("first sysinfo: errno %d", a.Errno)
	}
	waitFor(t, "the keeper to hold the fd", func() bool { return len(k.held("c1")) == 1 })
	tag := k.held("c1")[0]
	ta1.stop()
	if ta1.served() != 0 {
		t.Fatalf("the stopped agent serves %d fds", ta1.served())
	}
	if got := k.held("c1"); len(got) != 1 || got[0] != tag {
		t.Fatalf("keeper holds %v after the agent stopped, want [%s]", got, tag)
	}

	c.send(t, "sysinfo") // no agent: the call waits
	time.Sleep(50 * time.Millisecond)
	ta2 := startAgentWith(t, keeperConfig(k, time.Hour), reg)
	a := c.answer(t, "sysinfo")
	if a.Errno != 0 || a.Info != ta2.src.info {
		t.Fatalf("call made between the agents: errno %d, %+v; want the container's answer", a.Errno, a.Info)
	}
	if ta2.src.calls.Load() != 1 {
		t.Fatalf("the new agent answered %d calls, want 1", ta2.src.calls.Load())
	}
	if a := c.do(t, "sysinfo"); a.Errno != 0 || a.Info != ta2.src.info {
		t.Fatalf("next call: errno %d, %+v", a.Errno, a.Info)
	}
	if got := k.held("c1"); len(got) != 1 || got[0] != tag || ta2.served() != 1 {
		t.Fatalf("keeper holds %v, agent serves %d; want [%s] and 1", got, ta2.served(), tag)
	}
	// The taken-back fd is dropped at the keeper when its process exits.
	c.in.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the taken-back fd to be dropped", func() bool { return ta2.served() == 0 && len(k.held("c1")) == 0 })
}

func TestKeptFdOfAContainerSysboxFsNoLongerKnowsIsDropped(t *testing.T) {
	k := newFakeKeeper(t)
	reg := knows("c1")
	ta1 := startAgentWith(t, keeperConfig(k, time.Hour), reg)
	c := startChild(t, ta1, "c1")
	waitFor(t, "the keeper to hold the fd", func() bool { return len(k.held("c1")) == 1 })
	// Another sysbox-fs's copy (another owner) of an unknown container.
	k.plant(t, "other", "/elsewhere.sock#1-2-3")
	ta1.stop()
	reg.set("c1", false)
	ta2 := startAgentWith(t, keeperConfig(k, time.Hour), reg)
	// The take-back runs as Serve starts.
	waitFor(t, "the copy of the unknown container to be dropped", func() bool { return len(k.held("c1")) == 0 })
	if n := ta2.served(); n != 0 {
		t.Fatalf("the new agent serves %d fds of an unknown container", n)
	}
	if got := k.held("other"); len(got) != 1 {
		t.Fatalf("another owner's copy was touched: %v", got)
	}
	if a := c.do(t, "sysinfo"); a.Errno != int(unix.ENOSYS) {
		t.Fatalf("after the drop: errno %d, want ENOSYS (no copy left)", a.Errno)
	}
}

// A keeper that is down or too old never breaks the agent: calls are
// answered, the failure is a single warning, and the fds are kept once the
// keeper answers again (at the next sweep).
func TestAgentServesWithoutAKeeperAndKeepsOnceItIsBack(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"keeper down", errors.New("sysbox-mgr is not reachable at /run/sysbox/sysmgr.sock")},
		{"keeper too old", errors.New("sysbox-mgr KeepFd: unknown method KeepFd")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKeeper(t)
			k.down = tc.err
			log, hook := logtest.NewNullLogger()
			log.SetLevel(logrus.DebugLevel)
			cfg := keeperConfig(k, 30*time.Millisecond)
			cfg.Log = log
			ta := startAgentWith(t, cfg, knows("c1"))
			c1 := startChild(t, ta, "c1")
			c2 := startChild(t, ta, "c1")
			waitFor(t, "two fds", func() bool { return ta.served() == 2 })
			for _, c := range []*trapped{c1, c2} {
				if a := c.do(t, "sysinfo"); a.Errno != 0 || a.Info != ta.src.info {
					t.Fatalf("sysinfo with the keeper failing: errno %d, %+v", a.Errno, a.Info)
				}
			}
			time.Sleep(100 * time.Millisecond) // a few sweeps
			warnings := 0
			for _, e := range hook.AllEntries() {
				if e.Level <= logrus.WarnLevel {
					warnings++
				}
			}
			if warnings != 1 {
				t.Fatalf("%d warnings about the keeper, want 1", warnings)
			}
			k.mu.Lock()
			k.down = nil
			k.mu.Unlock()
			waitFor(t, "the sweep to keep both fds", func() bool { return len(k.held("c1")) == 2 })
		})
	}
}

func TestKeeperIsNotCalledWhileAnsweringNotifications(t *testing.T) {
	k := newFakeKeeper(t)
	ta := startAgentWith(t, keeperConfig(k, time.Hour), knows("c1"))
	c := startChild(t, ta, "c1")
	waitFor(t, "the keeper to hold the fd", func() bool { return len(k.held("c1")) == 1 })
	before := k.calls.Load()
	if a := c.do(t, "loop 500"); a.Errno != 0 || a.N != 500 {
		t.Fatalf("errno %d after %d calls", a.Errno, a.N)
	}
	if n := k.calls.Load() - before; n != 0 {
		t.Fatalf("%d keeper calls while answering 500 notifications", n)
	}
}

// After a restart of sysbox-mgr (its copies lost) the sweep keeps the fds
// again, and drops the copies of this owner it no longer serves.
func TestSweepKeepsFdsAgainAfterTheManagerLostThem(t *testing.T) {
	k := newFakeKeeper(t)
	ta := startAgentWith(t, keeperConfig(k, 20*time.Millisecond), knows("c1"))
	c := startChild(t, ta, "c1")
	waitFor(t, "the keeper to hold the fd", func() bool { return len(k.held("c1")) == 1 })
	tag := k.held("c1")[0]
	k.lose()
	k.plant(t, "gone", testOwner+"#1-2-3")
	k.plant(t, "other", "/elsewhere.sock#1-2-3")
	waitFor(t, "the sweep to keep the fd again and drop the stale copy", func() bool {
		got := k.held("c1")
		return len(got) == 1 && got[0] == tag && len(k.held("gone")) == 0
	})
	if len(k.held("other")) != 1 {
		t.Fatal("another owner's copy was dropped")
	}
	if a := c.do(t, "sysinfo"); a.Errno != 0 {
		t.Fatalf("errno %d", a.Errno)
	}
}

func TestFdTheKeeperRefusedIsNotOfferedAgain(t *testing.T) {
	k := newFakeKeeper(t)
	k.refuse = true
	ta := startAgentWith(t, keeperConfig(k, 10*time.Millisecond), knows("c1"))
	c := startChild(t, ta, "c1")
	waitFor(t, "the fd to be offered", func() bool { return k.keeps.Load() >= 1 })
	before := k.calls.Load()
	waitFor(t, "a few sweeps", func() bool { return k.calls.Load() >= before+5 })
	if n := k.keeps.Load(); n != 1 {
		t.Fatalf("KeepFd called %d times, want once", n)
	}
	if a := c.do(t, "sysinfo"); a.Errno != 0 || a.Info != ta.src.info {
		t.Fatalf("sysinfo of a refused fd: errno %d", a.Errno)
	}
}

// sysbox-fs forgets its containers as it stops, concurrently with the
// agent: an fd forgotten once Serve's context is done keeps its copy (the
// next agent takes it back); before, it is dropped.
func TestFdForgottenWhileStoppingKeepsItsCopy(t *testing.T) {
	tests := []struct {
		name     string
		stopping bool
		want     int
	}{
		{"forgotten while serving: dropped", false, 0},
		{"forgotten once stopping: kept", true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKeeper(t)
			log, _ := logtest.NewNullLogger()
			a, err := New(Config{Lookup: knows().lookup, Sysinfo: &fakeSource{}, Log: log, Keeper: k, Owner: testOwner})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			a.done = done
			if tc.stopping {
				close(done)
			}
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			ln := &listener{id: "c1", f: r, log: a.cfg.Log, tag: a.newTag(1), registered: true}
			a.fds[ln] = struct{}{}
			a.keep(ln)
			if got := k.held("c1"); len(got) != 1 {
				t.Fatalf("kept %v", got)
			}
			a.forget(ln)
			if got := k.held("c1"); len(got) != tc.want {
				t.Fatalf("after forget: keeper holds %v, want %d", got, tc.want)
			}
		})
	}
}

// Fds that came while the keeper was down are kept within a KeeperRetry
// of its return, not at the next (here: hour-long) sweep.
func TestFdsThatCameWhileTheKeeperWasDownAreKeptSoonAfterItIsBack(t *testing.T) {
	k := newFakeKeeper(t)
	k.down = errors.New("sysbox-mgr is not reachable")
	cfg := keeperConfig(k, time.Hour)
	cfg.KeeperRetry = 20 * time.Millisecond
	ta := startAgentWith(t, cfg, knows("c1"))
	startChild(t, ta, "c1")
	waitFor(t, "the fd", func() bool { return ta.served() == 1 })
	time.Sleep(60 * time.Millisecond) // retries while down
	if n := len(k.held("c1")); n != 0 {
		t.Fatalf("a down keeper holds %d copies", n)
	}
	k.mu.Lock()
	k.down = nil
	k.mu.Unlock()
	waitFor(t, "a retry to keep the fd", func() bool { return len(k.held("c1")) == 1 })
}
