// Command ocireport turns the stored output of the OCI runtime-tools
// validation programs (one <program>.tap/.err/.rc per program, written by
// scripts/oci-conformance.sh) into a Markdown table, compares the results
// with the recorded expectations and exits non-zero on any difference.
//
//	ocireport -results DIR [-compare NAME=DIR]... [-expect FILE] [-md FILE]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	if err := mainErr(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ocireport:", err)
		os.Exit(1)
	}
}

func mainErr(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("ocireport", flag.ContinueOnError)
	results := fl.String("results", "", "directory with the runtime's results")
	var compare columns
	fl.Var(&compare, "compare", "NAME=DIR: another run's results, shown as a column (repeatable)")
	expectFile := fl.String("expect", "", "expectations file (optional)")
	mdFile := fl.String("md", "", "write the Markdown table here (default: stdout)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *results == "" {
		return fmt.Errorf("-results is required")
	}
	outs, err := judgeDir(*results)
	if err != nil {
		return err
	}
	for i := range compare {
		outs, err := judgeDir(compare[i].dir)
		if err != nil {
			return err
		}
		compare[i].results = make(map[string]outcome, len(outs))
		for _, o := range outs {
			compare[i].results[o.Program] = o
		}
	}
	exp := map[string]expectation{}
	if *expectFile != "" {
		f, err := os.Open(*expectFile)
		if err != nil {
			return fmt.Errorf("read expectations: %w", err)
		}
		exp, err = parseExpectations(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("expectations %s: %w", *expectFile, err)
		}
	}

	var md strings.Builder
	writeTable(&md, outs, compare, exp)
	if *mdFile != "" {
		if err := os.WriteFile(*mdFile, []byte(md.String()), 0o644); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
	} else {
		io.WriteString(stdout, md.String())
	}

	var passed, failed, timedOut int
	for _, o := range outs {
		switch o.Status {
		case Pass:
			passed++
		case Timeout:
			timedOut++
			failed++
		default:
			failed++
		}
	}
	fmt.Fprintf(stdout, "programs: %d, passed: %d, failed: %d (timeouts: %d)\n", len(outs), passed, failed, timedOut)
	if *expectFile != "" {
		if s := surprises(outs, exp); len(s) > 0 {
			fmt.Fprintf(stdout, "results that differ from %s:\n  %s\n", *expectFile, strings.Join(s, "\n  "))
			return fmt.Errorf("%d result(s) differ from the expectations", len(s))
		}
		fmt.Fprintf(stdout, "every result is as recorded in %s\n", *expectFile)
	}
	return nil
}

func judgeDir(dir string) ([]outcome, error) {
	runs, err := loadRuns(dir)
	if err != nil {
		return nil, err
	}
	outs := make([]outcome, len(runs))
	for i, r := range runs {
		outs[i] = judge(r)
	}
	return outs, nil
}

// maxReason bounds the failure text in a table cell.
const maxReason = 220

func writeTable(w io.Writer, outs []outcome, compare columns, exp map[string]expectation) {
	head := "| Program | sysbox-runc | ok / not ok / skip |"
	rule := "|---|---|---|"
	for _, c := range compare {
		head += " " + c.name + " |"
		rule += "---|"
	}
	head += " Class | First failure |"
	rule += "---|---|"
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for _, o := range outs {
		row := fmt.Sprintf("| %s | %s | %d / %d / %d |", o.Program, o.Status, o.TAP.Passed, o.TAP.Failed, o.TAP.Skipped)
		for _, c := range compare {
			if b, ok := c.results[o.Program]; ok {
				row += " " + string(b.Status) + " |"
			} else {
				row += " - |"
			}
		}
		class := "-"
		if e, ok := exp[o.Program]; ok && e.Class != "" {
			class = e.Class
		}
		row += " " + class + " | " + cell(o.Reason) + " |"
		fmt.Fprintln(w, row)
	}
}

// column is another run shown beside the main one.
type column struct {
	name, dir string
	results   map[string]outcome
}

// columns is a repeatable NAME=DIR flag.
type columns []column

func (c *columns) String() string {
	var parts []string
	for _, col := range *c {
		parts = append(parts, col.name+"="+col.dir)
	}
	return strings.Join(parts, ",")
}

func (c *columns) Set(v string) error {
	name, dir, ok := strings.Cut(v, "=")
	if !ok || name == "" || dir == "" {
		return fmt.Errorf("want NAME=DIR, got %q", v)
	}
	*c = append(*c, column{name: name, dir: dir})
	return nil
}

// cell makes text safe for one Markdown table cell.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxReason {
		s = string(r[:maxReason]) + "..."
	}
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "`", "'")
}
