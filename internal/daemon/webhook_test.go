package daemon_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/testbus"
	"github.com/glusterbus/glusterbus/internal/webhook"
)

// TestWebhooksThroughDaemon: a webhook added to the file while the daemon
// runs gets every event after it, in order, with the token; the manager
// shows its delivery; the token and secret appear nowhere else.
func TestWebhooksThroughDaemon(t *testing.T) {
	const token, secret = "tok-4f1d9a-never-shown", "sec-88c2e1-never-shown"
	var mu sync.Mutex
	var bodies []string
	var auths []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer recv.Close()

	logs := &testbus.Buffer{}
	sock := filepath.Join(t.TempDir(), "bus.sock")
	addr := "unix:path=" + sock
	runBus(t, sock)
	port := freeUDPPort(t)
	hooksFile := filepath.Join(t.TempDir(), "webhooks.json")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{Bus: addr, Gluster: []string{"false"}, GlusterdWorkdir: t.TempDir(),
			StateDir: t.TempDir(), Interval: time.Hour, CLITimeout: time.Second, EventsPort: port,
			EventsAddrs: []string{"127.0.0.1"}, EventsRate: -1, WebhooksFile: hooksFile,
			Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	}()
	defer func() { cancel(); <-done }()
	conn := waitOwner(t, addr, 20*time.Second)
	defer conn.Close()
	h := &harness{t: t, client: conn}

	if err := webhook.Add(hooksFile, webhook.Webhook{URL: recv.URL + "/a", Token: token}); err != nil {
		t.Fatal(err)
	}
	if err := webhook.Add(hooksFile, webhook.Webhook{URL: recv.URL + "/b", Secret: secret, Events: []string{"NOTHING_*"}}); err != nil {
		t.Fatal(err)
	}
	webhooks := func() [][]any {
		v, err := conn.Object(exporter.BusName, exporter.ManagerPath).GetProperty(exporter.ManagerInterface + ".Webhooks")
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := v.Value().([][]any)
		return rows
	}
	h.waitFor("both webhooks on the manager", 20*time.Second, func() bool { return len(webhooks()) == 2 })

	num, _ := nativeevents.Number("VOLUME_SET")
	udp, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	const n = 50
	for i := range n {
		fmt.Fprintf(udp, "%d %d name=v%d;options=,performance.readdir-ahead,off", 1795491251+i, num, i)
		time.Sleep(2 * time.Millisecond)
	}
	h.waitFor("every event delivered", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(bodies) >= n
	})
	mu.Lock()
	for i, b := range bodies[:n] {
		want := fmt.Sprintf(`{"event": "VOLUME_SET", "message": {"name": "v%d", "options": [["performance.readdir-ahead", "off"]]}`, i)
		if !strings.HasPrefix(b, want) {
			t.Fatalf("body %d = %s\nwant prefix %s", i, b, want)
		}
		if auths[i] != "Bearer "+token {
			t.Fatalf("Authorization of POST %d: %q", i, auths[i])
		}
	}
	mu.Unlock()
	h.waitFor("the manager shows the deliveries", 10*time.Second, func() bool {
		for _, r := range webhooks() {
			if strings.HasSuffix(r[0].(string), "/a") && r[5].(uint64) >= n {
				return true
			}
		}
		return false
	})

	bus := fmt.Sprintf("%v", webhooks()) + fmt.Sprintf("%v", h.getEvents(0))
	for _, s := range []string{token, secret} {
		if strings.Contains(bus, s) || strings.Contains(logs.String(), s) {
			t.Fatalf("a webhook credential appears on the bus or in the log")
		}
	}
}
