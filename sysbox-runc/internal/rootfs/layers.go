package rootfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/sysboxd/sysboxd/internal/mountstage"
)

// stagedUpperName is the directory of a layer stage where the parent of the
// upper and work dirs is attached. Lower layers get decimal names ("0",
// "1", ...), so neither can be mistaken for a Docker layer path ("l/<id>",
// "<64 hex>/diff").
const stagedUpperName = "upper"

// layerStage is the private mount (mountstage) on which the ID-mapped layers
// of one overlay are attached while the overlay is mounted.
//
// Overlay takes its own private clones of the layers at mount time, so the
// layers need to stay attached only for the mount(2) call. They must be
// attached at all because kernels before 6.x refuse detached mounts as
// layers (seen on Debian 12's 6.1: EINVAL, "overlayfs: failed to clone
// upperpath"; 6.18 takes them). The overlay names the layers relative to
// the stage (the mounting thread's cwd), which keeps the option string
// short for any number of layers.
type layerStage struct{ *mountstage.Stage }

func newLayerStage(root string) (*layerStage, error) {
	s, err := mountstage.New(root, "ovl")
	if err != nil {
		return nil, fmt.Errorf("layer %w", err)
	}
	return &layerStage{s}, nil
}

// attach attaches tree at name on the stage and returns name.
func (s *layerStage) attach(tree *os.File, name string) (string, error) {
	if _, err := s.Attach(int(tree.Fd()), name); err != nil {
		return "", fmt.Errorf("layer %s: %w", tree.Name(), err)
	}
	return name, nil
}

// attachLower attaches the next lower layer.
func (s *layerStage) attachLower(tree *os.File) (string, error) {
	return s.attach(tree, strconv.Itoa(s.Attached()))
}

// isStagedLayer reports whether p names a layer the way a layer stage does
// (an overlay this package mounted).
func isStagedLayer(p string) bool {
	if strings.HasPrefix(p, stagedUpperName+"/") {
		return true
	}
	if p == "" {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
