package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// keepArgOrder names the commands whose words after the container id are a
// command line of their own (exec's program and its arguments, ps's
// options): their flags must come before the id, as with runc.
var keepArgOrder = map[string]bool{"exec": true, "ps": true}

// flagsFirst returns args (os.Args) with the chosen command's flags moved
// before its operands. urfave/cli v2 stops parsing flags at the first
// operand, while runc's command line (urfave/cli v1) takes them anywhere:
// engines and scripts run `update <id> --pids-limit 5` or
// `kill <id> KILL --all`. The global flags before the command, a flag's
// value (even "-" or "-1") and everything after "--" stay as they are.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	i := 1
	for i < len(args) && isFlag(args[i]) {
		i += flagWidth(app.Flags, args[i])
	}
	if i >= len(args) {
		return args
	}
	cmd := app.Command(args[i])
	if cmd == nil || keepArgOrder[cmd.Name] {
		return args
	}
	var flags, operands, rest []string
	for j := i + 1; j < len(args); j++ {
		a := args[j]
		switch {
		case a == "--":
			rest = args[j:]
			j = len(args)
		case isFlag(a):
			w := flagWidth(cmd.Flags, a)
			end := min(j+w, len(args))
			flags = append(flags, args[j:end]...)
			j = end - 1
		default:
			operands = append(operands, a)
		}
	}
	out := make([]string, 0, len(args))
	out = append(out, args[:i+1]...)
	out = append(out, flags...)
	if len(rest) > 0 {
		// "--" ends the flags: keep it in front of every operand.
		out = append(out, "--")
		out = append(out, operands...)
		return append(out, rest[1:]...)
	}
	return append(out, operands...)
}

// isFlag reports whether a command-line word is a flag ("-" alone is an
// operand: stdin).
func isFlag(a string) bool {
	return len(a) > 1 && a[0] == '-' && a != "--"
}

// flagWidth is how many words a flag takes: 2 when its value is the next
// word, else 1 (a boolean, "--name=value", or a flag we do not know, which
// the parser then reports).
func flagWidth(flags []cli.Flag, a string) int {
	name := strings.TrimLeft(a, "-")
	if strings.Contains(name, "=") {
		return 1
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if v, ok := f.(cli.DocGenerationFlag); ok && v.TakesValue() {
				return 2
			}
			return 1
		}
	}
	return 1
}
