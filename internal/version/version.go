// Package version holds the build stamp shared by the three binaries.
package version

import "fmt"

// Version and Commit are set at link time by the Makefile
// (-X github.com/sysboxd/sysboxd/internal/version.Version=...).
var (
	Version = "dev"
	Commit  = "unknown"
)

// String is what each binary prints for --version.
func String(binary string) string {
	return fmt.Sprintf("%s version %s (commit %s)", binary, Version, Commit)
}
