package seccomp

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// callerMem reads a trapped caller's memory through /proc/<tid>/mem. The
// file is opened first and the notification checked valid right after:
// the open file is bound to the memory of the process it was opened for,
// so a pid reused meanwhile is never read. Check valid again (ok) after
// the reads, before acting on what was read.
type callerMem struct {
	fd    int
	ln    *listener
	reqID uint64
}

// errCallerGone: the notification is no longer valid (the caller was
// killed or interrupted); its answer will not be taken.
var errCallerGone = errors.New("caller gone")

// openCallerMem opens the caller's memory for reading.
func (a *Agent) openCallerMem(ln *listener, req *notif) (*callerMem, error) {
	path := a.cfg.ProcRoot + "/" + strconv.FormatUint(uint64(req.Pid), 10) + "/mem"
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, errCallerGone)
	}
	m := &callerMem{fd: fd, ln: ln, reqID: req.ID}
	if !m.ok() {
		m.close()
		return nil, errCallerGone
	}
	return m, nil
}

func (m *callerMem) close() { unix.Close(m.fd) }

// ok tells whether the notification is still waiting for its answer.
func (m *callerMem) ok() bool {
	return notifValid(m.ln.f, m.reqID)
}

// notifValid is SECCOMP_IOCTL_NOTIF_ID_VALID on f.
func notifValid(f *os.File, id uint64) bool {
	ok := false
	if err := withFD(f, func(fd uintptr) { ok = idValid(fd, id) }); err != nil {
		return false
	}
	return ok
}

// pageSize bounds each read, so that a string ending just before an
// unmapped page is still read whole.
var pageSize = uint64(os.Getpagesize())

// readString reads the NUL-terminated string at addr, at most max bytes
// before the NUL: unix.EFAULT for a bad pointer, unix.ENAMETOOLONG when
// no NUL comes within max bytes.
func (m *callerMem) readString(addr uint64, max int) (string, error) {
	if addr == 0 {
		return "", unix.EFAULT
	}
	var out []byte
	buf := make([]byte, pageSize)
	for len(out) <= max {
		if addr > 1<<63-1-pageSize {
			return "", unix.EFAULT
		}
		n := int(pageSize - addr%pageSize) // up to the page's end
		got, err := unix.Pread(m.fd, buf[:n], int64(addr))
		if err != nil || got <= 0 {
			return "", unix.EFAULT
		}
		if i := bytes.IndexByte(buf[:got], 0); i >= 0 {
			out = append(out, buf[:i]...)
			if len(out) > max {
				break
			}
			return string(out), nil
		}
		out = append(out, buf[:got]...)
		addr += uint64(got)
	}
	return "", unix.ENAMETOOLONG
}

// readBytes reads n bytes at addr: unix.EFAULT for a bad pointer.
func (m *callerMem) readBytes(addr uint64, n int) ([]byte, error) {
	b := make([]byte, n)
	if n == 0 {
		return b, nil
	}
	if addr == 0 || addr > 1<<63-1-uint64(n) {
		return nil, unix.EFAULT
	}
	got, err := unix.Pread(m.fd, b, int64(addr))
	if err != nil || got != n {
		return nil, unix.EFAULT
	}
	return b, nil
}
