// Package preflight checks that a host has what Sysboxd relies on: the kernel
// features behind system containers (user namespaces, ID-mapped mounts,
// overlay on ID-mapped layers, seccomp user notification, FUSE, mount
// hand-over), the cgroup setup, AppArmor and the subordinate id pool.
//
// Each check is a named function returning a status and a detail. The
// probes that need the kernel do the real operation (create a user
// namespace, ID-map a mount, mount an overlay in a private mount namespace)
// and clean up after themselves; the interpretation of what they find is
// pure and unit-tested over fakes.
package preflight

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Status is the outcome of one check.
type Status int

const (
	// OK: the feature is there.
	OK Status = iota
	// Warn: Sysboxd works, with a limit the detail names.
	Warn
	// Missing: the feature is not there. For a required check, system
	// containers cannot run.
	Missing
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Warn:
		return "warn"
	}
	return "missing"
}

// Result is what a check found.
type Result struct {
	Status Status
	Detail string
}

func ok(format string, a ...any) Result   { return Result{OK, fmt.Sprintf(format, a...)} }
func warn(format string, a ...any) Result { return Result{Warn, fmt.Sprintf(format, a...)} }
func missing(format string, a ...any) Result {
	return Result{Missing, fmt.Sprintf(format, a...)}
}

// Check is one named check. A Missing result of a Required check makes the
// whole run fail; for the others it is reported like a warning.
type Check struct {
	Name     string
	Required bool
	Run      func() Result
}

// Outcome is a check with its result.
type Outcome struct {
	Check
	Result
}

// Run runs the checks in order.
func Run(checks []Check) []Outcome {
	out := make([]Outcome, 0, len(checks))
	for _, c := range checks {
		out = append(out, Outcome{Check: c, Result: c.Run()})
	}
	return out
}

// Failed returns the names of the required checks that found their feature
// missing.
func Failed(outcomes []Outcome) []string {
	var names []string
	for _, o := range outcomes {
		if o.Required && o.Status == Missing {
			names = append(names, o.Name)
		}
	}
	return names
}

// Print writes one line per outcome: name, status, detail. Optional checks
// that miss their feature are marked "(optional)".
func Print(w io.Writer, outcomes []Outcome) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, o := range outcomes {
		status := o.Status.String()
		if o.Status == Missing && !o.Required {
			status += " (optional)"
		}
		detail := strings.ReplaceAll(o.Detail, "\n", " ")
		fmt.Fprintf(tw, "%s\t%s\t%s\n", o.Name, status, detail)
	}
	return tw.Flush()
}
