package natsstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/glusterbus/glusterbus/internal/webhook"
)

// hookReceiver accepts POSTs, but answers 503 to the first try of every
// fifth sequence.
type hookReceiver struct {
	mu       sync.Mutex
	accepted []uint64
	refused  map[uint64]bool
	bodies   map[uint64]string
}

func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	seq, _ := strconv.ParseUint(req.Header.Get(webhook.HeaderSequence), 10, 64)
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq%5 == 0 && !r.refused[seq] {
		r.refused[seq] = true
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.accepted = append(r.accepted, seq)
	r.bodies[seq] = string(body)
}

func (r *hookReceiver) snapshot() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.accepted...)
}

// TestClusterWebhook: two daemons' deliverers share a cluster webhook; each
// event reaches it once and in order, through a refusal and with one
// deliverer stopped midway.
func TestClusterWebhook(t *testing.T) {
	addr := freeAddr(t)
	url := "nats://" + addr
	srv := startServer(t, t.TempDir(), addr)
	defer srv.Shutdown()
	j := openJournal(t)
	p := startPublisher(t, j, url)
	appendAll(t, j, setEvent("node-a", "first", 1))
	waitFor(t, "the stream", func() bool { return p.p.Status().Cursor == j.LastSeq() })

	recv := &hookReceiver{refused: map[uint64]bool{}, bodies: map[uint64]string{}}
	hs := httptest.NewServer(recv)
	defer hs.Close()
	file := filepath.Join(t.TempDir(), "webhooks.json")
	if err := webhook.Add(file, webhook.Webhook{URL: hs.URL, Sources: []string{"diff", "native"}, Delivery: webhook.DeliveryCluster}); err != nil {
		t.Fatal(err)
	}
	if cfg, err := webhook.Load(file); err != nil || cfg.Webhooks[0].Delivery != webhook.DeliveryCluster {
		t.Fatalf("the webhooks file does not keep the delivery: %+v, %v", cfg, err)
	}

	startHooks := func() (stop func()) {
		nc, err := Connect(ConnectOptions{URLs: []string{url}})
		if err != nil {
			t.Fatal(err)
		}
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		h := NewHookDeliverer(HookOptions{JS: js, Cluster: testCluster, File: file, CheckEvery: 100 * time.Millisecond})
		go func() { h.Run(ctx); close(done) }()
		return func() { cancel(); <-done; nc.Close() }
	}
	stopA := startHooks()
	stopB := startHooks()
	defer stopB()
	nc, err := Connect(ConnectOptions{URLs: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitFor(t, "the webhook's consumer", func() bool {
		_, err := js.Consumer(context.Background(), StreamName, ConsumerName(testCluster, hs.URL))
		return err == nil
	})

	const n = 30
	for i := range n {
		appendAll(t, j, setEvent("node-a", fmt.Sprint(i), 10+i))
		if i == n/2 {
			waitFor(t, "half the events delivered", func() bool { return len(recv.snapshot()) >= n/3 })
			stopA()
		}
	}
	waitFor(t, "every event delivered", func() bool {
		seen := map[uint64]bool{}
		for _, s := range recv.snapshot() {
			seen[s] = true
		}
		return len(seen) == n
	})
	got := recv.snapshot()
	dups := 0
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			t.Errorf("out of order: %v", got)
			break
		}
		if got[i] == got[i-1] {
			dups++
		}
	}
	// Stopping a deliverer in the middle of a POST may deliver that one
	// event twice (at least once); nothing else is.
	if dups > 1 {
		t.Errorf("%d events delivered twice: %v", dups, got)
	}
	body := recv.bodies[got[0]]
	if want := `{"event": "VOLUME_SET", "message": {"name": "v", "option.user.x": "0", "volume_version": "10"}, "nodeid": "node-a", "ts": `; len(body) < len(want) || body[:len(want)] != want {
		t.Errorf("body %s, want it to start with %s", body, want)
	}
}
