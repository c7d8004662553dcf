package main

import "testing"

func TestParseSignalAcceptsNamesAndNumbers(t *testing.T) {
	// "0" is kill(2)'s existence check, which runc passes through.
	for in, want := range map[string]int{"KILL": 9, "SIGTERM": 15, "hup": 1, "9": 9, "RTMIN+3": 37, "sigusr1": 10, "0": 0} {
		got, err := parseSignal(in)
		if err != nil || int(got) != want {
			t.Errorf("parseSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"NOPE", "-1", "-9", "99", ""} {
		if _, err := parseSignal(bad); err == nil {
			t.Errorf("parseSignal(%q) accepted a bad signal", bad)
		}
	}
}
