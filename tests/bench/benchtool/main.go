// Command benchtool is the measuring half of `make bench` (scripts/bench.sh drives it).
//
//	benchtool time [-n RUNS] [-warmup ROUNDS] [-timeout D] [-retries K] [-log FILE]
//	               [-samples FILE] [-unit ms] LABEL=COMMAND...
//	    Runs the commands round by round, every command once per round, so that noise on the
//	    machine spreads over all of them; the starting command rotates from round to round.
//	    COMMAND is split on blanks (no shell); "{i}" in it becomes a token unique to the run,
//	    e.g. for container names. Wall time from fork to exit is measured. A failed run is not
//	    counted and is run again after a pause, at most K times in all (the machine is shared:
//	    a daemon may be restarting); each such failure is appended to the -log file. One more
//	    failure stops everything (exit status 1, the command's output shown). Prints one
//	    summary line per label: LABEL N P10 P50 P90 MIN MAX (tab-separated, in -unit).
//	benchtool stats [-unit us]
//	    Reads LABEL<TAB>NANOSECONDS lines on stdin and prints the same summary per label.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "benchtool: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: benchtool time|stats [options] (see the package comment)")
	}
	switch args[0] {
	case "time":
		return timeCmd(args[1:], stdout, stderr)
	case "stats":
		return statsCmd(args[1:], stdin, stdout)
	default:
		return fmt.Errorf("unknown subcommand %q (time or stats)", args[0])
	}
}

func statsCmd(args []string, stdin io.Reader, stdout io.Writer) error {
	fl := flag.NewFlagSet("stats", flag.ContinueOnError)
	unit := fl.String("unit", "us", "unit of the printed figures: ns, us, ms or s")
	if err := fl.Parse(args); err != nil {
		return err
	}
	s, err := readSamples(stdin)
	if err != nil {
		return err
	}
	return writeSummaries(stdout, s, *unit)
}

// job is one labelled command of `benchtool time`.
type job struct {
	label string
	argv  []string
}

func parseJobs(specs []string) ([]job, error) {
	if len(specs) == 0 {
		return nil, errors.New("no LABEL=COMMAND given")
	}
	seen := map[string]bool{}
	jobs := make([]job, 0, len(specs))
	for _, spec := range specs {
		label, cmd, ok := strings.Cut(spec, "=")
		argv := strings.Fields(cmd)
		if !ok || label == "" || len(argv) == 0 {
			return nil, fmt.Errorf("want LABEL=COMMAND, got %q", spec)
		}
		if seen[label] {
			return nil, fmt.Errorf("label %q given twice", label)
		}
		seen[label] = true
		jobs = append(jobs, job{label: label, argv: argv})
	}
	return jobs, nil
}

// order returns the job indexes of one round: all of them, starting at round mod len.
func order(round, n int) []int {
	idx := make([]int, n)
	for k := range idx {
		idx[k] = (round + k) % n
	}
	return idx
}

func timeCmd(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("time", flag.ContinueOnError)
	runs := fl.Int("n", 20, "measured runs of each command")
	warmup := fl.Int("warmup", 1, "unmeasured rounds first")
	timeout := fl.Duration("timeout", 2*time.Minute, "limit for one run of a command")
	samplesFile := fl.String("samples", "", "append LABEL<TAB>NANOSECONDS per run to this file")
	retries := fl.Int("retries", 0, "failed runs tolerated in all (each is run again after a pause)")
	retryPause := fl.Duration("retry-pause", 2*time.Second, "pause before running a failed run again")
	logFile := fl.String("log", "", "append a line per tolerated failure to this file")
	unit := fl.String("unit", "ms", "unit of the printed figures: ns, us, ms or s")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *runs < 1 || *warmup < 0 || *retries < 0 {
		return errors.New("-n must be at least 1, -warmup and -retries at least 0")
	}
	if _, ok := units[*unit]; !ok {
		return fmt.Errorf("unknown unit %q (ns, us, ms or s)", *unit)
	}
	jobs, err := parseJobs(fl.Args())
	if err != nil {
		return err
	}
	var samples io.Writer = io.Discard
	if *samplesFile != "" {
		f, err := os.OpenFile(*samplesFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("samples file: %w", err)
		}
		defer f.Close()
		samples = f
	}
	failLog := stderr
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("log file: %w", err)
		}
		defer f.Close()
		failLog = io.MultiWriter(stderr, f)
	}

	s := newSeries()
	for _, j := range jobs {
		s.declare(j.label) // summaries in the order given, whatever command starts a round
	}
	for round := -*warmup; round < *runs; round++ {
		for _, k := range order(round+*warmup, len(jobs)) {
			j := jobs[k]
			token := strconv.Itoa(round)
			if round < 0 {
				token = "w" + strconv.Itoa(-round)
			}
			d, err := timeOnce(j, token, *timeout)
			for attempt := 1; err != nil && *retries > 0; attempt++ {
				*retries--
				first, _, _ := strings.Cut(err.Error(), "\n")
				fmt.Fprintf(failLog, "%s (round %s): failed, not counted, run again: %s\n", j.label, token, first)
				time.Sleep(*retryPause)
				d, err = timeOnce(j, token+"r"+strconv.Itoa(attempt), *timeout)
			}
			if err != nil {
				return fmt.Errorf("%s (round %s): %w", j.label, token, err)
			}
			if round < 0 {
				continue
			}
			s.add(j.label, float64(d))
			if _, err := fmt.Fprintf(samples, "%s\t%d\n", j.label, d.Nanoseconds()); err != nil {
				return fmt.Errorf("samples file: %w", err)
			}
		}
		fmt.Fprint(stderr, ".")
	}
	fmt.Fprintln(stderr)
	return writeSummaries(stdout, s, *unit)
}

// timeOnce runs the job once with "{i}" replaced by token and returns its wall time.
func timeOnce(j job, token string, timeout time.Duration) (time.Duration, error) {
	argv := make([]string, len(j.argv))
	for i, a := range j.argv {
		argv[i] = strings.ReplaceAll(a, "{i}", token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out // stdin stays empty (/dev/null)
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return d, nil
}
