package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/events"
	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// shutdownRounds is how many times TestShutdownKeepsAcceptedEvents stops
// the daemon mid-stream; each round takes about a second.
const shutdownRounds = 20

// TestShutdownKeepsAcceptedEvents sends native events at about 5000/s,
// sends SIGTERM to the built binary in the middle of them and starts it
// again, shutdownRounds times: every event the daemon's shutdown line counts
// as accepted is in the journal, and the journal holds no native event it
// did not count.
func TestShutdownKeepsAcceptedEvents(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "glusterbus")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building glusterbus: %v\n%s", err, out)
	}
	addr := testbus.Start(t)
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	port := freeUDPPort(t)
	stopped := regexp.MustCompile(`msg=stopped .*native_events_accepted=(\d+) native_events_journaled=(\d+)`)

	var accepted uint64 // over all rounds
	for round := range shutdownRounds {
		logs := &testbus.Buffer{}
		cmd := exec.Command(bin, "serve", "--bus", addr, "--gluster", "false", "--glusterd-workdir", dir,
			"--state-dir", stateDir, "--config", filepath.Join(dir, "none.conf"), "--interval", "1h",
			"--cli-timeout", "5s", "--no-watch", "--events-port", strconv.Itoa(port),
			"--events-rate", "-1", "--webhooks-file", filepath.Join(dir, "webhooks.json"))
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		waitUntil(t, "the daemon serving", 60*time.Second, func() bool { return strings.Contains(logs.String(), "msg=serving") })

		stopSending := sendAtRate(t, port, 5000, round)
		time.Sleep(time.Duration(50+rand.IntN(250)) * time.Millisecond) // a random moment of the stream, not a wait for anything
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("round %d: serve after SIGTERM: %v\n%s", round, err, logs)
			}
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			t.Fatalf("round %d: serve still running 2 minutes after SIGTERM\n%s", round, logs)
		}
		sent := stopSending()

		m := stopped.FindStringSubmatch(logs.String())
		if m == nil {
			t.Fatalf("round %d: no shutdown line with the counts:\n%s", round, logs)
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		journaled, _ := strconv.ParseUint(m[2], 10, 64)
		if n != journaled {
			t.Fatalf("round %d: the daemon accepted %d native events and journaled %d\n%s", round, n, journaled, logs)
		}
		accepted += n
		inJournal := nativeInJournal(t, filepath.Join(stateDir, "journal.db"))
		if inJournal != accepted {
			t.Fatalf("round %d: the journal holds %d native events; the daemon accepted %d in all", round, inJournal, accepted)
		}
		t.Logf("round %d: %d sent, %d accepted and journaled", round, sent, n)
	}
	if accepted == 0 {
		t.Fatal("no event was accepted in any round")
	}
}

// nativeInJournal counts the native events in the journal at path.
func nativeInJournal(t *testing.T, path string) uint64 {
	t.Helper()
	j, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatalf("the journal does not reopen: %v", err)
	}
	defer j.Close()
	var n, last uint64
	for {
		evs, err := j.Range(last, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return n
		}
		for _, e := range evs {
			last = e.Seq
			if e.Source == events.SourceNative {
				n++
			}
		}
	}
}

// sendAtRate sends native CLIENT_CONNECT events at about perSecond until
// the returned function is called; it returns how many were sent.
func sendAtRate(t *testing.T, port, perSecond, round int) (stop func() int) {
	t.Helper()
	num, _ := nativeevents.Number("CLIENT_CONNECT")
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		began := time.Now()
		sent := 0
		for ctx.Err() == nil {
			// Catch up with the rate, then pause a moment.
			for due := int(time.Since(began).Seconds() * float64(perSecond)); sent < due; sent++ {
				fmt.Fprintf(conn, "%d %d client_identifier=127.0.0.1:%d;id=%d-%d", time.Now().Unix(), num, sent%60000, round, sent)
			}
			time.Sleep(time.Millisecond)
		}
		done <- sent
	}()
	var sent int
	stopped := false
	stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			sent = <-done
			conn.Close()
		}
		return sent
	}
	t.Cleanup(func() { stop() })
	return stop
}
