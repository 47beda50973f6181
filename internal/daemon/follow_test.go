package daemon_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/busclient"
	"github.com/glusterbus/glusterbus/internal/daemon"
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
			if i%100 == 0 {
				time.Sleep(3 * time.Millisecond)
			}
		}
	}
	send(0, 2500) // before the client comes: from the journal
	h := &harness{t: t, client: conn}
	h.waitFor("the first events journaled", 20*time.Second, func() bool { return h.lastSeq() >= 2500 })

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
	h.waitFor("every event", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= total
	})
	stopFollowing()
	if err := <-followDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, ev := range got {
		if ev.Seq != uint64(i+1) || ev.Fields["id"] != fmt.Sprint(i) || ev.Name != "CLIENT_CONNECT" {
			t.Fatalf("event %d: seq %d id %s", i, ev.Seq, ev.Fields["id"])
		}
	}
	if len(got) != total {
		t.Fatalf("got %d events, want %d", len(got), total)
	}
}
