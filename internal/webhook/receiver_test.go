package webhook

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
)

// request is one request a test receiver saw.
type request struct {
	seq     uint64
	attempt int // of this sequence number, from 1
	body    []byte
	header  http.Header
	at      time.Time
	reply   string // body of the answer, set by respond
}

// receiver is a webhook receiver on loopback. respond decides the answer
// to each request: a status, or 0 to drop the connection without one; it
// may block (stall). Requests answered 2xx are recorded as accepted.
type receiver struct {
	srv     *httptest.Server
	respond func(r *request, w http.ResponseWriter, req *http.Request) int

	light bool // keep only sequence numbers, for long runs

	mu       sync.Mutex
	all      []request
	accepted []request
	attempts map[uint64]int
	notify   chan struct{}
}

func newReceiver(t testing.TB, respond func(r *request, w http.ResponseWriter, req *http.Request) int) *receiver {
	rc := &receiver{respond: respond, attempts: map[uint64]int{}, notify: make(chan struct{}, 1)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) URL() string { return rc.srv.URL + "/hook" }

func (rc *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	seq, _ := strconv.ParseUint(req.Header.Get(HeaderSequence), 10, 64)
	rc.mu.Lock()
	rc.attempts[seq]++
	r := request{seq: seq, attempt: rc.attempts[seq], at: time.Now()}
	if !rc.light {
		r.body, r.header = body, req.Header.Clone()
		rc.all = append(rc.all, r)
	}
	rc.mu.Unlock()

	status := http.StatusOK
	if rc.respond != nil {
		status = rc.respond(&r, w, req)
	}
	if status == 0 {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
		return
	}
	if status >= 200 && status < 300 {
		rc.mu.Lock()
		rc.accepted = append(rc.accepted, r)
		rc.mu.Unlock()
		select {
		case rc.notify <- struct{}{}:
		default:
		}
	}
	w.WriteHeader(status)
	io.WriteString(w, r.reply)
}

func (rc *receiver) acceptedSeqs() []uint64 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]uint64, len(rc.accepted))
	for i, r := range rc.accepted {
		out[i] = r.seq
	}
	return out
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.all)
}

// waitAccepted waits until n requests were accepted.
func (rc *receiver) waitAccepted(t testing.TB, n int, timeout time.Duration) []uint64 {
	t.Helper()
	timeout = max(timeout, minPatience)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		rc.mu.Lock()
		k := len(rc.accepted)
		rc.mu.Unlock()
		if k >= n {
			return rc.acceptedSeqs()
		}
		select {
		case <-rc.notify:
		case <-time.After(10 * time.Millisecond):
		case <-deadline.C:
			s := rc.acceptedSeqs()
			t.Fatalf("receiver accepted %d requests within %s, want %d", len(s), timeout, n)
			return s
		}
	}
}

// fastOptions are Deliverer options scaled down for tests.
func fastOptions(j *journal.Journal, file string) Options {
	return Options{
		Journal:        j,
		File:           file,
		Logger:         quietLogger(),
		Timeout:        5 * time.Second,
		MinBackoff:     5 * time.Millisecond,
		MaxBackoff:     50 * time.Millisecond,
		CursorInterval: 50 * time.Millisecond,
		PollInterval:   100 * time.Millisecond,
	}
}

// runDeliverer starts a Deliverer; the returned function stops it and waits
// for Run to return.
func runDeliverer(t testing.TB, opts Options) (*Deliverer, func()) {
	t.Helper()
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(minPatience):
				t.Errorf("Run did not return")
			}
		})
	}
	t.Cleanup(stop)
	return d, stop
}

// webhooksFile returns a path for a webhooks file in a fresh directory.
func webhooksFile(t testing.TB) string {
	return filepath.Join(t.TempDir(), "events", "webhooks.json")
}

func addWebhook(t testing.TB, file string, w Webhook) {
	t.Helper()
	if err := Add(file, w); err != nil {
		t.Fatal(err)
	}
}

// waitStatus waits until the webhook's status satisfies cond.
func waitStatus(t testing.TB, d *Deliverer, u string, timeout time.Duration, what string, cond func(WebhookStatus) bool) WebhookStatus {
	t.Helper()
	var st WebhookStatus
	eventually(t, timeout, what, func() bool {
		for _, s := range d.Status() {
			if s.URL == redactURL(u) {
				st = s
				return cond(s)
			}
		}
		return false
	})
	return st
}

// checkInOrder checks that seqs is exactly from..to, each once, in order.
func checkInOrder(t testing.TB, seqs []uint64, from, to uint64) {
	t.Helper()
	if uint64(len(seqs)) != to-from+1 {
		t.Errorf("%d events, want %d (%d..%d)", len(seqs), to-from+1, from, to)
	}
	for i, s := range seqs {
		if s != from+uint64(i) {
			t.Fatalf("event %d is seq %d, want %d (%v...)", i, s, from+uint64(i), seqs[max(0, i-3):min(len(seqs), i+3)])
		}
	}
}

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
