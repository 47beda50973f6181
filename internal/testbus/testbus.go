// Package testbus starts a private dbus-daemon for tests.
package testbus

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Start runs a private session-type bus and returns its address. The bus is
// stopped when the test ends. Without dbus-daemon the test is skipped, or
// fails where GLUSTERBUS_REQUIRE_INTEGRATION=1 says it must run.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		if os.Getenv("GLUSTERBUS_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("dbus-daemon is required: %v", err)
		}
		t.Skipf("no dbus-daemon: %v", err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus.sock")
	cmd := exec.Command(bin, "--session", "--nofork", "--nopidfile", "--print-address=1", "--address=unix:path="+sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr // its complaints (fd limits as non-root) are noise unless it fails
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	select {
	case addr := <-lines:
		if addr == "" {
			t.Fatalf("dbus-daemon printed no address: %s", stderr.String())
		}
		return addr
	case <-time.After(10 * time.Second):
		t.Fatal("dbus-daemon did not start within 10s")
	}
	return ""
}
