package daemon

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPidFileRefusesSecondInstance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.pid")
	p, err := AcquirePidFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	got, _ := os.ReadFile(path)
	if strings.TrimSpace(string(got)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file holds %q, want our pid", got)
	}
	if _, err := AcquirePidFile(path); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second acquire: got %v, want ErrAlreadyRunning", err)
	}
}

func TestPidFileOfDeadProcessIsTakenOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.pid")
	// A predecessor that was killed leaves its pid file behind, unlocked.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := AcquirePidFile(path)
	if err != nil {
		t.Fatalf("stale pid file not taken over: %v", err)
	}
	p.Release()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Release left the pid file: %v", err)
	}
}
