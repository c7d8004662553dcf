package main

import (
	"bufio"
	"encoding/json"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// tapResult is what one validation program printed on stdout.
type tapResult struct {
	// Plan is N from the "1..N" line (the sum when the program printed several
	// TAP documents); -1 when it printed none.
	Plan    int
	Passed  int // "ok" lines without a directive
	Failed  int // "not ok" lines without a TODO directive
	Skipped int // "ok ... # SKIP" lines
	Todo    int // lines with a TODO directive (never a failure)
	// FirstFailure describes the first "not ok" line, with the "error"
	// field of its YAML block when there is one.
	FirstFailure string
	// OrphanError is the "error" field of a YAML block that belongs to no
	// test line: the suite's programs report a lifecycle that went wrong
	// that way (then print "1..0").
	OrphanError string
}

var (
	planRe  = regexp.MustCompile(`^1\.\.(\d+)`)
	pointRe = regexp.MustCompile(`^(not ok|ok)\b\s*(\d+)?\s*-?\s*(.*)$`)
)

// parseTAP reads TAP version 13 as the runtime-tools programs print it: test
// lines, a plan (first or last) and YAML diagnostics between "  ---" and
// "  ...", which the programs write as JSON.
func parseTAP(r io.Reader) (tapResult, error) {
	res := tapResult{Plan: -1}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	var (
		inYAML    bool
		yaml      strings.Builder
		lastPoint = "" // "ok", "not ok", or "" when no test line precedes
		firstFail = -1 // index into failures waiting for their YAML
	)
	closeYAML := func() {
		msg := yamlError(yaml.String())
		yaml.Reset()
		switch {
		case lastPoint == "not ok" && firstFail == res.Failed && msg != "":
			res.FirstFailure += ": " + msg
		case lastPoint == "" && msg != "" && res.OrphanError == "":
			res.OrphanError = msg
		}
		lastPoint = ""
	}
	for sc.Scan() {
		line := sc.Text()
		if inYAML {
			if strings.TrimSpace(line) == "..." {
				inYAML = false
				closeYAML()
				continue
			}
			yaml.WriteString(line)
			yaml.WriteByte('\n')
			continue
		}
		if strings.TrimSpace(line) == "---" && strings.HasPrefix(line, " ") {
			inYAML = true
			continue
		}
		if m := planRe.FindStringSubmatch(line); m != nil {
			// Some programs print one TAP document per phase: plans add up.
			if n, err := strconv.Atoi(m[1]); err == nil {
				res.Plan = max(res.Plan, 0) + n
			}
			lastPoint = ""
			continue
		}
		m := pointRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		desc, directive := splitDirective(m[3])
		switch {
		case strings.HasPrefix(directive, "TODO"):
			res.Todo++
			lastPoint = "ok"
			continue
		case m[1] == "ok" && strings.HasPrefix(directive, "SKIP"):
			res.Skipped++
			lastPoint = "ok"
			continue
		case m[1] == "ok":
			res.Passed++
			lastPoint = "ok"
			continue
		}
		res.Failed++
		lastPoint = "not ok"
		if res.FirstFailure == "" {
			res.FirstFailure = desc
			if desc == "" {
				res.FirstFailure = "test " + m[2]
			}
			firstFail = res.Failed
		}
	}
	return res, sc.Err()
}

// splitDirective splits "desc # SKIP why" into the description and the
// directive in upper case ("SKIP WHY").
func splitDirective(s string) (desc, directive string) {
	i := strings.Index(s, "#")
	if i < 0 {
		return strings.TrimSpace(s), ""
	}
	return strings.TrimSpace(s[:i]), strings.ToUpper(strings.TrimSpace(s[i+1:]))
}

// yamlError returns the "error" field of a diagnostic block on one line; the
// programs write the block as a JSON object.
func yamlError(block string) string {
	var fields map[string]any
	if err := json.Unmarshal([]byte(block), &fields); err != nil {
		return ""
	}
	s, _ := fields["error"].(string)
	return strings.Join(strings.Fields(s), " ")
}
