package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// TestHelperSlowStart is the daemon process of TestHangupWhileStarting: its
// gluster CLI takes seconds to answer, so start-up is slow before the bus.
func TestHelperSlowStart(t *testing.T) {
	if os.Getenv("GLUSTERBUS_TEST_SLOW_START") != "1" {
		t.Skip("helper process")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	fmt.Println("starting")
	err := daemon.Run(ctx, daemon.Config{
		Bus:        os.Getenv("GLUSTERBUS_TEST_BUS"),
		Gluster:    []string{"sh", "-c", "sleep 3"}, // asking for glusterd's working directory is slow
		StateDir:   os.Getenv("GLUSTERBUS_TEST_STATE"),
		Interval:   time.Hour,
		CLITimeout: 10 * time.Second,
		EventsPort: -1,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// TestHangupWhileStarting: a SIGHUP while the daemon is still starting
// (here: waiting for gluster) must not kill it.
func TestHangupWhileStarting(t *testing.T) {
	addr := testbus.Start(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSlowStart$")
	cmd.Env = append(os.Environ(), "GLUSTERBUS_TEST_SLOW_START=1", "GLUSTERBUS_TEST_BUS="+addr,
		"GLUSTERBUS_TEST_STATE="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "starting\n" {
		t.Fatalf("helper said %q: %v", line, err)
	}
	go io.Copy(io.Discard, out)
	// Inside Run, still asking gluster: its CLI runs.
	deadline := time.Now().Add(time.Minute)
	for !hasChild(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not run its gluster CLI within a minute")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// Pending signals are delivered lowest first: a SIGHUP that kills
	// comes before the SIGTERM, and the wait status names it.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("the daemon is gone after SIGHUP: %v", err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("the daemon died of %v", ws.Signal())
		}
	}
	if err != nil {
		t.Fatalf("the daemon: %v", err)
	}
}

// hasChild says whether process pid has a child process.
func hasChild(pid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		stat, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		var state string
		var ppid int
		if _, err := fmt.Sscan(string(stat[i+1:]), &state, &ppid); err == nil && ppid == pid {
			return true
		}
	}
	return false
}
