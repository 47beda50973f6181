package daemon_test

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// ownGoroutines returns the goroutines whose stack runs code of glusterbus
// (not its tests) or of godbus, by id.
func ownGoroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	header := regexp.MustCompile(`^goroutine (\d+) `)
	out := map[string]string{}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		m := header.FindSubmatch(g)
		if m == nil {
			continue
		}
		for _, line := range strings.Split(string(g), "\n") {
			line = strings.TrimSpace(line)
			if (strings.Contains(line, "/internal/") && !strings.Contains(line, "_test.go")) || strings.Contains(line, "godbus/dbus") {
				out[string(m[1])] = string(g)
				break
			}
		}
	}
	return out
}

// TestStartFailureLeavesNothingRunning: the daemon fails late in its start
// (another process owns the bus name, after the journal, the listener, the
// bus connection and the journal writer are up); Run returns the error and
// every goroutine it started has ended.
func TestStartFailureLeavesNothingRunning(t *testing.T) {
	addr := testbus.Start(t)
	holder, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if reply, err := holder.RequestName(exporter.BusName, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("taking the name first: %v %v", reply, err)
	}
	before := ownGoroutines()
	err = daemon.Run(context.Background(), daemon.Config{Bus: addr, Gluster: []string{"false"}, GlusterdWorkdir: t.TempDir(),
		StateDir: t.TempDir(), Interval: time.Hour, CLITimeout: time.Second, EventsPort: 0,
		EventsAddrs: []string{"127.0.0.1"}, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "owned by another process") {
		t.Fatalf("Run with the name taken: %v", err)
	}
	// Goroutines end soon after their context; wait for that, however
	// long it takes on a loaded machine.
	deadline := time.Now().Add(time.Minute)
	for {
		var left []string
		for id, stack := range ownGoroutines() {
			if _, old := before[id]; !old {
				left = append(left, stack)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left running after Run returned:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStopWithStoppedBus: a daemon told to stop while the dbus-daemon is
// stopped (SIGSTOP) still stops, and journals every native event it took.
func TestStopWithStoppedBus(t *testing.T) {
	addr, busPid := testbus.StartProcess(t)
	port := freeUDPPort(t)
	logs := &testbus.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{Bus: addr, Gluster: []string{"false"}, GlusterdWorkdir: t.TempDir(),
			StateDir: t.TempDir(), Interval: time.Hour, CLITimeout: time.Second, EventsPort: port,
			EventsAddrs: []string{"127.0.0.1"}, EventsRate: -1, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	}()
	defer cancel()
	waitOwner(t, addr, 30*time.Second).Close()
	testbus.Freeze(t, busPid)
	sendPaced(t, port, 2000, 2000)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("the daemon did not stop with the bus stopped:\n%s", logs)
	}
	m := regexp.MustCompile(`native_events_accepted=(\d+) native_events_journaled=(\d+)`).FindStringSubmatch(logs.String())
	if m == nil || m[1] != m[2] {
		t.Fatalf("shutdown counts %q:\n%s", m, logs)
	}
}
