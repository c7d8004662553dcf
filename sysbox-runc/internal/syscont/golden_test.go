package syscont

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// goldenTransform runs what sysbox-runc create does with a spec: Validate with the runtime's
// defaults, then Transform with the fixed test inputs.
func goldenTransform(t *testing.T, path string) ([]byte, []string) {
	t.Helper()
	s := loadSpec(t, path)
	o, err := Validate(s, Options{SysContMode: true})
	if err != nil {
		t.Fatalf("Validate(%s): %v", path, err)
	}
	var warns []string
	if err := Transform(s, o, testInputs(&warns)); err != nil {
		t.Fatalf("Transform(%s): %v", path, err)
	}
	return specJSON(t, s), warns
}

// TestGoldenSpecs compares the transformed real Docker specs (and crafted ones) with
// testdata/*.golden.json. Regenerate with: go test ./sysbox-runc/internal/syscont -update
func TestGoldenSpecs(t *testing.T) {
	for _, path := range inputSpecs(t) {
		t.Run(path, func(t *testing.T) {
			got, _ := goldenTransform(t, path)
			golden := strings.TrimSuffix(path, ".json") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("transformed %s differs from %s (run with -update after checking the diff):\n%s", path, golden, firstDiff(want, got))
			}
		})
	}
}

// firstDiff shows the first differing line with a little context.
func firstDiff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, wl, gl)
		}
	}
	return "(no line differs)"
}
