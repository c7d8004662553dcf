package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestPercentileInterpolatesBetweenNearestRanks(t *testing.T) {
	tests := []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"median of odd count is the middle value", []float64{1, 2, 9}, 50, 2},
		{"median of even count is the mean of the middle two", []float64{1, 2, 4, 9}, 50, 3},
		{"p0 is the minimum", []float64{3, 5, 7}, 0, 3},
		{"p100 is the maximum", []float64{3, 5, 7}, 100, 7},
		{"p10 of 1..11 is 2", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 10, 2},
		{"p90 of 0,10 interpolates to 9", []float64{0, 10}, 90, 9},
		{"single value is every percentile", []float64{42}, 90, 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("percentile of no values is not NaN")
	}
}

func TestSummarizeDoesNotReorderItsInput(t *testing.T) {
	in := []float64{5, 1, 4, 2, 3}
	s := summarize(in)
	if s.N != 5 || s.P50 != 3 || s.Min != 1 || s.Max != 5 {
		t.Errorf("summarize(%v) = %+v", in, s)
	}
	if in[0] != 5 || in[1] != 1 {
		t.Errorf("input was reordered: %v", in)
	}
}

func TestReadSamplesKeepsLabelOrderAndSpaces(t *testing.T) {
	in := "sysbox /proc/uptime\t3000\nrunc /proc/uptime\t1000\n\nsysbox /proc/uptime\t5000\n"
	s, err := readSamples(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := writeSummaries(&out, s, "us"); err != nil {
		t.Fatal(err)
	}
	want := "sysbox /proc/uptime\t2\t3.2\t4.0\t4.8\t3.0\t5.0\n" +
		"runc /proc/uptime\t1\t1.0\t1.0\t1.0\t1.0\t1.0\n"
	if out.String() != want {
		t.Errorf("summaries:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestReadSamplesRejectsMalformedLines(t *testing.T) {
	for _, in := range []string{"no-tab-here\n", "label\tnot-a-number\n", "\t12\n"} {
		if _, err := readSamples(strings.NewReader(in)); err == nil {
			t.Errorf("readSamples(%q) accepted a malformed line", in)
		}
	}
}

func TestWriteSummariesRejectsUnknownUnit(t *testing.T) {
	if err := writeSummaries(&bytes.Buffer{}, newSeries(), "fortnights"); err == nil {
		t.Error("unknown unit accepted")
	}
}
