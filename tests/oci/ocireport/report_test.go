package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseTAPCountsPointsDirectivesAndFirstFailure(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want tapResult
	}{
		{
			name: "passes, skips and a todo",
			in:   "TAP version 13\nok 1 - a\nok 2 # SKIP not set\nnot ok 3 - b # TODO later\n1..3\n",
			want: tapResult{Plan: 3, Passed: 1, Skipped: 1, Todo: 1},
		},
		{
			name: "first failure gets the error of its own diagnostic block",
			in: "TAP version 13\nok 1 - a\nnot ok 2 - hostname\n  ---\n  {\n    \"error\": \"wrong\\nhostname\"\n  }\n  ...\n" +
				"not ok 3 - later\n  ---\n  {\n    \"error\": \"not this one\"\n  }\n  ...\n1..3\n",
			want: tapResult{Plan: 3, Passed: 1, Failed: 2, FirstFailure: "hostname: wrong hostname"},
		},
		{
			name: "a block after a passing test is not a failure message",
			in:   "ok 1 - a\n  ---\n  {\n    \"error\": \"informational\"\n  }\n  ...\nnot ok 2 - b\n1..2\n",
			want: tapResult{Plan: 2, Passed: 1, Failed: 1, FirstFailure: "b"},
		},
		{
			name: "lifecycle error reported outside any test",
			in:   "TAP version 13\n  ---\n  {\n    \"error\": \"Hooks MUST be called in the listed order\\nRefer to: x\"\n  }\n  ...\n1..0\n",
			want: tapResult{Plan: 0, OrphanError: "Hooks MUST be called in the listed order Refer to: x"},
		},
		{
			name: "no plan when the program died",
			in:   "TAP version 13\nok 1 - a\n",
			want: tapResult{Plan: -1, Passed: 1},
		},
		{
			name: "two TAP documents from one program",
			in:   "TAP version 13\nok 1 - a\nok 2 - b\n1..2\nTAP version 13\n1..0\nTAP version 13\nok 1 - c\n1..1\n",
			want: tapResult{Plan: 3, Passed: 3},
		},
		{
			name: "a failure without description is named by its number",
			in:   "not ok 7\n1..7\n",
			want: tapResult{Plan: 7, Failed: 1, FirstFailure: "test 7"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTAP(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("parseTAP:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestJudgeNeedsCleanExitMatchingPlanNoFailureAndNoLeak(t *testing.T) {
	ok := tapResult{Plan: 2, Passed: 1, Skipped: 1}
	tests := []struct {
		name       string
		run        run
		want       Status
		wantReason string
	}{
		{"all good", run{TAP: ok}, Pass, ""},
		{"empty plan without error passes", run{TAP: tapResult{Plan: 0}}, Pass, ""},
		{"failed test", run{TAP: tapResult{Plan: 1, Failed: 1, FirstFailure: "x"}}, Fail, "x"},
		{"lifecycle error", run{TAP: tapResult{Plan: 0, OrphanError: "MUST"}, Stderr: "failed to create the container\nsysbox-runc: boom\n"}, Fail, "MUST (boom)"},
		{"runtime refused, no TAP", run{TAP: tapResult{Plan: -1}, Code: 1, Stderr: "failed to create the container\nsysbox-runc: unknown rlimit\nexit status 1\n"}, Fail, "unknown rlimit"},
		{"nonzero exit with passing TAP", run{TAP: ok, Code: 1, Stderr: "Any value MUST cause an error\n"}, Fail, "Any value MUST cause an error"},
		{"silent exit 0 is the program's own pass", run{TAP: tapResult{Plan: -1}, Stderr: "sysbox-runc: unknown rlimit\n"}, Pass, ""},
		{"test lines without a plan", run{TAP: tapResult{Plan: -1, Passed: 1}}, Fail, "exit code 0 without a TAP plan"},
		{"plan mismatch", run{TAP: tapResult{Plan: 3, Passed: 2}}, Fail, "plan 1..3 but 2 test lines"},
		{"timeout", run{TAP: ok, Code: exitTimeout}, Timeout, "no result within the time limit"},
		{"leak fails a passing program", run{TAP: ok, Leaks: "id1: sysbox-mgr lease\n"}, Fail, "; left behind: id1: sysbox-mgr lease"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := judge(tt.run)
			if got.Status != tt.want || got.Reason != tt.wantReason {
				t.Fatalf("judge = %s %q, want %s %q", got.Status, got.Reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestStderrReasonPrefersTheRuntimeLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"failed to create the container\nsysbox-runc: bad thing\nexit status 1\n", "bad thing"},
		{"failed to start the container\nplain message\n", "plain message"},
		{"WARNING: x runc: not the runtime\n", "WARNING: x runc: not the runtime"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := stderrReason(tt.in); got != tt.want {
			t.Errorf("stderrReason(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseExpectationsRejectsBadLines(t *testing.T) {
	good := "# comment\ndefault fail semantics # caps\nstate pass\n\n"
	exp, err := parseExpectations(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if exp["default"] != (expectation{Fail, "semantics"}) || exp["state"] != (expectation{Pass, ""}) || len(exp) != 2 {
		t.Fatalf("parsed %+v", exp)
	}
	for _, bad := range []string{"x maybe semantics\n", "x fail\n", "x\n", "x pass a b\n", "x pass\nx pass\n"} {
		if _, err := parseExpectations(strings.NewReader(bad)); err == nil {
			t.Errorf("parseExpectations(%q) accepted it", bad)
		}
	}
}

func TestSurprisesReportsEveryDifferenceAndTreatsTimeoutAsFailure(t *testing.T) {
	outs := []outcome{
		{Program: "a", Status: Pass},
		{Program: "b", Status: Fail},
		{Program: "c", Status: Timeout},
		{Program: "d", Status: Fail},
		{Program: "unlisted", Status: Fail},
	}
	exp := map[string]expectation{
		"a": {Fail, "bug"},
		"b": {Fail, "semantics"},
		"c": {Fail, "host"},
		"d": {Pass, ""},
	}
	got := strings.Join(surprises(outs, exp), "\n")
	want := "a: pass, expected fail\nd: fail, expected pass\nunlisted: fail, expected pass"
	if got != want {
		t.Fatalf("surprises:\n%s\nwant:\n%s", got, want)
	}
}

func TestReportOverStoredResultsExitsNonZeroOnSurprise(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("good.tap", "TAP version 13\nok 1 - x\n1..1\n")
	write("good.rc", "0\n")
	write("bad.tap", "")
	write("bad.rc", "1\n")
	write("bad.err", "failed to create the container\nsysbox-runc: nope | really\n")
	expect := filepath.Join(t.TempDir(), "expected.txt")
	md := filepath.Join(t.TempDir(), "results.md")

	var out strings.Builder
	if err := os.WriteFile(expect, []byte("bad fail bug\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := mainErr([]string{"-results", dir, "-expect", expect, "-md", md}, &out); err != nil {
		t.Fatalf("results as expected, got error %v\n%s", err, out.String())
	}
	table, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(table), `| bad | fail | 0 / 0 / 0 | bug | nope \| really |`) {
		t.Fatalf("table row for bad is wrong:\n%s", table)
	}
	if !strings.Contains(out.String(), "programs: 2, passed: 1, failed: 1 (timeouts: 0)") {
		t.Fatalf("summary missing:\n%s", out.String())
	}

	if err := os.WriteFile(expect, []byte(""), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := mainErr([]string{"-results", dir, "-expect", expect, "-md", md}, &out); err == nil {
		t.Fatalf("an unexpected failure did not fail the report:\n%s", out.String())
	}
}

func TestCompareColumnsShowOtherRunsResults(t *testing.T) {
	mk := func(content, rc string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "p.tap"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "p.rc"), []byte(rc), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	main := mk("not ok 1 - x\n1..1\n", "0")
	ref := mk("ok 1 - x\n1..1\n", "0")
	var out strings.Builder
	if err := mainErr([]string{"-results", main, "-compare", "runc=" + ref}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| Program | sysbox-runc | ok / not ok / skip | runc | Class | First failure |") ||
		!strings.Contains(out.String(), "| p | fail | 0 / 1 / 0 | pass | - | x |") {
		t.Fatalf("table:\n%s", out.String())
	}
	if err := mainErr([]string{"-results", main, "-compare", "nodir"}, &out); err == nil {
		t.Fatal("-compare without NAME=DIR accepted")
	}
}
