package sysctl

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fakeHostSys writes a fake /proc/sys (path below it -> content) and
// returns its directory.
func fakeHostSys(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "sys")
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readHost(t *testing.T, dir, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var hostFiles = map[string]string{
	"kernel/panic":                      "0\n",
	"kernel/printk":                     "4\t4\t1\t7\n",
	"kernel/kptr_restrict":              "0\n",
	"vm/overcommit_memory":              "0\n",
	"fs/file-max":                       "1000\n",
	"fs/nr_open":                        "1048576\n",
	"net/netfilter/nf_conntrack_max":    "262144\n",
	"net/core/default_qdisc":            "pfifo_fast\n",
	"net/ipv4/neigh/default/gc_thresh1": "128\n",
	"user/max_user_namespaces":          "96364\n",
	"kernel/ngroups_max":                "65536\n",
}

func TestTableKeepsOnlyKnobsTheHostHasAndTheirDirectories(t *testing.T) {
	host := Host{Dir: fakeHostSys(t, hostFiles)}
	tab := NewTable(host, Knobs())
	for _, p := range []string{"kernel/panic", "net/nf_conntrack_max", "net/netfilter/nf_conntrack_max", "net/ipv4/neigh/default/gc_thresh1"} {
		if _, ok := tab.Knob(p); !ok {
			t.Errorf("knob %s missing", p)
		}
	}
	for _, p := range []string{"kernel/yama/ptrace_scope", "net/ipv6/neigh/default/gc_thresh1", "kernel/ngroups_max"} {
		if _, ok := tab.Knob(p); ok {
			t.Errorf("knob %s present without a host file (or not emulated)", p)
		}
	}
	for _, d := range []string{"net/ipv4/neigh/default", "net/ipv4/neigh", "net", ""} {
		if !tab.IsDir(d) {
			t.Errorf("%q not a directory of emulated knobs", d)
		}
	}
	if names := strings.Join(tab.Names("net"), ","); !strings.Contains(names, "nf_conntrack_max") || !strings.Contains(names, "ipv4") {
		t.Errorf("names in net: %s", names)
	}
	if tab.IsDir("kernel/yama") {
		t.Error("kernel/yama listed although the host has no yama")
	}
}

func TestKnobTableIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Knobs() {
		if k.Path == "" || path.Clean(k.Path) != k.Path || path.IsAbs(k.Path) {
			t.Errorf("knob path %q not clean and relative", k.Path)
		}
		if seen[k.Path] {
			t.Errorf("knob %q listed twice", k.Path)
		}
		seen[k.Path] = true
		if k.Format == nil {
			t.Errorf("knob %q has no format", k.Path)
		}
		if Writable(k.Path) && !strings.HasPrefix(k.Path, "net/") {
			t.Errorf("knob %q is also a pass-through writable path", k.Path)
		}
	}
}

func TestEmulatedKnobStartsFromHostAndNeverWritesIt(t *testing.T) {
	dir := fakeHostSys(t, hostFiles)
	host := Host{Dir: dir}
	tab := NewTable(host, Knobs())
	a, b := NewValues(tab, host), NewValues(tab, host)

	if got, err := a.Read("kernel/panic"); err != nil || string(got) != "0\n" {
		t.Fatalf("initial panic %q, %v", got, err)
	}
	if err := a.Write("kernel/panic", []byte("5\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Read("kernel/panic"); string(got) != "5\n" {
		t.Errorf("container a reads %q after writing 5", got)
	}
	if got, _ := b.Read("kernel/panic"); string(got) != "0\n" {
		t.Errorf("container b reads %q, want its own 0", got)
	}
	if h := readHost(t, dir, "kernel/panic"); h != "0\n" {
		t.Errorf("host panic became %q", h)
	}
	// range check, and the old value stays
	if err := a.Write("kernel/kptr_restrict", []byte("3")); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("kptr_restrict=3: %v, want EINVAL", err)
	}
	if got, _ := a.Read("kernel/kptr_restrict"); string(got) != "0\n" {
		t.Errorf("kptr_restrict after refused write %q", got)
	}
	// vector: a partial write keeps the other fields
	if err := a.Write("kernel/printk", []byte("3\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Read("kernel/printk"); string(got) != "3\t4\t1\t7\n" {
		t.Errorf("printk %q", got)
	}
	// a knob the kernel lacks in a container's netns
	if err := a.Write("net/core/default_qdisc", []byte("fq_codel\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Read("net/core/default_qdisc"); string(got) != "fq_codel\n" {
		t.Errorf("default_qdisc %q", got)
	}
	if h := readHost(t, dir, "net/core/default_qdisc"); h != "pfifo_fast\n" {
		t.Errorf("host default_qdisc became %q", h)
	}
	// user.*: what a new user namespace starts with, not the host's
	if got, _ := a.Read("user/max_user_namespaces"); string(got) != "2147483647\n" {
		t.Errorf("user.max_user_namespaces %q", got)
	}
	if _, err := a.Read("kernel/ngroups_max"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("read of a non-emulated knob: %v", err)
	}
}

func TestRaiseOnlyKnobRaisesHostButNeverLowersIt(t *testing.T) {
	dir := fakeHostSys(t, hostFiles)
	host := Host{Dir: dir}
	tab := NewTable(host, Knobs())
	a := NewValues(tab, host)

	// lower: the container's value only
	if err := a.Write("fs/file-max", []byte("500\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Read("fs/file-max"); string(got) != "500\n" {
		t.Errorf("container file-max %q", got)
	}
	if h := readHost(t, dir, "fs/file-max"); h != "1000\n" {
		t.Errorf("host file-max lowered to %q", h)
	}
	// higher: the host follows
	if err := a.Write("fs/file-max", []byte("2000")); err != nil {
		t.Fatal(err)
	}
	if h := readHost(t, dir, "fs/file-max"); h != "2000\n" {
		t.Errorf("host file-max %q, want raised to 2000", h)
	}
	// an out-of-range value reaches neither
	if err := a.Write("fs/nr_open", []byte("63")); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("nr_open=63: %v, want EINVAL", err)
	}
	if h := readHost(t, dir, "fs/nr_open"); h != "1048576\n" {
		t.Errorf("host nr_open %q", h)
	}
	// the two names of nf_conntrack_max share one value
	if err := a.Write("net/nf_conntrack_max", []byte("300000")); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Read("net/netfilter/nf_conntrack_max"); string(got) != "300000\n" {
		t.Errorf("net.netfilter.nf_conntrack_max %q after writing net.nf_conntrack_max", got)
	}
	if h := readHost(t, dir, "net/netfilter/nf_conntrack_max"); h != "300000\n" {
		t.Errorf("host nf_conntrack_max %q", h)
	}
	if err := a.Write("net/netfilter/nf_conntrack_max", []byte("1000")); err != nil {
		t.Fatal(err)
	}
	if h := readHost(t, dir, "net/netfilter/nf_conntrack_max"); h != "300000\n" {
		t.Errorf("host nf_conntrack_max lowered to %q", h)
	}
}

func TestRaiseOnlyHostFailureKeepsContainerValue(t *testing.T) {
	dir := fakeHostSys(t, hostFiles)
	host := Host{Dir: dir}
	tab := NewTable(host, Knobs())
	a := NewValues(tab, host)
	if _, err := a.Read("fs/file-max"); err != nil {
		t.Fatal(err)
	}
	// The host file becomes unwritable (a directory in its place).
	p := filepath.Join(dir, "fs/file-max")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := a.Write("fs/file-max", []byte("5000")); err == nil {
		t.Fatal("raise with an unreadable host value succeeded")
	}
	if got, _ := a.Read("fs/file-max"); string(got) != "1000\n" {
		t.Errorf("container file-max %q after a failed raise", got)
	}
}

func TestWritablePassThroughIsLimitedToTheJoinedNamespaces(t *testing.T) {
	for p, want := range map[string]bool{
		"net/ipv4/ip_forward":      true,
		"net/core/somaxconn":       true,
		"kernel/hostname":          true,
		"kernel/shmmax":            true,
		"fs/mqueue/queues_max":     true,
		"kernel/core_pattern":      false,
		"kernel/modprobe":          false,
		"kernel/ns_last_pid":       false,
		"vm/drop_caches":           false,
		"fs/binfmt_misc/register":  false,
		"user/max_user_namespaces": false,
		"kernel/ngroups_max":       false,
	} {
		if got := Writable(p); got != want {
			t.Errorf("Writable(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestProductUUIDIsStablePerIDAndVersion5(t *testing.T) {
	a, a2, b := ProductUUID("c1"), ProductUUID("c1"), ProductUUID("c2")
	if a != a2 || a == b {
		t.Fatalf("uuids %s %s %s", a, a2, b)
	}
	if len(a) != 36 || a[14] != '5' || !strings.ContainsAny(a[19:20], "89ab") {
		t.Errorf("%s is not a version 5 RFC 4122 uuid", a)
	}
}

func TestValueStartsFromHostFileAndKeepsWritesLocal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hashsize")
	if err := os.WriteFile(p, []byte("262144\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v := NewValue(p, Int(1, intMax))
	if got, err := v.Read(); err != nil || string(got) != "262144\n" {
		t.Fatalf("read %q %v", got, err)
	}
	if err := v.Write([]byte("0")); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("hashsize=0: %v", err)
	}
	if err := v.Write([]byte("65536\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := v.Read(); string(got) != "65536\n" {
		t.Errorf("read %q after write", got)
	}
	if b, _ := os.ReadFile(p); string(b) != "262144\n" {
		t.Errorf("host file changed to %q", b)
	}
}

func TestSnapshotLoadCarriesWrittenValuesToANewDaemonAndOnChangeFiresOnWritesOnly(t *testing.T) {
	dir := fakeHostSys(t, hostFiles)
	host := Host{Dir: dir}
	tab := NewTable(host, Knobs())
	old := NewValues(tab, host)
	changes := 0
	old.OnChange(func() { changes++ })
	if err := old.Write("kernel/panic", []byte("7\n")); err != nil {
		t.Fatal(err)
	}
	if err := old.Write("kernel/kptr_restrict", []byte("3")); err == nil {
		t.Fatal("out-of-range write accepted")
	}
	if _, err := old.Read("kernel/printk"); err != nil {
		t.Fatal(err)
	}
	if changes != 1 {
		t.Errorf("OnChange fired %d times, want once (one accepted write; refused writes and reads do not count)", changes)
	}

	restarted := NewValues(tab, host)
	restarted.Load(old.Snapshot())
	if got, _ := restarted.Read("kernel/panic"); string(got) != "7\n" {
		t.Errorf("after Load kernel/panic reads %q, want the written 7", got)
	}
	if got, _ := restarted.Read("kernel/kptr_restrict"); string(got) != "0\n" {
		t.Errorf("after Load a never-written knob reads %q, want the host's 0", got)
	}
	if h := readHost(t, dir, "kernel/panic"); h != "0\n" {
		t.Errorf("host panic became %q", h)
	}
}
