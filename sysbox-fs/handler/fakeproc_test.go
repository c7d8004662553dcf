package handler

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Host /proc fixtures in the kernel's exact layouts (tabs and padding as
// kernel 6.x prints them).

const hostMeminfo = "" +
	"MemTotal:        2000000 kB\n" +
	"MemFree:         1500000 kB\n" +
	"MemAvailable:    1800000 kB\n" +
	"Buffers:           10000 kB\n" +
	"Cached:           300000 kB\n" +
	"SwapCached:            0 kB\n" +
	"Active:           400000 kB\n" +
	"Inactive:         200000 kB\n" +
	"Active(anon):     100000 kB\n" +
	"Inactive(anon):    50000 kB\n" +
	"Active(file):     300000 kB\n" +
	"Inactive(file):   150000 kB\n" +
	"Unevictable:        1000 kB\n" +
	"Mlocked:            1000 kB\n" +
	"SwapTotal:       1000000 kB\n" +
	"SwapFree:         900000 kB\n" +
	"Dirty:               500 kB\n" +
	"Writeback:             0 kB\n" +
	"AnonPages:        150000 kB\n" +
	"Mapped:            80000 kB\n" +
	"Shmem:              9000 kB\n" +
	"KReclaimable:      60000 kB\n" +
	"Slab:              90000 kB\n" +
	"SReclaimable:      60000 kB\n" +
	"SUnreclaim:        30000 kB\n" +
	"KernelStack:        2304 kB\n" +
	"CommitLimit:    12341808 kB\n" +
	"VmallocTotal:   34359738367 kB\n" +
	"AnonHugePages:         0 kB\n" +
	"HugePages_Total:       0\n" +
	"Hugepagesize:       2048 kB\n"

// hostMeminfoNoSwap is hostMeminfo on a host without swap.
const hostMeminfoNoSwap = "" +
	"MemTotal:        2000000 kB\n" +
	"MemFree:         1500000 kB\n" +
	"MemAvailable:    1800000 kB\n" +
	"SwapTotal:             0 kB\n" +
	"SwapFree:              0 kB\n"

const hostSwaps = "" +
	"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n" +
	"/dev/vda2                               partition\t1000000\t\t100000\t\t-2\n"

const hostSwapsNone = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"

const hostLoadavg = "1.79 2.27 2.97 2/143 6235\n"

const hostStat = "" +
	"cpu  400 10 300 9000 50 0 20 0 0 0\n" +
	"cpu0 100 1 100 2000 10 0 5 0 0 0\n" +
	"cpu1 100 2 100 2000 10 0 5 0 0 0\n" +
	"cpu2 100 3 50 2500 10 0 5 0 0 0\n" +
	"cpu3 100 4 50 2500 20 0 5 0 0 0\n" +
	"intr 6900274 0 0 1 8\n" +
	"ctxt 16101166\n" +
	"btime 1795891635\n" +
	"processes 103547\n" +
	"procs_running 3\n" +
	"procs_blocked 1\n" +
	"softirq 1732815 0 191841 295\n"

const hostDiskstats = "" +
	"   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n" +
	" 254       0 vda 250017 44042 7091258 102377 321566 295212 30365968 605874 0 123952 784755 226751 8 24703544 54854 55493 21649\n" +
	" 254       1 vda1 240000 44000 7000000 100000 320000 295000 30000000 600000 0 120000 780000 226000 8 24700000 54800 0 0\n" +
	" 253       0 zram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"

// cpuinfoBlock is a short x86 block for host CPU n.
func cpuinfoBlock(n int) string {
	s := strconv.Itoa(n)
	return "processor\t: " + s + "\n" +
		"vendor_id\t: AuthenticAMD\n" +
		"model name\t: AMD EPYC\n" +
		"cpu MHz\t\t: 2096.013\n" +
		"core id\t\t: " + s + "\n" +
		"apicid\t\t: " + s + "\n" +
		"flags\t\t: fpu vme de pse\n" +
		"power management:\n\n"
}

// fakeProc writes a host /proc with the given files (path relative to the
// root) and returns a Host over it at now.
func fakeProc(t testing.TB, now time.Time, files map[string]string) Host {
	t.Helper()
	proc := filepath.Join(t.TempDir(), "proc")
	writeTree(t, proc, files)
	return Host{Now: func() time.Time { return now }, ProcRoot: proc}
}

// taskStat is a /proc/<tid>/stat line in state st; the command name holds
// spaces and parentheses, as a thread name may.
func taskStat(tid int, st byte) string {
	return strconv.Itoa(tid) + " (we (ird) name) " + string(st) + " 1 1 1 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 237692\n"
}

// withTasks adds <tid>/stat files for tids in the given states.
func withTasks(files map[string]string, states map[int]byte) map[string]string {
	for tid, st := range states {
		files[strconv.Itoa(tid)+"/stat"] = taskStat(tid, st)
	}
	return files
}
