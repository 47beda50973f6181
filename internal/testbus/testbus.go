// Package testbus starts a private dbus-daemon for tests.
package testbus

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/testbed"
)

// Start runs a private session-type bus and returns its address. The bus is
// stopped when the test ends. Without dbus-daemon the test is skipped, or
// fails where it must run (testbed.Missing).
func Start(t testing.TB) string {
	t.Helper()
	addr, _ := start(t, t.TempDir(), "--session")
	return addr
}

// StartProcess is Start that also returns the dbus-daemon's pid, for tests
// that play a hung bus (see Freeze).
func StartProcess(t testing.TB) (addr string, pid int) {
	t.Helper()
	return start(t, t.TempDir(), "--session")
}

// Freeze stops the bus process pid (SIGSTOP): it keeps its sockets open and
// reads nothing, as a hung dbus-daemon does. The returned function, also
// called when the test ends, lets it run again (SIGCONT). pid must be a bus
// this test started: SIGSTOP to pid 0 or below would stop a process group,
// the test's own included.
func Freeze(t testing.TB, pid int) (thaw func()) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("refusing to stop pid %d: not a process of its own", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("stopping the bus (pid %d): %v", pid, err)
	}
	var once sync.Once
	thaw = func() {
		once.Do(func() {
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("continuing the bus (pid %d): %v", pid, err)
			}
		})
	}
	t.Cleanup(thaw)
	return thaw
}

// StartOpen is Start for a bus that every local user may connect to and
// use without restriction, so tests can call the daemon as another user
// and see the daemon's own authorization at work.
func StartOpen(t testing.TB) string {
	t.Helper()
	return StartOpenExcept(t)
}

// StartOpenExcept is StartOpen for a bus that refuses the methods of the
// bus itself (org.freedesktop.DBus) named in deny, with an AccessDenied
// error: a bus that fails such a call, for tests of what follows.
func StartOpenExcept(t testing.TB, deny ...string) string {
	t.Helper()
	var rules strings.Builder
	for _, member := range deny {
		fmt.Fprintf(&rules, "    <deny send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\" send_member=%q/>\n", member)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "open.conf")
	err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=`+filepath.Join(dir, "bus.sock")+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
`+rules.String()+`  </policy>
</busconfig>
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := start(t, dir, "--config-file="+conf)
	return addr
}

func start(t testing.TB, dir, kind string) (addr string, pid int) {
	t.Helper()
	bin := daemonBinary(t)
	// Other users reach the socket of an open bus.
	_ = os.Chmod(dir, 0o755)
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	sock := filepath.Join(dir, "bus.sock")
	return run(t, bin, kind, "--nofork", "--nopidfile", "--print-address=1", "--address=unix:path="+sock)
}

// StartConfig runs dbus-daemon with a configuration file of the test's
// own, which says where it listens, and returns its address. The bus is
// stopped when the test ends.
func StartConfig(t testing.TB, configFile string) string {
	t.Helper()
	addr, _ := run(t, daemonBinary(t), "--config-file="+configFile, "--nofork", "--print-address=1")
	return addr
}

// daemonBinary finds dbus-daemon; without it the test is skipped, or fails
// where it must run (testbed.Missing).
func daemonBinary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		testbed.Missing(t, "no dbus-daemon: %v", err)
	}
	return bin
}

// run starts dbus-daemon with args, which must include --print-address=1,
// and returns the address it prints and its pid.
func run(t testing.TB, bin string, args ...string) (addr string, pid int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &Buffer{}
	cmd.Stderr = stderr // its complaints (fd limits as non-root) are noise unless it fails
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // stopped or not
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
		return addr, cmd.Process.Pid
	case <-time.After(10 * time.Second):
		t.Fatalf("dbus-daemon did not start within 10s: %s", stderr.String())
	}
	return "", 0
}

// Buffer collects what a process or a logger writes while the test reads
// it.
type Buffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
