package handler

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// userHZ is the unit of /proc/stat's times: 1/100 s, the USER_HZ every
// Linux architecture but alpha and ia64 exports.
const userHZ = 100

const tick = time.Second / userHZ

// Stat is /proc/stat for the container. The host's file, with:
//
//   - the "cpu" line and one "cpuN" line per container CPU (CPUList),
//     renumbered from 0. user and system come from the cgroup's CPU
//     accounting, per CPU where the cgroup has it: v1
//     cpuacct.usage_percpu_user/_sys; else cpuacct.usage_percpu split
//     between user and system in the ratio of cpuacct.stat; else
//     cpuacct.usage (v1) or cpu.stat user_usec/system_usec (v2, which keeps
//     no per-CPU times) spread evenly over the CPUs. idle is the container's
//     uptime minus user and system on each CPU (never negative), so that
//     the "cpu" line's idle is /proc/uptime's idle and user+nice+system+idle
//     adds up to CPUs x uptime. nice, iowait, irq, softirq, steal, guest
//     and guest_nice are 0: a cgroup does not account them (its nice time
//     is in user). Each line has as many fields as the host's "cpu" line.
//     Without CPU accounting the container is reported fully idle, as
//     /proc/uptime does.
//   - btime: the container's start in seconds since the epoch, so that
//     btime + /proc/uptime's uptime is now, as on the host.
//   - procs_running and procs_blocked: the container's threads in state R
//     (the reader included, see Container.ReaderTid) and D, from its task
//     lists, refreshed at most once a second (see taskCache); the host's
//     values when no task list can be read.
//
// processes (forks since boot), intr, ctxt and softirq stay the host's: no
// cgroup counts them, and processes and ctxt must not go backwards for the
// tools (vmstat, sar) that compute rates from them.
type Stat struct {
	bound hostBound
	tasks *taskCache
}

// NewStat returns the handler; procRoot is the host /proc whose stat bounds
// the file size (SizeBound), "/proc".
func NewStat(procRoot string) *Stat {
	return &Stat{bound: hostBound{path: procRoot + "/stat", refresh: time.Minute}, tasks: newTaskCache()}
}

// SizeBound implements SizeBounder: the host's /proc/stat outgrows a page on
// hosts with many CPUs or interrupts, and the container's is not longer.
func (s *Stat) SizeBound() uint64 { return s.bound.get() }

// Content implements Handler.
func (s *Stat) Content(c Container) ([]byte, error) {
	host, err := c.Host.readProc("stat")
	if err != nil {
		return nil, fmt.Errorf("stat: %w", err)
	}
	cpus, err := c.CPUList()
	if err != nil {
		return nil, fmt.Errorf("stat: %w", err)
	}
	times, err := c.cpuTimes(cpus)
	if err != nil && !cgroupMissing(err) {
		return nil, fmt.Errorf("stat: %w", err)
	}
	tasks, errTasks := s.tasks.get(c)
	if errTasks != nil && !cgroupMissing(errTasks) {
		return nil, fmt.Errorf("stat: %w", errTasks)
	}
	up := c.Host.Now().Sub(c.StartTime)
	if up < 0 {
		up = 0
	}
	upTicks := uint64(up / tick)

	out := make([]byte, 0, len(host))
	cpuDone := false
	for len(host) > 0 {
		var line []byte
		line, host = cutLine(host)
		key, _, _ := bytes.Cut(line, []byte{' '})
		switch {
		case bytes.HasPrefix(key, []byte("cpu")):
			if !cpuDone {
				out = appendCPULines(out, len(bytes.Fields(line))-1, times, upTicks)
				cpuDone = true
			}
		case string(key) == "btime":
			out = append(out, "btime "...)
			out = strconv.AppendInt(out, c.StartTime.Unix(), 10)
			out = append(out, '\n')
		case string(key) == "procs_running" && errTasks == nil:
			out = append(out, "procs_running "...)
			out = strconv.AppendInt(out, int64(tasks.running), 10)
			out = append(out, '\n')
		case string(key) == "procs_blocked" && errTasks == nil:
			out = append(out, "procs_blocked "...)
			out = strconv.AppendInt(out, int64(tasks.blocked), 10)
			out = append(out, '\n')
		default:
			out = append(out, line...)
		}
	}
	return out, nil
}

// appendCPULines appends the "cpu" total line and the "cpuN" lines, each
// with nf fields (at least user, nice, system and idle).
func appendCPULines(b []byte, nf int, times []cpuTicks, upTicks uint64) []byte {
	nf = max(nf, 4)
	var total [4]uint64
	perCPU := make([][4]uint64, len(times))
	for i, t := range times {
		used := t.user + t.system
		idle := uint64(0)
		if upTicks > used {
			idle = upTicks - used
		}
		perCPU[i] = [4]uint64{t.user, 0, t.system, idle}
		for j := range total {
			total[j] += perCPU[i][j]
		}
	}
	b = appendCPULine(b, "cpu ", total, nf)
	for i, v := range perCPU {
		b = appendCPULine(b, "cpu"+strconv.Itoa(i), v, nf)
	}
	return b
}

func appendCPULine(b []byte, name string, v [4]uint64, nf int) []byte {
	b = append(b, name...)
	for i := range nf {
		b = append(b, ' ')
		if i < len(v) {
			b = strconv.AppendUint(b, v[i], 10)
		} else {
			b = append(b, '0')
		}
	}
	return append(b, '\n')
}

// cpuTicks is one CPU's time used by the container, in 1/userHZ s.
type cpuTicks struct{ user, system uint64 }

// cpuTimes returns the container's user and system time on each of cpus
// (host CPU numbers). See Stat for the sources. Without CPU accounting it
// returns zero times and an error wrapping ErrNoController.
func (c Container) cpuTimes(cpus []int) ([]cpuTicks, error) {
	times := make([]cpuTicks, len(cpus))
	// v1, per CPU and split.
	userB, errU := c.readCgroup("cpuacct", "cpuacct.usage_percpu_user")
	sysB, errS := c.readCgroup("cpuacct", "cpuacct.usage_percpu_sys")
	if errU == nil && errS == nil {
		user, err := parseUintList(userB)
		if err != nil {
			return times, fmt.Errorf("cpuacct.usage_percpu_user: %w", err)
		}
		sys, err := parseUintList(sysB)
		if err != nil {
			return times, fmt.Errorf("cpuacct.usage_percpu_sys: %w", err)
		}
		for i, cpu := range cpus {
			if cpu < len(user) {
				times[i].user = user[cpu] / uint64(tick)
			}
			if cpu < len(sys) {
				times[i].system = sys[cpu] / uint64(tick)
			}
		}
		return times, nil
	}
	statB, errStat := c.readCgroup("cpuacct", "cpuacct.stat")
	ratio := 1.0 // the user share of the time
	if errStat == nil {
		var u, s uint64
		forEachStat(statB, func(k []byte, v uint64) {
			switch string(k) {
			case "user":
				u = v
			case "system":
				s = v
			}
		})
		if u+s > 0 {
			ratio = float64(u) / float64(u+s)
		}
	}
	// v1, per CPU, user/system in cpuacct.stat's ratio.
	if b, err := c.readCgroup("cpuacct", "cpuacct.usage_percpu"); err == nil {
		usage, err := parseUintList(b)
		if err != nil {
			return times, fmt.Errorf("cpuacct.usage_percpu: %w", err)
		}
		for i, cpu := range cpus {
			if cpu < len(usage) {
				t := usage[cpu] / uint64(tick)
				times[i].user = uint64(float64(t) * ratio)
				times[i].system = t - times[i].user
			}
		}
		return times, nil
	}
	// v1 total, spread evenly.
	if b, err := c.readCgroup("cpuacct", "cpuacct.usage"); err == nil {
		ns, ok := parseUint(bytes.TrimSpace(b))
		if !ok {
			return times, fmt.Errorf("parse cpuacct.usage %q", bytes.TrimSpace(b))
		}
		t := ns / uint64(tick)
		user := uint64(float64(t) * ratio)
		spread(times, user, func(ct *cpuTicks, v uint64) { ct.user = v })
		spread(times, t-user, func(ct *cpuTicks, v uint64) { ct.system = v })
		return times, nil
	}
	// v2 totals, spread evenly.
	b, err := c.readCgroup("", "cpu.stat")
	if err != nil {
		return times, fmt.Errorf("cpu times of container %s: %w", c.ID, err)
	}
	var user, sys uint64
	var hasUser, hasSys bool
	forEachStat(b, func(k []byte, v uint64) {
		switch string(k) {
		case "user_usec":
			user, hasUser = v, true
		case "system_usec":
			sys, hasSys = v, true
		}
	})
	if !hasUser || !hasSys {
		return times, fmt.Errorf("cpu.stat of container %s: no user_usec/system_usec", c.ID)
	}
	usecPerTick := uint64(tick / time.Microsecond)
	spread(times, user/usecPerTick, func(ct *cpuTicks, v uint64) { ct.user = v })
	spread(times, sys/usecPerTick, func(ct *cpuTicks, v uint64) { ct.system = v })
	return times, nil
}

// spread sets total/len(times) on each CPU, the remainder one tick each on
// the first ones, so that the sum is total.
func spread(times []cpuTicks, total uint64, set func(*cpuTicks, uint64)) {
	if len(times) == 0 {
		return
	}
	n := uint64(len(times))
	for i := range times {
		v := total / n
		if uint64(i) < total%n {
			v++
		}
		set(&times[i], v)
	}
}

// parseUintList parses space-separated numbers ("1 2 3 \n").
func parseUintList(b []byte) ([]uint64, error) {
	f := bytes.Fields(b)
	out := make([]uint64, len(f))
	for i, s := range f {
		n, ok := parseUint(s)
		if !ok {
			return nil, fmt.Errorf("bad number %q", s)
		}
		out[i] = n
	}
	return out, nil
}
