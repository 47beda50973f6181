package daemon_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/busclient"
	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
)

// TestEventsCatchUpAndFollow: a client that starts late gets the journaled
// events, then the live ones, each once, in order, while events keep coming.
func TestEventsCatchUpAndFollow(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "bus.sock")
	addr := "unix:path=" + sock
	runBus(t, sock)
	port := freeUDPPort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{Bus: addr, Gluster: []string{"false"}, GlusterdWorkdir: t.TempDir(),
			StateDir: t.TempDir(), Interval: time.Hour, CLITimeout: time.Second, EventsPort: port,
			EventsAddrs: []string{"127.0.0.1"}, EventsRate: -1, Logger: quietLogger()})
	}()
	defer func() { cancel(); <-done }()
	conn := waitOwner(t, addr, 20*time.Second)
	defer conn.Close()

	num, _ := nativeevents.Number("CLIENT_CONNECT")
	udp, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	const total = 6000
	send := func(from, to int) {
		for i := from; i < to; i++ {
			fmt.Fprintf(udp, "%d %d client_identifier=x;id=%d", time.Now().Unix(), num, i)
			if i%20 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	h := &harness{t: t, client: conn}
	// settled waits until the journal stops growing and returns its last
	// sequence: UDP may lose datagrams on a loaded machine, and this test is
	// about what the daemon accepted.
	settled := func() uint64 {
		last, stable := h.lastSeq(), 0
		for stable < 10 {
			time.Sleep(50 * time.Millisecond)
			if now := h.lastSeq(); now != last {
				last, stable = now, 0
			} else {
				stable++
			}
		}
		return last
	}
	send(0, 2500) // before the client comes: from the journal
	if settled() == 0 {
		t.Fatal("nothing was journaled")
	}

	var mu sync.Mutex
	var got []busclient.Event
	followCtx, stopFollowing := context.WithCancel(context.Background())
	followDone := make(chan error, 1)
	go func() {
		followDone <- busclient.Events(followCtx, conn, 0, true, func(ev busclient.Event) error {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
			return nil
		})
	}()
	send(2500, total) // while it catches up and follows
	last := settled()
	h.waitFor("every journaled event", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return uint64(len(got)) >= last
	})
	stopFollowing()
	if err := <-followDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	prevID := -1
	for i, ev := range got {
		var id int
		fmt.Sscan(ev.Fields["id"], &id)
		if ev.Seq != uint64(i+1) || id <= prevID || ev.Name != "CLIENT_CONNECT" {
			t.Fatalf("event %d: seq %d id %d after id %d", i, ev.Seq, id, prevID)
		}
		prevID = id
	}
	if uint64(len(got)) != last {
		t.Fatalf("got %d events, the journal has %d", len(got), last)
	}
	if last < total/2 {
		t.Fatalf("only %d of %d datagrams were journaled", last, total)
	}
}

// TestEventsFollowOnlyTheDaemon: an Event signal from any other connection
// (here with a huge sequence number, which would make a client skip the
// real ones) is ignored, also after the daemon restarted under a new
// unique name; the real events all arrive, once, in order.
func TestEventsFollowOnlyTheDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "bus.sock")
	addr := "unix:path=" + sock
	runBus(t, sock)
	port := freeUDPPort(t)
	stateDir := t.TempDir()
	serve := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- daemon.Run(ctx, daemon.Config{Bus: addr, Gluster: []string{"false"}, GlusterdWorkdir: stateDir,
				StateDir: stateDir, Interval: time.Hour, CLITimeout: time.Second, EventsPort: port,
				EventsAddrs: []string{"127.0.0.1"}, EventsRate: -1, Logger: quietLogger()})
		}()
		return func() { cancel(); <-done }
	}
	stop := serve()
	defer func() { stop() }()
	conn := waitOwner(t, addr, 20*time.Second)
	defer conn.Close()
	forger, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	forge := func() {
		t.Helper()
		err := forger.Emit(exporter.ManagerPath, exporter.ManagerInterface+".Event", uint64(1)<<40, "FORGED",
			time.Now().UnixMicro(), "", dbus.ObjectPath("/"), map[string]string{"source": "native"})
		if err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	var got []busclient.Event
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	followCtx, stopFollowing := context.WithCancel(context.Background())
	followDone := make(chan error, 1)
	go func() {
		followDone <- busclient.Events(followCtx, conn, 0, true, func(ev busclient.Event) error {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
			return nil
		})
	}()
	h := &harness{t: t, client: conn}
	num, _ := nativeevents.Number("CLIENT_CONNECT")
	udp, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	// sendUntil sends one datagram at a time until the client has n events
	// (UDP on loopback may still lose one).
	id := 0
	sendUntil := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for count() < n {
			fmt.Fprintf(udp, "%d %d client_identifier=x;id=%d", time.Now().Unix(), num, id)
			id++
			time.Sleep(20 * time.Millisecond)
			if time.Now().After(deadline) {
				t.Fatalf("the client has %d of %d events", count(), n)
			}
		}
	}
	sendUntil(5)
	forge()
	sendUntil(10)

	stop()
	stop = serve()
	waitOwner(t, addr, 20*time.Second).Close()
	forge()
	sendUntil(20)
	forge()
	sendUntil(25)
	last := h.lastSeq()
	h.waitFor("every journaled event", 20*time.Second, func() bool { return uint64(count()) >= last })
	stopFollowing()
	if err := <-followDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, ev := range got {
		if ev.Seq != uint64(i+1) || ev.Name != "CLIENT_CONNECT" {
			t.Fatalf("event %d: %d %s", i, ev.Seq, ev.Name)
		}
	}
	if uint64(len(got)) != last {
		t.Fatalf("got %d events, the journal has %d", len(got), last)
	}
}
