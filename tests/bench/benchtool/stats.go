package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Summary is the distribution of one series of samples.
type Summary struct {
	N             int
	P10, P50, P90 float64
	Min, Max      float64
}

// percentile returns the p-th percentile (0..100) of sorted values, interpolating linearly
// between the two nearest ranks (so the median of an even count is the mean of the middle two).
func percentile(sorted []float64, p float64) float64 {
	switch len(sorted) {
	case 0:
		return math.NaN()
	case 1:
		return sorted[0]
	}
	pos := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := pos - float64(lo)
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}

// summarize computes the Summary of values (which it does not modify).
func summarize(values []float64) Summary {
	s := slices.Clone(values)
	slices.Sort(s)
	if len(s) == 0 {
		return Summary{P10: math.NaN(), P50: math.NaN(), P90: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	return Summary{
		N:   len(s),
		P10: percentile(s, 10),
		P50: percentile(s, 50),
		P90: percentile(s, 90),
		Min: s[0],
		Max: s[len(s)-1],
	}
}

// series keeps samples per label in the order labels first appear.
type series struct {
	order  []string
	values map[string][]float64
}

func newSeries() *series { return &series{values: map[string][]float64{}} }

// declare puts label in the order without a sample yet.
func (s *series) declare(label string) {
	if _, ok := s.values[label]; !ok {
		s.order = append(s.order, label)
		s.values[label] = nil
	}
}

func (s *series) add(label string, v float64) {
	s.declare(label)
	s.values[label] = append(s.values[label], v)
}

// readSamples parses "LABEL<TAB>NANOSECONDS" lines; blank lines are skipped.
func readSamples(r io.Reader) (*series, error) {
	s := newSeries()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		i := strings.LastIndexByte(line, '\t')
		if i <= 0 {
			return nil, fmt.Errorf("line %d: want LABEL<TAB>NANOSECONDS, got %q", n, line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		s.add(line[:i], v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading samples: %w", err)
	}
	return s, nil
}

// units maps a unit name to its size in nanoseconds.
var units = map[string]time.Duration{"ns": time.Nanosecond, "us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}

// writeSummaries prints "LABEL N P10 P50 P90 MIN MAX" (tab-separated, values in unit) per label.
func writeSummaries(w io.Writer, s *series, unit string) error {
	div, ok := units[unit]
	if !ok {
		return fmt.Errorf("unknown unit %q (ns, us, ms or s)", unit)
	}
	d := float64(div)
	for _, label := range s.order {
		sum := summarize(s.values[label])
		if _, err := fmt.Fprintf(w, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\n", label, sum.N,
			sum.P10/d, sum.P50/d, sum.P90/d, sum.Min/d, sum.Max/d); err != nil {
			return fmt.Errorf("writing summary: %w", err)
		}
	}
	return nil
}
