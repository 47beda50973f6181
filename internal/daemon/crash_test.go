package daemon_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// TestHelperDaemon is the daemon process of TestCrashLosesNothingPublished;
// it runs only when re-executed with GLUSTERBUS_TEST_DAEMON set.
func TestHelperDaemon(t *testing.T) {
	if os.Getenv("GLUSTERBUS_TEST_DAEMON") != "1" {
		t.Skip("helper process")
	}
	port, _ := strconv.Atoi(os.Getenv("GLUSTERBUS_TEST_PORT"))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	err := daemon.Run(ctx, daemon.Config{
		Bus:             os.Getenv("GLUSTERBUS_TEST_BUS"),
		Gluster:         []string{"false"}, // no cluster: only events matter here
		GlusterdWorkdir: os.Getenv("GLUSTERBUS_TEST_STATE"),
		StateDir:        os.Getenv("GLUSTERBUS_TEST_STATE"),
		Interval:        time.Hour,
		CLITimeout:      time.Second,
		EventsPort:      port,
		EventsAddrs:     []string{"127.0.0.1"},
		EventsRate:      -1,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// TestCrashLosesNothingPublished sends native events without pause, kills
// the daemon with SIGKILL at random moments and checks that every event a
// client saw signalled is in the journal afterwards, unchanged, and that no
// sequence number is ever used twice.
func TestCrashLosesNothingPublished(t *testing.T) {
	addr := testbus.Start(t)
	stateDir := t.TempDir()
	port := freeUDPPort(t)
	client, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.AddMatchSignal(dbus.WithMatchMember("Event")); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 1<<16)
	client.Signal(sigs)

	var mu sync.Mutex
	published := map[uint64]string{} // seq -> the datagram's id field
	go func() {
		for s := range sigs {
			var e event
			if dbus.Store(s.Body, &e.Seq, &e.Name, &e.Usec, &e.Node, &e.Object, &e.Fields) != nil {
				continue
			}
			mu.Lock()
			if prev, dup := published[e.Seq]; dup && prev != e.Fields["id"] {
				t.Errorf("seq %d published twice: %s and %s", e.Seq, prev, e.Fields["id"])
			}
			published[e.Seq] = e.Fields["id"]
			mu.Unlock()
		}
	}()

	num, _ := nativeevents.Number("CLIENT_CONNECT")
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sendCtx, stopSending := context.WithCancel(context.Background())
	defer stopSending()
	go func() {
		for i := 0; sendCtx.Err() == nil; i++ {
			fmt.Fprintf(conn, "%d %d client_identifier=127.0.0.1:%d;id=%d", time.Now().Unix(), num, i, i)
			if i%50 == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()

	rounds := 4
	if testing.Short() {
		rounds = 2
	}
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDaemon$")
		cmd.Env = append(os.Environ(), "GLUSTERBUS_TEST_DAEMON=1", "GLUSTERBUS_TEST_BUS="+addr,
			"GLUSTERBUS_TEST_STATE="+stateDir, "GLUSTERBUS_TEST_PORT="+strconv.Itoa(port))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			var owner string
			if client.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, exporter.BusName).Store(&owner) == nil {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("round %d: daemon did not take its name", round)
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		// Wait for the old owner to be gone before the next round.
		for {
			var owner string
			if client.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, exporter.BusName).Store(&owner) != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	stopSending()

	// A last daemon to read the journal through.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDaemon$")
	cmd.Env = append(os.Environ(), "GLUSTERBUS_TEST_DAEMON=1", "GLUSTERBUS_TEST_BUS="+addr,
		"GLUSTERBUS_TEST_STATE="+stateDir, "GLUSTERBUS_TEST_PORT="+strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	h := &harness{t: t, client: client}
	h.waitFor("the last daemon", 20*time.Second, func() bool {
		var owner string
		return client.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, exporter.BusName).Store(&owner) == nil
	})
	journaled := map[uint64]string{}
	var prev uint64
	for _, e := range h.getEvents(0) {
		if e.Seq <= prev {
			t.Fatalf("journal out of order: %d after %d", e.Seq, prev)
		}
		prev = e.Seq
		journaled[e.Seq] = e.Fields["id"]
	}
	mu.Lock()
	defer mu.Unlock()
	if len(published) == 0 {
		t.Fatal("no event was published")
	}
	for seq, id := range published {
		got, ok := journaled[seq]
		if !ok {
			t.Fatalf("published seq %d (id %s) missing from the journal", seq, id)
		}
		if got != id {
			t.Fatalf("seq %d was published as id %s but journaled as id %s: a sequence number was reused", seq, id, got)
		}
	}
	t.Logf("%d rounds: %d events published, %d journaled", rounds, len(published), len(journaled))
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
