package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// DefaultAppArmorProfileFile is where the package installs the profile system containers
// run under (sysbox-runc names it "sysbox-container").
const DefaultAppArmorProfileFile = "/etc/apparmor.d/sysbox-container"

// appArmorEnabledFile says Y when the kernel runs AppArmor.
const appArmorEnabledFile = "/sys/module/apparmor/parameters/enabled"

// appArmorLoader loads the system-container AppArmor profile into the kernel.
type appArmorLoader struct {
	// EnabledFile is appArmorEnabledFile (a fake in tests).
	EnabledFile string
	// Parser runs apparmor_parser with args.
	Parser func(ctx context.Context, args ...string) ([]byte, error)
}

func defaultAppArmorLoader() appArmorLoader {
	return appArmorLoader{
		EnabledFile: appArmorEnabledFile,
		Parser: func(ctx context.Context, args ...string) ([]byte, error) {
			return exec.CommandContext(ctx, "apparmor_parser", args...).CombinedOutput()
		},
	}
}

// errAppArmorOff is returned by load on a host without AppArmor: nothing to do.
var errAppArmorOff = errors.New("AppArmor is not enabled in this kernel")

// load replaces the profile in file in the kernel (apparmor_parser -r, writing its cache
// with -W so later boots load it fast). It returns errAppArmorOff where AppArmor is off.
func (l appArmorLoader) load(ctx context.Context, file string) error {
	b, err := os.ReadFile(l.EnabledFile)
	if err != nil || strings.TrimSpace(string(b)) != "Y" {
		return errAppArmorOff
	}
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("AppArmor profile: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := l.Parser(ctx, "-r", "-W", file); err != nil {
		return fmt.Errorf("apparmor_parser -r -W %s: %w: %s", file, err, strings.TrimSpace(string(out)))
	}
	return nil
}
