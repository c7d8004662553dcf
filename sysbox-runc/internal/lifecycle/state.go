package lifecycle

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sysboxd/sysboxd/internal/atomicfile"
)

// StateFile is the name of the lifecycle state inside the container's
// libcontainer state directory.
const StateFile = "sysbox.json"

// Save writes the state atomically into dir.
func (s *State) Save(dir string) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode sysbox state: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, StateFile), b, 0o600); err != nil {
		return fmt.Errorf("save sysbox state: %w", err)
	}
	return nil
}

// LoadState reads the state saved in dir.
func LoadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("read sysbox state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode sysbox state %s: %w", filepath.Join(dir, StateFile), err)
	}
	return &s, nil
}
