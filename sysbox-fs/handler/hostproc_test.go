package handler

import (
	"testing"
	"time"
)

func TestHostReadProcKeepsFilesOpenAndRereadsThem(t *testing.T) {
	h := fakeProc(t, time.Now(), map[string]string{"loadavg": "1.00 1.00 1.00 1/1 1\n"})
	h.proc = NewCgroupFiles(map[string]string{"": h.ProcRoot})
	defer h.proc.Close()
	for _, want := range []string{"1.00 1.00 1.00 1/1 1\n", "2.00 2.00 2.00 2/2 22\n"} {
		writeTree(t, h.ProcRoot, map[string]string{"loadavg": want}) // same inode
		if got, err := h.readProc("loadavg"); err != nil || string(got) != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	if n := len(h.proc.files); n != 1 {
		t.Fatalf("%d host files held open, want 1", n)
	}
	// A Host whose ProcRoot was changed after DefaultHost reads the new
	// root, not the held files.
	other := fakeProc(t, time.Now(), map[string]string{"loadavg": "9.00 9.00 9.00 9/9 9\n"})
	h.ProcRoot = other.ProcRoot
	if got, err := h.readProc("loadavg"); err != nil || string(got) != "9.00 9.00 9.00 9/9 9\n" {
		t.Fatalf("other root: %q, %v", got, err)
	}
}
