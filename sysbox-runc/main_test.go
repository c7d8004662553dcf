package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestListFailsOnAMissingRootGivenOnTheCommandLine(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{"missing --root is an error, as with runc", []string{"--root", filepath.Join(t.TempDir(), "typo"), "list"}, true},
		{"existing empty --root lists nothing", []string{"--root", t.TempDir(), "list", "-q"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newApp().Run(append([]string{"sysbox-runc"}, tt.args...))
			if (err != nil) != tt.wantErr {
				t.Fatalf("sysbox-runc %q: err = %v, want error %v", tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestNoKernelCheckIsAcceptedAndChangesNothing(t *testing.T) {
	if err := newApp().Run([]string{"sysbox-runc", "--no-kernel-check", "--root", t.TempDir(), "list", "-q"}); err != nil {
		t.Fatalf("--no-kernel-check refused: %v", err)
	}
}

func TestExitStatusOfAFailedCommand(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		err      error
		wantMsg  string
		wantCode int
	}{
		{"an error exits 1", boom, "boom", 1},
		{"a failed exec exits 255", &exitError{code: 255, err: fmt.Errorf("exec failed: %w", boom)}, "exec failed: boom", 255},
		{"a foreground process's code passes through silently", cli.Exit("", 7), "", 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, code := exitStatus(tt.err)
			if msg != tt.wantMsg || code != tt.wantCode {
				t.Errorf("exitStatus = %q, %d; want %q, %d", msg, code, tt.wantMsg, tt.wantCode)
			}
		})
	}
}

func TestFailedExecExits255(t *testing.T) {
	err := newApp().Run([]string{"sysbox-runc", "--root", t.TempDir(), "exec", "no-such-container", "true"})
	if msg, code := exitStatus(err); code != 255 || msg == "" {
		t.Fatalf("exec in a missing container: exit %d, message %q; want 255 with a message", code, msg)
	}
}

func TestRuncFlagsWithoutAnEffectHereAreKnown(t *testing.T) {
	empty := t.TempDir() // a bundle without config.json: run stops there
	err := newApp().Run([]string{"sysbox-runc", "--root", t.TempDir(), "run", "--no-subreaper", "--bundle", empty, "c1"})
	if err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("run --no-subreaper: err = %v, want the missing config.json (the flag known)", err)
	}
	dir := t.TempDir()
	err = newApp().Run([]string{"sysbox-runc", "spec", "--rootless", "--bundle", dir})
	if err == nil || !strings.Contains(err.Error(), "--rootless") {
		t.Errorf("spec --rootless: err = %v, want a refusal naming --rootless", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "config.json")); statErr == nil {
		t.Error("spec --rootless wrote a config.json")
	}
}
