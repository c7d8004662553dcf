package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Exit codes of timeout(1) and of a process it had to SIGKILL.
const (
	exitTimeout = 124
	exitKilled  = 137
)

// Status is a validation program's overall result.
type Status string

// The statuses a program can end with.
const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Timeout Status = "timeout"
)

// outcome is one validation program's result against one runtime.
type outcome struct {
	Program string
	Status  Status
	TAP     tapResult
	Reason  string // why it failed; empty when it passed
}

// run is what the conformance script stored for one program: its stdout
// (TAP), stderr, exit code and the leak report for the containers it made.
type run struct {
	Program string
	TAP     tapResult
	Code    int
	Stderr  string
	Leaks   string
}

// judge turns a program's run into an outcome. A program passes when it
// exited 0, printed a plan that its test lines match (or printed no TAP at
// all), reported no failed test and no lifecycle error, and left nothing
// behind.
func judge(r run) outcome {
	o := outcome{Program: r.Program, Status: Fail, TAP: r.TAP}
	t := r.TAP
	switch {
	case r.Code == exitTimeout || r.Code == exitKilled:
		o.Status = Timeout
		o.Reason = "no result within the time limit"
	case t.Failed > 0:
		o.Reason = t.FirstFailure
	case t.OrphanError != "":
		o.Reason = t.OrphanError
	case r.Code == 0 && t.Plan < 0 && t.Passed+t.Failed+t.Skipped+t.Todo == 0:
		// A few programs (process_rlimits_fail) print no TAP at all: they
		// exit 1 through util.Fatal when the runtime misbehaves, else 0.
		o.Status = Pass
	case r.Code != 0 || t.Plan < 0:
		o.Reason = stderrReason(r.Stderr)
		if o.Reason == "" {
			o.Reason = fmt.Sprintf("exit code %d without a TAP plan", r.Code)
		}
	case t.Plan != t.Passed+t.Failed+t.Skipped+t.Todo:
		o.Reason = fmt.Sprintf("plan 1..%d but %d test lines", t.Plan, t.Passed+t.Failed+t.Skipped+t.Todo)
	default:
		o.Status = Pass
	}
	// A stderr line from the runtime says more than the suite's generic
	// "failed to create the container".
	if o.Status == Fail && t.Failed == 0 {
		if why := stderrReason(r.Stderr); why != "" && !strings.Contains(o.Reason, why) {
			o.Reason = strings.TrimSuffix(o.Reason, ".") + " (" + why + ")"
		}
	}
	if leaks := strings.TrimSpace(r.Leaks); leaks != "" {
		if o.Status == Pass {
			o.Status = Fail
			o.Reason = ""
		}
		o.Reason = strings.TrimSpace(o.Reason + "; left behind: " + strings.Join(strings.Fields(leaks), " "))
	}
	return o
}

// stderrReason picks the runtime's own error line out of a program's stderr
// (the runtime prints "<name>: <error>"), else its first non-generic line.
func stderrReason(stderr string) string {
	var first string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "failed to ") || strings.HasPrefix(line, "exit status ") {
			continue
		}
		if i := strings.Index(line, "runc: "); i >= 0 && !strings.Contains(line[:i], " ") {
			return line[i+len("runc: "):]
		}
		if first == "" {
			first = line
		}
	}
	return first
}

// loadRuns reads every <program>.tap with its .err, .rc and .leaks from dir.
func loadRuns(dir string) ([]run, error) {
	taps, err := filepath.Glob(filepath.Join(dir, "*.tap"))
	if err != nil {
		return nil, fmt.Errorf("list results in %s: %w", dir, err)
	}
	if len(taps) == 0 {
		return nil, fmt.Errorf("no results (*.tap) in %s", dir)
	}
	sort.Strings(taps)
	runs := make([]run, 0, len(taps))
	for _, tap := range taps {
		r, err := loadRun(strings.TrimSuffix(tap, ".tap"))
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

func loadRun(base string) (run, error) {
	r := run{Program: filepath.Base(base)}
	f, err := os.Open(base + ".tap")
	if err != nil {
		return r, fmt.Errorf("read results of %s: %w", r.Program, err)
	}
	defer f.Close()
	if r.TAP, err = parseTAP(f); err != nil {
		return r, fmt.Errorf("parse TAP of %s: %w", r.Program, err)
	}
	code, err := os.ReadFile(base + ".rc")
	if err != nil {
		return r, fmt.Errorf("read exit code of %s: %w", r.Program, err)
	}
	if r.Code, err = strconv.Atoi(strings.TrimSpace(string(code))); err != nil {
		return r, fmt.Errorf("exit code of %s: %w", r.Program, err)
	}
	stderr, err := os.ReadFile(base + ".err")
	if err != nil && !os.IsNotExist(err) {
		return r, fmt.Errorf("read stderr of %s: %w", r.Program, err)
	}
	r.Stderr = string(stderr)
	leaks, err := os.ReadFile(base + ".leaks")
	if err != nil && !os.IsNotExist(err) {
		return r, fmt.Errorf("read leak report of %s: %w", r.Program, err)
	}
	r.Leaks = string(leaks)
	return r, nil
}

// expectation is a program's recorded result from the expectations file:
// pass, or fail with the class of cause (semantics, bug, suite, host).
type expectation struct {
	Status Status
	Class  string
}

// parseExpectations reads lines "<program> <pass|fail> [class]"; '#' starts
// a comment.
func parseExpectations(r io.Reader) (map[string]expectation, error) {
	out := map[string]expectation{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("line %d: want '<program> <pass|fail> [class]', got %q", n, sc.Text())
		}
		e := expectation{Status: Status(f[1])}
		if e.Status != Pass && e.Status != Fail {
			return nil, fmt.Errorf("line %d: result %q is neither pass nor fail", n, f[1])
		}
		if len(f) == 3 {
			e.Class = f[2]
		}
		if e.Status == Fail && e.Class == "" {
			return nil, fmt.Errorf("line %d: a failure needs its class (semantics, bug, suite or host)", n)
		}
		if _, dup := out[f[0]]; dup {
			return nil, fmt.Errorf("line %d: %s listed twice", n, f[0])
		}
		out[f[0]] = e
	}
	return out, sc.Err()
}

// surprises lists the programs whose result differs from the expectations; a
// timeout counts as a failure. A program with no expectation must pass.
func surprises(outs []outcome, exp map[string]expectation) []string {
	var msgs []string
	for _, o := range outs {
		want := Pass
		if e, ok := exp[o.Program]; ok {
			want = e.Status
		}
		got := o.Status
		if got == Timeout {
			got = Fail
		}
		if got != want {
			msgs = append(msgs, fmt.Sprintf("%s: %s, expected %s", o.Program, o.Status, want))
		}
	}
	return msgs
}
