package app

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// "sysbox-mgr check" prints one line per check and fails, naming the
// check, when a required feature is missing: here the subid pool, pointed
// at files that do not exist through the command's flags.
func TestCheckCommandFailsOnAMissingRequiredFeature(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	err := NewApp(&out, &out).Run([]string{"sysbox-mgr", "check",
		"--subuid-file", filepath.Join(dir, "subuid"), "--subgid-file", filepath.Join(dir, "subgid"),
		"--data-root", dir})
	if err == nil || !strings.Contains(err.Error(), "subordinate ids") {
		t.Fatalf("error %v, want one naming the missing subordinate ids", err)
	}
	var subids string
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "subordinate ids") {
			subids = l
		}
	}
	if !strings.Contains(subids, "missing") || !strings.Contains(subids, filepath.Join(dir, "subuid")) {
		t.Errorf("subordinate ids line %q should say missing and name the file", subids)
	}
	if len(lines) < 10 {
		t.Errorf("printed %d lines, want one per check:\n%s", len(lines), out.String())
	}
}
