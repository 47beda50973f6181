// Command clitime runs a command and appends how long it took to a log, so
// a benchmark can tell the time the gluster CLI took from the time the
// daemon spent on its own:
//
//	clitime LOG COMMAND [ARG...]
//
// It passes standard input, output and error through and exits as the
// command did. Each line of LOG is
//
//	<start, unix ns> <duration, ns> <exit status> <arguments...>
//
// written with one append, so concurrent calls do not mix their lines.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: clitime LOG COMMAND [ARG...]")
		os.Exit(2)
	}
	log, argv := os.Args[1], os.Args[2:]
	// The caller kills the whole process group on timeout; a terminating
	// signal sent to us alone goes on to the command.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		fmt.Fprintln(os.Stderr, "clitime:", err)
		code = 127
	}
	line := fmt.Sprintf("%d %d %d %s\n", start.UnixNano(), d.Nanoseconds(), code, strings.Join(argv[1:], " "))
	if f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
		f.WriteString(line)
		f.Close()
	}
	os.Exit(code)
}
