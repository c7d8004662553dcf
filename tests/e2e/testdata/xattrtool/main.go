// xattrtool is a static helper the e2e tests put into containers whose
// images have no attr tools: set, get and list extended attributes.
//
//	xattrtool set PATH NAME VALUE
//	xattrtool get PATH NAME      (prints the value)
//	xattrtool list PATH          (prints one name a line)
//
// A failure prints the errno's name and exits 1.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			fmt.Fprintf(os.Stderr, "xattrtool: %v (errno %d)\n", err, int(errno))
		} else {
			fmt.Fprintln(os.Stderr, "xattrtool:", err)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: xattrtool set PATH NAME VALUE | get PATH NAME | list PATH")
	}
	buf := make([]byte, 65536)
	switch {
	case args[0] == "set" && len(args) == 4:
		return syscall.Setxattr(args[1], args[2], []byte(args[3]), 0)
	case args[0] == "get" && len(args) == 3:
		n, err := syscall.Getxattr(args[1], args[2], buf)
		if err != nil {
			return err
		}
		fmt.Printf("%s\n", buf[:n])
		return nil
	case args[0] == "list" && len(args) == 2:
		n, err := syscall.Listxattr(args[1], buf)
		if err != nil {
			return err
		}
		for _, name := range bytes.Split(bytes.TrimSuffix(buf[:n], []byte{0}), []byte{0}) {
			fmt.Printf("%s\n", name)
		}
		return nil
	}
	return fmt.Errorf("bad arguments %q", args)
}
