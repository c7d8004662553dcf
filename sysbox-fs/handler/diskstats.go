package handler

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Diskstats is /proc/diskstats for the container: one line per host block
// device the container's cgroup did I/O on, in the host file's order and
// with the host's device name for its major:minor, in the kernel's layout
// ("%4d %7d %s" then the counters, as many as the host's lines have; no
// header). Per device, from v1 blkio.throttle.io_serviced and
// io_service_bytes (the _recursive files first: sub-cgroups included) or
// v2 io.stat:
//
//	field 1  reads completed     Read ops   / rios
//	field 3  sectors read        Read bytes / rbytes, / 512
//	field 5  writes completed    Write ops  / wios
//	field 7  sectors written     Write bytes / wbytes, / 512
//	field 12 discards completed  Discard ops / dios
//	field 14 sectors discarded   Discard bytes / dbytes, / 512
//
// Every other counter (merges, times, in flight, flushes) is 0: cgroups do
// not account them per device. A device the host does not list (gone) is
// left out. Without block I/O accounting (no blkio controller, no io.stat)
// the file is the host's.
type Diskstats struct {
	bound hostBound
}

// NewDiskstats returns the handler; procRoot is the host /proc whose
// diskstats bounds the file size (SizeBound), "/proc".
func NewDiskstats(procRoot string) *Diskstats {
	return &Diskstats{bound: hostBound{path: procRoot + "/diskstats", refresh: time.Minute}}
}

// SizeBound implements SizeBounder: hosts with many devices have a
// diskstats longer than a page; the container's lists fewer of them with
// smaller counters.
func (d *Diskstats) SizeBound() uint64 { return d.bound.get() }

// devIO is the container's I/O on one device.
type devIO struct {
	rios, rbytes, wios, wbytes, dios, dbytes uint64
}

// devNum is a block device's major:minor.
type devNum struct{ major, minor uint64 }

// Content implements Handler.
func (d *Diskstats) Content(c Container) ([]byte, error) {
	host, err := c.Host.readProc("diskstats")
	if err != nil {
		return nil, fmt.Errorf("diskstats: %w", err)
	}
	io, err := c.blockIO()
	if err != nil {
		if cgroupMissing(err) {
			return host, nil
		}
		return nil, fmt.Errorf("diskstats: %w", err)
	}
	out := make([]byte, 0, 256)
	if len(io) == 0 {
		return out, nil
	}
	for len(host) > 0 {
		var line []byte
		line, host = cutLine(host)
		line = trimNewline(line)
		f := bytes.Fields(line)
		if len(f) < 4 {
			continue
		}
		major, ok1 := parseUint(f[0])
		minor, ok2 := parseUint(f[1])
		if !ok1 || !ok2 {
			continue
		}
		dio, ok := io[devNum{major, minor}]
		if !ok || dio == (devIO{}) {
			continue
		}
		out = appendDiskLine(out, major, minor, f[2], len(f)-3, dio)
	}
	return out, nil
}

// appendDiskLine appends one device's line with nf counters.
func appendDiskLine(b []byte, major, minor uint64, name []byte, nf int, io devIO) []byte {
	b = appendPadded(b, major, 4)
	b = append(b, ' ')
	b = appendPadded(b, minor, 7)
	b = append(b, ' ')
	b = append(b, name...)
	vals := [...]uint64{
		0: io.rios, 2: io.rbytes / 512,
		4: io.wios, 6: io.wbytes / 512,
		11: io.dios, 13: io.dbytes / 512,
		16: 0,
	}
	for i := range nf {
		b = append(b, ' ')
		if i < len(vals) {
			b = strconv.AppendUint(b, vals[i], 10)
		} else {
			b = append(b, '0')
		}
	}
	return append(b, '\n')
}

// appendPadded appends v right-aligned in width columns.
func appendPadded(b []byte, v uint64, width int) []byte {
	var num [20]byte
	digits := strconv.AppendUint(num[:0], v, 10)
	for i := len(digits); i < width; i++ {
		b = append(b, ' ')
	}
	return append(b, digits...)
}

// blockIO reads the container's I/O per device: v1 blkio first, then v2
// io.stat.
func (c Container) blockIO() (map[devNum]devIO, error) {
	io, errV1 := c.blockIOV1()
	if errV1 == nil {
		return io, nil
	}
	if !cgroupMissing(errV1) { // there, but unreadable: not a fallback case
		return nil, fmt.Errorf("block I/O of container %s: %w", c.ID, errV1)
	}
	io, errV2 := c.blockIOV2()
	if errV2 == nil {
		return io, nil
	}
	return nil, fmt.Errorf("block I/O of container %s: %w", c.ID, errors.Join(errV1, errV2))
}

func (c Container) blockIOV1() (map[devNum]devIO, error) {
	read := func(name string) ([]byte, error) {
		b, err := c.readCgroup("blkio", name+"_recursive")
		if err == nil {
			return b, nil
		}
		return c.readCgroup("blkio", name)
	}
	bytesB, err := read("blkio.throttle.io_service_bytes")
	if err != nil {
		return nil, err
	}
	opsB, err := read("blkio.throttle.io_serviced")
	if err != nil {
		return nil, err
	}
	io := map[devNum]devIO{}
	// Lines are "<major>:<minor> <Read|Write|Sync|Async|Discard|Total> <n>",
	// and a last "Total <n>".
	parse := func(b []byte, isBytes bool) error {
		for _, line := range bytes.Split(b, []byte{'\n'}) {
			f := bytes.Fields(line)
			if len(f) != 3 {
				continue
			}
			dev, ok := parseDevNum(f[0])
			if !ok {
				return fmt.Errorf("blkio: bad device %q", f[0])
			}
			n, ok := parseUint(f[2])
			if !ok {
				return fmt.Errorf("blkio: bad count %q", f[2])
			}
			v := io[dev]
			switch string(f[1]) {
			case "Read":
				if isBytes {
					v.rbytes = n
				} else {
					v.rios = n
				}
			case "Write":
				if isBytes {
					v.wbytes = n
				} else {
					v.wios = n
				}
			case "Discard":
				if isBytes {
					v.dbytes = n
				} else {
					v.dios = n
				}
			default:
				continue
			}
			io[dev] = v
		}
		return nil
	}
	if err := parse(bytesB, true); err != nil {
		return nil, err
	}
	if err := parse(opsB, false); err != nil {
		return nil, err
	}
	return io, nil
}

func (c Container) blockIOV2() (map[devNum]devIO, error) {
	b, err := c.readCgroup("", "io.stat")
	if err != nil {
		return nil, err
	}
	io := map[devNum]devIO{}
	// Lines are "<major>:<minor> rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6".
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		f := bytes.Fields(line)
		if len(f) < 2 {
			continue
		}
		dev, ok := parseDevNum(f[0])
		if !ok {
			return nil, fmt.Errorf("io.stat: bad device %q", f[0])
		}
		var v devIO
		for _, kv := range f[1:] {
			k, val, ok := bytes.Cut(kv, []byte{'='})
			if !ok {
				continue
			}
			n, ok := parseUint(val)
			if !ok {
				continue
			}
			switch string(k) {
			case "rbytes":
				v.rbytes = n
			case "wbytes":
				v.wbytes = n
			case "rios":
				v.rios = n
			case "wios":
				v.wios = n
			case "dbytes":
				v.dbytes = n
			case "dios":
				v.dios = n
			}
		}
		io[dev] = v
	}
	return io, nil
}

// parseDevNum parses "<major>:<minor>".
func parseDevNum(b []byte) (devNum, bool) {
	ma, mi, ok := bytes.Cut(b, []byte{':'})
	if !ok {
		return devNum{}, false
	}
	major, ok1 := parseUint(ma)
	minor, ok2 := parseUint(mi)
	return devNum{major, minor}, ok1 && ok2
}
