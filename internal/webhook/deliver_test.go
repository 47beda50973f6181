package webhook

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// TestDeliverThroughFailures: a receiver that answers 500, 429, 408,
// drops connections, stalls past the timeout and refuses some events with
// 400 gets every other event exactly once, in order; the 400s are skipped
// and counted.
func TestDeliverThroughFailures(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	refused := func(seq uint64) bool { return seq%23 == 0 }
	rc := newReceiver(t, func(r *request, w http.ResponseWriter, req *http.Request) int {
		switch {
		case refused(r.seq):
			return http.StatusBadRequest
		case r.seq%7 == 0 && r.attempt == 1:
			return http.StatusInternalServerError
		case r.seq%11 == 0 && r.attempt <= 2:
			return http.StatusTooManyRequests
		case r.seq%13 == 0 && r.attempt == 1:
			return http.StatusRequestTimeout
		case r.seq%17 == 0 && r.attempt == 1:
			return 0 // connection dropped
		case r.seq%19 == 0 && r.attempt == 1:
			<-req.Context().Done() // stalled past the client's timeout
			return http.StatusServiceUnavailable
		case r.seq%29 == 0 && r.attempt == 1:
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: rc.URL()})
	opts := fastOptions(j, file)
	opts.Timeout = 500 * time.Millisecond
	d, _ := runDeliverer(t, opts)
	waitStatus(t, d, rc.URL(), 5*time.Second, "the webhook to start", func(WebhookStatus) bool { return true })

	const n = 300
	appendEvents(t, j, n)
	var want []uint64
	for s := uint64(1); s <= n; s++ {
		if !refused(s) {
			want = append(want, s)
		}
	}
	got := rc.waitAccepted(t, len(want), 30*time.Second)
	if !slices.Equal(got, want) {
		t.Fatalf("accepted %v\nwant %v", got, want)
	}
	st := waitStatus(t, d, rc.URL(), 5*time.Second, "the cursor to reach the end", func(s WebhookStatus) bool { return s.Cursor == n })
	if st.Delivered != uint64(len(want)) || st.Failed != n/23 || st.State != StateOK || st.Lag != 0 {
		t.Errorf("status %+v", st)
	}
	if !strings.Contains(st.LastError, "event 299") || !strings.Contains(st.LastError, "HTTP 400") {
		t.Errorf("LastError %q does not name the last refused event", st.LastError)
	}
	// Bodies and headers of what arrived.
	for _, r := range rc.requests()[:5] {
		if r.header.Get("Content-Type") != "application/json" || r.header.Get(HeaderSource) != SourceNative ||
			!strings.HasPrefix(string(r.body), `{"event": "CLIENT_CONNECT", "message": {"name": "gv0", "tag": "e"}, "nodeid": "`) {
			t.Errorf("request %d: %v %s", r.seq, r.header, r.body)
		}
	}
}

// TestRetryAfter: 429 and 503 with Retry-After wait that long, longer than
// the backoff would.
func TestRetryAfter(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	rc := newReceiver(t, func(r *request, w http.ResponseWriter, _ *http.Request) int {
		if r.attempt == 1 {
			w.Header().Set("Retry-After", "1")
			if r.seq == 1 {
				return http.StatusTooManyRequests
			}
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: rc.URL()})
	d, _ := runDeliverer(t, fastOptions(j, file))
	waitStatus(t, d, rc.URL(), 5*time.Second, "the webhook to start", func(WebhookStatus) bool { return true })
	appendEvents(t, j, 2)
	rc.waitAccepted(t, 2, 10*time.Second)
	reqs := rc.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	for _, i := range []int{1, 3} {
		if gap := reqs[i].at.Sub(reqs[i-1].at); gap < 950*time.Millisecond {
			t.Errorf("retry of %d after %s, Retry-After asked for 1s", reqs[i].seq, gap)
		}
	}
	if got := retryAfter(time.Unix(1700000100, 0).UTC().Format(http.TimeFormat), time.Unix(1700000000, 0)); got != 100*time.Second {
		t.Errorf("Retry-After as a date: %s", got)
	}
}

// TestStalledReceiverIsolated: a receiver that never answers holds up
// neither another webhook nor memory: the backlog stays in the journal.
func TestStalledReceiverIsolated(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	release := make(chan struct{})
	stalled := newReceiver(t, func(_ *request, _ http.ResponseWriter, req *http.Request) int {
		select {
		case <-req.Context().Done():
		case <-release:
		}
		return http.StatusServiceUnavailable
	})
	defer close(release)
	fast := newReceiver(t, nil)
	fast.light = true
	file := webhooksFile(t)
	const stallTimeout = 300 * time.Millisecond
	addWebhook(t, file, Webhook{URL: stalled.URL(), Timeout: stallTimeout})
	addWebhook(t, file, Webhook{URL: fast.URL()})
	opts := fastOptions(j, file)
	opts.Timeout = 10 * time.Second
	d, _ := runDeliverer(t, opts)
	for _, u := range []string{stalled.URL(), fast.URL()} {
		waitStatus(t, d, u, 5*time.Second, "the webhooks to start", func(WebhookStatus) bool { return true })
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	const n = 20000
	start := time.Now()
	appendEvents(t, j, n)
	got := fast.waitAccepted(t, n, 3*time.Minute)
	t.Logf("fast receiver got %d events in %s while the other stalled", n, time.Since(start).Round(time.Millisecond))
	checkInOrder(t, got, 1, n)

	// Let the stalled webhook fail a few times more.
	var failures []time.Time
	eventually(t, time.Minute, "three more failures of the stalled webhook", func() bool {
		for _, s := range d.Status() {
			if s.URL == stalled.URL() && !s.LastErrorTime.IsZero() && !slices.Contains(failures, s.LastErrorTime) {
				failures = append(failures, s.LastErrorTime)
			}
		}
		return len(failures) > 3
	})
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap %d -> %d bytes (%+d) with %d events behind the stalled receiver", before.HeapAlloc, after.HeapAlloc, growth, n)
	if growth > 8<<20 {
		t.Errorf("heap grew by %d bytes behind a stalled receiver", growth)
	}
	st := waitStatus(t, d, stalled.URL(), 5*time.Second, "the stalled webhook to be retrying", func(s WebhookStatus) bool { return s.State == StateRetrying })
	if st.Cursor != 0 || st.Lag != n || st.Delivered != 0 || !strings.Contains(st.LastError, "no response within") {
		t.Errorf("stalled status %+v", st)
	}
}

// TestReceiverDownForLong: a receiver that refuses connections for a long
// time (seconds here) gets everything, in order, once it is back.
func TestReceiverDownForLong(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	addr := freeLoopbackAddr(t)
	var rc *receiver
	rc = newReceiver(t, nil)
	rc.srv.Close() // serve on addr instead, and stop and start at will
	serve := func() *http.Server {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(rc.serve)}
		go srv.Serve(l)
		return srv
	}
	url := "http://" + addr + "/hook"
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: url})
	opts := fastOptions(j, file)
	opts.MaxBackoff = 200 * time.Millisecond
	d, _ := runDeliverer(t, opts)
	waitStatus(t, d, url, 5*time.Second, "the webhook to start", func(WebhookStatus) bool { return true })

	srv := serve()
	appendEvents(t, j, 100)
	rc.waitAccepted(t, 100, 10*time.Second)
	// Close only once the answers arrived: a response lost with the
	// connection is a failure the event is rightly sent again for.
	waitStatus(t, d, url, 5*time.Second, "100 delivered", func(s WebhookStatus) bool { return s.Delivered >= 100 })
	srv.Close()

	// Down: events pile up in the journal.
	for range 10 {
		appendEvents(t, j, 100)
		time.Sleep(300 * time.Millisecond)
	}
	st := waitStatus(t, d, url, 5*time.Second, "retrying", func(s WebhookStatus) bool { return s.State == StateRetrying })
	if !strings.Contains(st.LastError, "refused") {
		t.Errorf("LastError while down: %q", st.LastError)
	}
	srv = serve()
	defer srv.Close()
	got := rc.waitAccepted(t, 1100, 20*time.Second)
	checkInOrder(t, got, 1, 1100)
	waitStatus(t, d, url, 5*time.Second, "ok again", func(s WebhookStatus) bool { return s.State == StateOK && s.Lag == 0 })
}

// TestRestartResumes: a new Deliverer on the same journal continues from
// the stored cursor: nothing is lost, at most the event in flight at the
// stop is sent again.
func TestRestartResumes(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	rc := newReceiver(t, func(*request, http.ResponseWriter, *http.Request) int {
		time.Sleep(time.Millisecond)
		return http.StatusOK
	})
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: rc.URL()})
	d, stop := runDeliverer(t, fastOptions(j, file))
	waitStatus(t, d, rc.URL(), 5*time.Second, "the webhook to start", func(WebhookStatus) bool { return true })
	const n = 1000
	appendEvents(t, j, n)
	rc.waitAccepted(t, 300, 20*time.Second)
	stop()
	first := rc.acceptedSeqs()
	cur, err := j.Cursor(CursorName(rc.URL()))
	if err != nil || cur != first[len(first)-1] && cur+1 != first[len(first)-1] {
		t.Fatalf("cursor after stop %d (%v), last accepted %d", cur, err, first[len(first)-1])
	}

	d2, _ := runDeliverer(t, fastOptions(j, file))
	rc.waitAccepted(t, n, 20*time.Second)
	waitStatus(t, d2, rc.URL(), 5*time.Second, "caught up", func(s WebhookStatus) bool { return s.Cursor == n })
	got := rc.acceptedSeqs()
	dups := len(got) - n
	if dups > 1 {
		t.Errorf("%d events sent twice across a clean restart", dups)
	}
	got = slices.Compact(got)
	checkInOrder(t, got, 1, n)
}

// TestConfigChanges: webhooks added, changed, broken and removed in the
// file take effect without a restart.
func TestConfigChanges(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	a, b := newReceiver(t, nil), newReceiver(t, nil)
	file := webhooksFile(t)
	logs := &testbus.Buffer{}
	opts := fastOptions(j, file)
	opts.PollInterval = time.Hour // the watch alone must do
	opts.RemovedGrace = 100 * time.Millisecond
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	appendEvents(t, j, 5) // before any webhook: never sent
	addWebhook(t, file, Webhook{URL: a.URL()})
	d, _ := runDeliverer(t, opts)
	waitStatus(t, d, a.URL(), 5*time.Second, "webhook a to start", func(s WebhookStatus) bool { return s.Cursor == 5 })
	appendEvents(t, j, 5)
	checkInOrder(t, a.waitAccepted(t, 5, 5*time.Second), 6, 10)

	// A new webhook starts at the journal's end.
	addWebhook(t, file, Webhook{URL: b.URL()})
	waitStatus(t, d, b.URL(), 5*time.Second, "webhook b to start", func(s WebhookStatus) bool { return s.Cursor == 10 })
	appendEvents(t, j, 5)
	checkInOrder(t, b.waitAccepted(t, 5, 5*time.Second), 11, 15)
	checkInOrder(t, a.waitAccepted(t, 10, 5*time.Second), 6, 15)

	// A filter set on a.
	other := []string{"BRICK_*"}
	if err := Modify(file, a.URL(), Change{Events: &other}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the new filter", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		w := d.workers[a.URL()]
		return w != nil && len(w.cfg.Load().hook.Events) == 1
	})
	appendEvents(t, j, 5)
	b.waitAccepted(t, 10, 5*time.Second)
	waitStatus(t, d, a.URL(), 5*time.Second, "a to pass over filtered events", func(s WebhookStatus) bool { return s.Cursor == 20 })
	if n := len(a.acceptedSeqs()); n != 10 {
		t.Errorf("a got %d events, want 10: its filter excludes the last 5", n)
	}

	// A broken file keeps the webhooks as they were.
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(`{"`+b.URL()+`": {"token": `), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the config error", func() bool { _, err := d.ConfigError(); return err != nil })
	appendEvents(t, j, 5)
	checkInOrder(t, b.waitAccepted(t, 15, 5*time.Second), 11, 25)
	if !strings.Contains(logs.String(), "keeping the previous webhooks") {
		t.Errorf("no error logged for the broken file:\n%s", logs.String())
	}
	// Fixed by rename, as gluster-eventsapi writes it.
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the config error to clear", func() bool { _, err := d.ConfigError(); return err == nil })

	// An unusable webhook pauses, keeping its cursor.
	missing := filepath.Join(t.TempDir(), "missing-ca.pem")
	if err := Modify(file, b.URL(), Change{CAFile: &missing}); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, d, b.URL(), 5*time.Second, "b to be invalid", func(s WebhookStatus) bool { return s.State == StateInvalid })
	if st.Cursor != 25 || !strings.Contains(st.LastError, "ca_file") {
		t.Errorf("invalid status %+v", st)
	}
	appendEvents(t, j, 5)
	if err := Modify(file, b.URL(), Change{CAFile: new(string)}); err != nil {
		t.Fatal(err)
	}
	checkInOrder(t, b.waitAccepted(t, 20, 5*time.Second), 11, 30)

	// A removed webhook stops and loses its cursor after the grace period.
	if err := Delete(file, a.URL()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a's cursor to go", func() bool {
		c, err := j.Cursors()
		_, ok := c[CursorName(a.URL())]
		return err == nil && !ok
	})
	if len(d.Status()) != 1 {
		t.Errorf("status after delete: %+v", d.Status())
	}
}

// TestWatchWithoutDirectory: the webhooks file's directory need not exist
// when the Deliverer starts; its creation is noticed without polling.
func TestWatchWithoutDirectory(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	file := webhooksFile(t) // .../events/webhooks.json, no events yet
	opts := fastOptions(j, file)
	opts.PollInterval = time.Hour
	d, _ := runDeliverer(t, opts)
	// Run makes the directory, then watches it and reads the file: once
	// the directory is there, a file written is seen by one or the other,
	// not by the (hourly) poll.
	eventually(t, time.Minute, "Run to make the directory", func() bool {
		_, err := os.Stat(filepath.Dir(file))
		return err == nil
	})
	rc := newReceiver(t, nil)
	addWebhook(t, file, Webhook{URL: rc.URL()})
	waitStatus(t, d, rc.URL(), 5*time.Second, "the webhook to start", func(WebhookStatus) bool { return true })
	// And again after the directory is removed and made anew.
	if err := os.RemoveAll(filepath.Dir(file)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the webhook to go", func() bool { return len(d.Status()) == 0 })
	addWebhook(t, file, Webhook{URL: rc.URL()})
	waitStatus(t, d, rc.URL(), 5*time.Second, "the webhook to come back", func(WebhookStatus) bool { return true })
	appendEvents(t, j, 3)
	checkInOrder(t, rc.waitAccepted(t, 3, 5*time.Second), 1, 3)
}

// TestStaleCursorsRemovedAtStart: cursors of webhooks removed while the
// daemon was down go after the grace period; those of configured webhooks
// stay.
func TestStaleCursorsRemovedAtStart(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	appendEvents(t, j, 10)
	rc := newReceiver(t, nil)
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: rc.URL()})
	for name, seq := range map[string]uint64{CursorName(rc.URL()): 3, CursorName("http://gone.example/"): 7, "other-consumer": 1} {
		if err := j.SetCursor(name, seq); err != nil {
			t.Fatal(err)
		}
	}
	opts := fastOptions(j, file)
	opts.RemovedGrace = 100 * time.Millisecond
	d, stop := runDeliverer(t, opts)
	checkInOrder(t, rc.waitAccepted(t, 7, 5*time.Second), 4, 10)
	waitStatus(t, d, rc.URL(), 5*time.Second, "caught up", func(s WebhookStatus) bool { return s.Lag == 0 })
	eventually(t, 5*time.Second, "the stale cursor to go", func() bool {
		c, err := j.Cursors()
		_, ok := c[CursorName("http://gone.example/")]
		return err == nil && !ok
	})
	stop()
	c, err := j.Cursors()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c[CursorName("http://gone.example/")]; ok || c["other-consumer"] != 1 || c[CursorName(rc.URL())] != 10 {
		t.Errorf("cursors %v", c)
	}
}

// TestMissingFileKeepsCursors: a webhooks file that is absent for a while
// (an editor's replace, a wrong working directory) pauses delivery but
// deletes no delivery position: once it is back, every webhook resumes
// where it stopped, none restarts from the journal's end.
func TestMissingFileKeepsCursors(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	rc := newReceiver(t, nil)
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: rc.URL()})
	opts := fastOptions(j, file)
	opts.RemovedGrace = 50 * time.Millisecond
	d, _ := runDeliverer(t, opts)
	waitStatus(t, d, rc.URL(), 5*time.Second, "the webhook to start", func(WebhookStatus) bool { return true })
	appendEvents(t, j, 5)
	rc.waitAccepted(t, 5, 5*time.Second)

	content, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "delivery to pause", func() bool { return len(d.Status()) == 0 })
	appendEvents(t, j, 5)
	time.Sleep(10 * opts.RemovedGrace) // several polls, well past the grace period
	if c, err := j.Cursors(); err != nil || c[CursorName(rc.URL())] != 5 {
		t.Fatalf("cursors while the file is missing: %v, %v", c, err)
	}
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	checkInOrder(t, rc.waitAccepted(t, 10, 5*time.Second), 1, 10)
}

// TestRemovedWebhookGrace: a webhook removed from the file and added again
// within the grace period resumes where it stopped and gets what happened
// in between; after the grace period its position is gone and it starts
// afresh.
func TestRemovedWebhookGrace(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	rc := newReceiver(t, nil)
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: rc.URL()})
	opts := fastOptions(j, file)
	opts.RemovedGrace = 2 * time.Second
	d, _ := runDeliverer(t, opts)
	waitStatus(t, d, rc.URL(), 5*time.Second, "the webhook to start", func(WebhookStatus) bool { return true })
	appendEvents(t, j, 5)
	rc.waitAccepted(t, 5, 5*time.Second)

	if err := Delete(file, rc.URL()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the webhook to stop", func() bool { return len(d.Status()) == 0 })
	appendEvents(t, j, 5)
	addWebhook(t, file, Webhook{URL: rc.URL()})
	checkInOrder(t, rc.waitAccepted(t, 10, 5*time.Second), 1, 10)

	if err := Delete(file, rc.URL()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the cursor to go after the grace period", func() bool {
		c, err := j.Cursors()
		_, ok := c[CursorName(rc.URL())]
		return err == nil && !ok
	})
	appendEvents(t, j, 5)
	addWebhook(t, file, Webhook{URL: rc.URL()})
	waitStatus(t, d, rc.URL(), 5*time.Second, "a fresh start", func(s WebhookStatus) bool { return s.Cursor == 15 })
	appendEvents(t, j, 1)
	got := rc.waitAccepted(t, 11, 5*time.Second)
	checkInOrder(t, got[:10], 1, 10)
	checkInOrder(t, got[10:], 16, 16)
}

// TestRetentionLoss: events retention removed before delivery are counted
// as lost; the rest arrive in order.
func TestRetentionLoss(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"), journal.Options{MaxEvents: 100, MaxAge: 100 * 365 * 24 * time.Hour, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	appendEvents(t, j, 500)
	eventually(t, 10*time.Second, "retention", func() bool { return j.FirstSeq() == 401 })
	rc := newReceiver(t, nil)
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: rc.URL()})
	if err := j.SetCursor(CursorName(rc.URL()), 0); err != nil {
		t.Fatal(err)
	}
	d, _ := runDeliverer(t, fastOptions(j, file))
	checkInOrder(t, rc.waitAccepted(t, 100, 5*time.Second), 401, 500)
	st := waitStatus(t, d, rc.URL(), 5*time.Second, "caught up", func(s WebhookStatus) bool { return s.Lag == 0 })
	if st.Lost != 400 || st.Delivered != 100 {
		t.Errorf("status %+v", st)
	}
}

func TestFilters(t *testing.T) {
	evs := []journal.Event{
		{Name: "VOLUME_START", Source: SourceNative, Fields: []journal.Field{{Key: "name", Value: "gv0"}, {Key: "force", Value: "0"}}},
		{Name: "VOLUME_START", Source: SourceDiff, Fields: []journal.Field{{Key: "name", Value: "gv1"}}},
		{Name: "BRICK_DISCONNECTED", Source: SourceNative, Fields: []journal.Field{{Key: "peer", Value: "h"}, {Key: "volume", Value: "gv0"}, {Key: "brick", Value: "/b"}}},
		{Name: "BRICK_OFFLINE", Source: SourceDiff, Fields: []journal.Field{{Key: "volume", Value: "gv1"}, {Key: "brick", Value: "h:/b"}}},
		{Name: "AFR_QUORUM_FAIL", Source: SourceNative, Fields: []journal.Field{{Key: "client-pid", Value: "-6"}, {Key: "subvol", Value: "gv0-replicate-0"}}},
		{Name: "PEER_CONNECT", Source: SourceNative, Fields: []journal.Field{{Key: "host", Value: "h"}}},
		{Name: "QUOTA_CROSSED_SOFT_LIMIT", Source: SourceNative, Fields: []journal.Field{{Key: "usage", Value: "1"}, {Key: "volume", Value: "gv1"}}},
	}
	for _, c := range []struct {
		w    Webhook
		want []int
	}{
		{Webhook{}, []int{0, 2, 4, 5, 6}}, // native only unless asked
		{Webhook{Sources: []string{SourceNative}}, []int{0, 2, 4, 5, 6}},
		{Webhook{Sources: []string{SourceDiff, SourceNative}}, []int{0, 1, 2, 3, 4, 5, 6}},
		{Webhook{Events: []string{"volume_start", "PEER_*"}}, []int{0, 5}},
		{Webhook{Events: []string{"volume_start", "PEER_*"}, Sources: []string{SourceNative, SourceDiff}}, []int{0, 1, 5}},
		{Webhook{Events: []string{"BRICK_*"}, Sources: []string{SourceDiff}}, []int{3}},
		{Webhook{Events: []string{"*"}}, []int{0, 2, 4, 5, 6}},
		{Webhook{Volumes: []string{"gv0"}}, []int{0, 2, 4}},
		{Webhook{Volumes: []string{"gv1"}, Events: []string{"VOLUME_*", "QUOTA_*"}}, []int{6}},
		{Webhook{Volumes: []string{"gv1"}, Events: []string{"VOLUME_*", "QUOTA_*"}, Sources: []string{SourceDiff, SourceNative}}, []int{1, 6}},
	} {
		m := newMatcher(&c.w)
		var got []int
		for i := range evs {
			if m.match(&evs[i]) {
				got = append(got, i)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v: matches %v, want %v", c.w, got, c.want)
		}
	}
}

// TestFilteredDelivery: a webhook with filters gets only its events, and
// its cursor still moves past the others.
func TestFilteredDelivery(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	rc := newReceiver(t, nil)
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: rc.URL(), Events: []string{"BRICK_*"}, Volumes: []string{"gv1"}})
	d, _ := runDeliverer(t, fastOptions(j, file))
	waitStatus(t, d, rc.URL(), 5*time.Second, "the webhook to start", func(WebhookStatus) bool { return true })
	var evs []journal.Event
	for i := range 100 {
		vol := []string{"gv0", "gv1"}[i%2]
		name := []string{"BRICK_OFFLINE", "VOLUME_START"}[i/2%2]
		evs = append(evs, journal.Event{Name: name, Source: SourceNative, Fields: []journal.Field{{Key: "volume", Value: vol}, {Key: "name", Value: vol}}})
	}
	if _, err := j.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	got := rc.waitAccepted(t, 25, 5*time.Second)
	for _, s := range got {
		if ev := evs[s-1]; ev.Name != "BRICK_OFFLINE" || ev.Fields[0].Value != "gv1" {
			t.Errorf("got event %d %+v", s, ev)
		}
	}
	waitStatus(t, d, rc.URL(), 5*time.Second, "the cursor to pass the rest", func(s WebhookStatus) bool { return s.Cursor == 100 })
	if n := len(rc.acceptedSeqs()); n != 25 {
		t.Errorf("%d events, want 25", n)
	}
}

// TestCredentialsNeverShown: tokens, secrets and JWTs appear neither in
// logs nor in Status nor in errors, even when the receiver echoes them.
func TestCredentialsNeverShown(t *testing.T) {
	const token, secret, password = "tok-Zq8Wc1", "sec-Hk2Lp9", "pw-Vv7Rr3"
	j := openJournal(t, "")
	defer j.Close()
	var jwts []string
	echo := func(r *request, w http.ResponseWriter, req *http.Request) int {
		auth := req.Header.Get("Authorization")
		if a, ok := strings.CutPrefix(auth, "Bearer eyJ"); ok && a != "" {
			jwts = append(jwts, strings.TrimPrefix(auth, "Bearer "))
		}
		u, p, _ := req.BasicAuth()
		r.reply = fmt.Sprintf("denied: %q %s %s\n", auth, u, p)
		if r.seq%2 == 0 {
			return http.StatusUnauthorized
		}
		if r.attempt == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	tokRC, secRC := newReceiver(t, echo), newReceiver(t, echo)
	pwURL := strings.Replace(secRC.URL(), "http://", "http://user:"+password+"@", 1)
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: tokRC.URL(), Token: token})
	addWebhook(t, file, Webhook{URL: pwURL, Secret: secret})
	logs := &testbus.Buffer{}
	opts := fastOptions(j, file)
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, _ := runDeliverer(t, opts)
	waitStatus(t, d, pwURL, 5*time.Second, "the webhooks to start", func(WebhookStatus) bool { return true })
	appendEvents(t, j, 10)
	tokRC.waitAccepted(t, 5, 5*time.Second)
	secRC.waitAccepted(t, 5, 5*time.Second)
	waitStatus(t, d, pwURL, 5*time.Second, "caught up", func(s WebhookStatus) bool { return s.Lag == 0 })

	// A broken file that holds the credentials.
	if err := os.WriteFile(file, []byte(`{"`+pwURL+`": {"token": "`+token+`", "secret": ["`+secret+`"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Reload()
	eventually(t, 5*time.Second, "the config error", func() bool { _, err := d.ConfigError(); return err != nil })
	_, cfgErr := d.ConfigError()
	_, testErr := d.SendTest(context.Background(), "http://user:"+password+"@127.0.0.1:1/")

	shown := logs.String() + fmt.Sprintf("%+v %v %v", d.Status(), cfgErr, testErr)
	if len(jwts) == 0 {
		t.Fatal("no JWT was sent")
	}
	for _, s := range append([]string{token, secret, password}, jwts...) {
		if strings.Contains(shown, s) {
			t.Errorf("%q shown:\n%s", s, shown)
		}
	}
	if !strings.Contains(shown, "HTTP 401 Unauthorized: denied:") || !strings.Contains(shown, "[redacted]") {
		t.Errorf("the receiver's answer is not shown, redacted:\n%s", shown)
	}
}

// TestHTTPS: certificates are verified unless no_verify says otherwise;
// ca_file trusts a private CA.
func TestHTTPS(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	srvs := make([]*httptest.Server, 3)
	for i := range srvs {
		srvs[i] = httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		srvs[i].Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
		srvs[i].StartTLS()
		defer srvs[i].Close()
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvs[2].Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: srvs[0].URL})
	addWebhook(t, file, Webhook{URL: srvs[1].URL, NoVerify: true})
	addWebhook(t, file, Webhook{URL: srvs[2].URL, CAFile: caFile})
	d, _ := runDeliverer(t, fastOptions(j, file))
	for _, s := range srvs {
		waitStatus(t, d, s.URL, 5*time.Second, "the webhooks to start", func(WebhookStatus) bool { return true })
	}
	appendEvents(t, j, 3)
	waitStatus(t, d, srvs[1].URL, 5*time.Second, "no_verify delivery", func(s WebhookStatus) bool { return s.Delivered == 3 })
	waitStatus(t, d, srvs[2].URL, 5*time.Second, "ca_file delivery", func(s WebhookStatus) bool { return s.Delivered == 3 })
	st := waitStatus(t, d, srvs[0].URL, 5*time.Second, "verification failure", func(s WebhookStatus) bool { return s.State == StateRetrying })
	if st.Delivered != 0 || !strings.Contains(st.LastError, "certificate") || !strings.Contains(st.LastError, "no_verify") {
		t.Errorf("unverifiable receiver: %+v", st)
	}
}

// TestRedirectNotFollowed: a redirect would turn the POST into a GET
// elsewhere; it counts as a failure naming the new location.
func TestRedirectNotFollowed(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	rc := newReceiver(t, func(r *request, w http.ResponseWriter, _ *http.Request) int {
		w.Header().Set("Location", "http://elsewhere.example/hook")
		return http.StatusFound
	})
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: rc.URL()})
	d, _ := runDeliverer(t, fastOptions(j, file))
	waitStatus(t, d, rc.URL(), 5*time.Second, "the webhook to start", func(WebhookStatus) bool { return true })
	appendEvents(t, j, 2)
	st := waitStatus(t, d, rc.URL(), 5*time.Second, "both events refused", func(s WebhookStatus) bool { return s.Failed == 2 })
	if !strings.Contains(st.LastError, "HTTP 302 Found to http://elsewhere.example/hook (redirects are not followed") {
		t.Errorf("LastError %q", st.LastError)
	}
	if n := len(rc.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestSendTest posts a real sample event, with the webhook's credentials.
func TestSendTest(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	rc := newReceiver(t, func(r *request, _ http.ResponseWriter, _ *http.Request) int { return http.StatusAccepted })
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: rc.URL(), Token: "tok", Sources: []string{SourceDiff}})
	opts := fastOptions(j, file)
	opts.NodeID = func() string { return testNode }
	d, _ := runDeliverer(t, opts)
	waitStatus(t, d, rc.URL(), 5*time.Second, "the webhook to start", func(WebhookStatus) bool { return true })
	status, err := d.SendTest(context.Background(), rc.URL())
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("SendTest: %d, %v", status, err)
	}
	r := rc.requests()[0]
	body := string(r.body)
	if !strings.HasPrefix(body, `{"event": "TEST", "message": {"message": "webhook test from glusterbus"}, "nodeid": "`+testNode+`", "ts": `) ||
		r.header.Get("Authorization") != "Bearer tok" || r.header.Get(HeaderSource) != "test" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("test request %v %s", r.header, body)
	}
	if _, err := d.SendTest(context.Background(), "http://127.0.0.1:1/unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SendTest of an unknown webhook: %v", err)
	}
	// Test, for a URL not in the file.
	if status, err := Test(context.Background(), Webhook{URL: rc.URL()}, "", time.Second); err != nil || status != http.StatusAccepted {
		t.Errorf("Test: %d, %v", status, err)
	}
	if _, err := Test(context.Background(), Webhook{URL: "http://" + freeLoopbackAddr(t) + "/"}, "", time.Second); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Test of a closed port: %v", err)
	}
}
