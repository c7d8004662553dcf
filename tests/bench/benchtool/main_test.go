package main

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestOrderRotatesTheFirstCommandEachRound(t *testing.T) {
	tests := []struct {
		round, n int
		want     []int
	}{
		{0, 3, []int{0, 1, 2}},
		{1, 3, []int{1, 2, 0}},
		{2, 3, []int{2, 0, 1}},
		{3, 3, []int{0, 1, 2}},
		{5, 1, []int{0}},
	}
	for _, tt := range tests {
		if got := order(tt.round, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("order(%d, %d) = %v, want %v", tt.round, tt.n, got, tt.want)
		}
	}
}

func TestParseJobsRejectsBadSpecs(t *testing.T) {
	for _, specs := range [][]string{nil, {"nolabel"}, {"=true"}, {"a="}, {"a=true", "a=false"}} {
		if _, err := parseJobs(specs); err == nil {
			t.Errorf("parseJobs(%q) accepted it", specs)
		}
	}
	jobs, err := parseJobs([]string{"x=sh -c  exit"})
	if err != nil || len(jobs) != 1 || !slices.Equal(jobs[0].argv, []string{"sh", "-c", "exit"}) {
		t.Errorf("parseJobs = %+v, %v", jobs, err)
	}
}

func TestTimeRunsEveryCommandNTimesAndSubstitutesTheRunToken(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	err := run([]string{"time", "-n", "3", "-warmup", "1", "-samples", dir + "/s",
		"a=touch " + dir + "/a-{i}", "b=true"}, nil, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "a\t3\t") || !strings.HasPrefix(lines[1], "b\t3\t") {
		t.Errorf("summary:\n%s", out.String())
	}
	for _, name := range []string{"a-w1", "a-0", "a-1", "a-2"} {
		if _, err := os.Stat(dir + "/" + name); err != nil {
			t.Errorf("run token file %s missing: %v", name, err)
		}
	}
	b, err := os.ReadFile(dir + "/s")
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Count(s, "\n") != 6 {
		t.Errorf("samples file does not have 6 lines (warm-up not recorded):\n%s", s)
	}
}

func TestTimeFailsWithTheCommandOutputWhenACommandFails(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run([]string{"time", "-n", "2", "ok=true", "bad=sh -c echo${IFS}boom;exit${IFS}3"}, nil, &out, &errOut)
	if err == nil {
		t.Fatal("a failing command did not fail the run")
	}
	if !strings.Contains(err.Error(), "bad") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("error does not name the label and show the output: %v", err)
	}
}

func TestTimeRunsAFailedRunAgainWithinTheRetryBudgetAndLogsIt(t *testing.T) {
	dir := t.TempDir()
	// Fails the first time only: the marker file exists from then on.
	script := "#!/bin/sh\n[ -e " + dir + "/m ] && exit 0\ntouch " + dir + "/m\nexit 1\n"
	if err := os.WriteFile(dir+"/flaky.sh", []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	flaky := dir + "/flaky.sh"
	var out, errOut bytes.Buffer
	err := run([]string{"time", "-n", "2", "-warmup", "0", "-retries", "1", "-retry-pause", "0s",
		"-log", dir + "/log", "flaky=" + flaky}, nil, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "flaky\t2\t") {
		t.Errorf("summary does not count 2 good runs: %q", out.String())
	}
	b, err := os.ReadFile(dir + "/log")
	if err != nil || !strings.Contains(string(b), "flaky (round 0): failed, not counted") {
		t.Errorf("failure not logged: %q, %v", b, err)
	}
}

func TestTimeStopsWhenFailuresExceedTheRetryBudget(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run([]string{"time", "-n", "3", "-warmup", "0", "-retries", "2", "-retry-pause", "0s",
		"bad=false"}, nil, &out, &errOut)
	if err == nil {
		t.Fatal("a command that always fails passed with a budget of 2 retries")
	}
	if n := strings.Count(errOut.String(), "failed, not counted"); n != 2 {
		t.Errorf("%d tolerated failures reported, want 2:\n%s", n, errOut.String())
	}
}
