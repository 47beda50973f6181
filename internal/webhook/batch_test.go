package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
)

// batchPost is one request a batchReceiver saw.
type batchPost struct {
	header  http.Header
	seqs    []uint64          // from X-Glusterbus-Sequence
	events  []json.RawMessage // the body's array
	body    []byte
	attempt int // of this list of sequence numbers, from 1
}

// batchReceiver takes batched bodies as a receiver should: it processes
// the events of a POST in order and keeps each sequence number once, so
// that what a retry sends again is not stored twice. respond decides the
// answer (0 drops the connection) and how many of the POST's events were
// processed before it.
type batchReceiver struct {
	t       testing.TB
	srv     *httptest.Server
	respond func(p *batchPost) (status, processed int)

	mu     sync.Mutex
	posts  []batchPost
	tries  map[string]int
	seen   map[uint64]bool
	stored []uint64
}

func newBatchReceiver(t testing.TB, respond func(p *batchPost) (int, int)) *batchReceiver {
	rc := &batchReceiver{t: t, respond: respond, tries: map[string]int{}, seen: map[uint64]bool{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *batchReceiver) URL() string { return rc.srv.URL + "/batch" }

func (rc *batchReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	p := batchPost{header: req.Header.Clone(), body: body}
	for _, s := range strings.Split(req.Header.Get(HeaderSequence), ",") {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			rc.t.Errorf("%s %q: %v", HeaderSequence, req.Header.Get(HeaderSequence), err)
		}
		p.seqs = append(p.seqs, n)
	}
	if err := json.Unmarshal(body, &p.events); err != nil {
		rc.t.Errorf("body is not a JSON array: %v: %.200s", err, body)
	}
	if len(p.events) != len(p.seqs) {
		rc.t.Errorf("%d events in the body, %d sequence numbers", len(p.events), len(p.seqs))
	}
	rc.mu.Lock()
	rc.tries[req.Header.Get(HeaderSequence)]++
	p.attempt = rc.tries[req.Header.Get(HeaderSequence)]
	rc.posts = append(rc.posts, p)
	rc.mu.Unlock()

	status, processed := http.StatusOK, len(p.seqs)
	if rc.respond != nil {
		status, processed = rc.respond(&p)
	}
	rc.mu.Lock()
	for _, s := range p.seqs[:min(processed, len(p.seqs))] {
		if !rc.seen[s] {
			rc.seen[s] = true
			rc.stored = append(rc.stored, s)
		}
	}
	rc.mu.Unlock()
	if status == 0 {
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
		return
	}
	w.WriteHeader(status)
}

// waitStored waits until n events are stored and returns them.
func (rc *batchReceiver) waitStored(t testing.TB, n int) []uint64 {
	t.Helper()
	var got []uint64
	eventually(t, minPatience, strconv.Itoa(n)+" events stored", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		got = slices.Clone(rc.stored)
		return len(got) >= n
	})
	return got
}

func (rc *batchReceiver) allPosts() []batchPost {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.posts)
}

// startBatching runs a Deliverer with one webhook, w, and waits for it.
func startBatching(t *testing.T, j *journal.Journal, w Webhook) (*Deliverer, string) {
	t.Helper()
	file := webhooksFile(t)
	addWebhook(t, file, w)
	d, _ := runDeliverer(t, fastOptions(j, file))
	waitStatus(t, d, w.URL, 5*time.Second, "the webhook to start", func(WebhookStatus) bool { return true })
	return d, file
}

// journalBodies maps the sequence numbers of the journal's first n events
// to their Body.
func journalBodies(t *testing.T, j *journal.Journal, n int) map[uint64][]byte {
	t.Helper()
	evs, err := j.Range(0, n)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64][]byte{}
	for _, ev := range evs {
		out[ev.Seq] = Body(ev)
	}
	return out
}

// TestBatchOrder: with "batch" set, events come as JSON arrays of at most
// that many glustereventsd bodies, in journal order, each event once, only
// those the filters select.
func TestBatchOrder(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	rc := newBatchReceiver(t, nil)
	d, _ := startBatching(t, j, Webhook{URL: rc.URL(), Token: "tok", Events: []string{"CLIENT_*"}, Batch: 10})

	// 150 events, every third of them filtered out, appended in uneven
	// groups so that batches are cut by what is there as well as by size.
	const n = 150
	var want []uint64
	for appended := 0; appended < n; {
		k := min(1+appended%37, n-appended)
		evs := make([]journal.Event, k)
		for i := range evs {
			evs[i] = testEvent(strconv.Itoa(appended + i))
			if (appended+i+1)%3 == 0 {
				evs[i].Name = "BRICK_DISCONNECTED"
			} else {
				want = append(want, uint64(appended+i+1))
			}
		}
		if _, err := j.Append(context.Background(), evs...); err != nil {
			t.Fatal(err)
		}
		appended += k
	}
	if got := rc.waitStored(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("stored %v\nwant %v", got, want)
	}
	st := waitStatus(t, d, rc.URL(), 5*time.Second, "the cursor to reach the end", func(s WebhookStatus) bool { return s.Cursor == n })
	if st.Delivered != uint64(len(want)) || st.Failed != 0 || st.Lag != 0 {
		t.Errorf("status %+v", st)
	}

	bodies := journalBodies(t, j, n)
	var sent []uint64
	for _, p := range rc.allPosts() {
		if len(p.seqs) == 0 || len(p.seqs) > 10 {
			t.Errorf("a POST of %d events, batch is 10", len(p.seqs))
		}
		if p.header.Get("Content-Type") != "application/json" || p.header.Get("Authorization") != "Bearer tok" ||
			p.header.Get(HeaderSource) != SourceNative {
			t.Errorf("headers %v", p.header)
		}
		for i, s := range p.seqs {
			if i < len(p.events) && string(p.events[i]) != string(bodies[s]) {
				t.Errorf("event %d in the batch is\n%s\nwant\n%s", s, p.events[i], bodies[s])
			}
		}
		sent = append(sent, p.seqs...)
	}
	if !slices.Equal(sent, want) {
		t.Errorf("POSTed %v\nwant %v", sent, want)
	}
}

// TestBatchRetry: a batch that fails is sent again as it was, the same
// events in the same body, until it is accepted; one refused for good
// counts all its events as failed and delivery goes on after it.
func TestBatchRetry(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	var mu sync.Mutex
	var refused []uint64
	rc := newBatchReceiver(t, func(p *batchPost) (int, int) {
		switch {
		case slices.Contains(p.seqs, 50):
			mu.Lock()
			refused = p.seqs
			mu.Unlock()
			return http.StatusBadRequest, 0
		case p.attempt == 1:
			return http.StatusServiceUnavailable, 0
		case p.attempt == 2:
			return 0, 0 // connection dropped
		}
		return http.StatusOK, len(p.seqs)
	})
	d, _ := startBatching(t, j, Webhook{URL: rc.URL(), Batch: 25})
	const n = 200
	appendEvents(t, j, n)
	st := waitStatus(t, d, rc.URL(), time.Minute, "the cursor to reach the end", func(s WebhookStatus) bool { return s.Cursor == n })
	mu.Lock()
	defer mu.Unlock()

	var want []uint64
	for s := uint64(1); s <= n; s++ {
		if !slices.Contains(refused, s) {
			want = append(want, s)
		}
	}
	if got := rc.waitStored(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("stored %v\nwant %v", got, want)
	}
	if len(refused) == 0 || st.Failed != uint64(len(refused)) || st.Delivered != uint64(len(want)) {
		t.Errorf("status %+v, refused batch %v", st, refused)
	}
	if !strings.Contains(st.LastError, "batch of 25 events") {
		t.Errorf("LastError %q", st.LastError)
	}
	// Every attempt at a batch carried the same body as its first.
	first := map[string][]byte{}
	for _, p := range rc.allPosts() {
		key := p.header.Get(HeaderSequence)
		if b, ok := first[key]; !ok {
			first[key] = p.body
		} else if string(b) != string(p.body) {
			t.Errorf("attempt %d of batch %s has another body", p.attempt, key)
		}
	}
}

// TestBatchReceiverFailsHalfway: a receiver that processes half of a batch
// and then fails (an error status, a dropped connection) gets the whole
// batch again, so nothing is skipped; what it processed comes twice, and
// the sequence numbers let it drop those.
func TestBatchReceiverFailsHalfway(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	var mu sync.Mutex
	var twice int
	rc := newBatchReceiver(t, func(p *batchPost) (int, int) {
		mu.Lock()
		defer mu.Unlock()
		switch p.attempt {
		case 1:
			return http.StatusInternalServerError, len(p.seqs) / 2
		case 2:
			twice += len(p.seqs) / 2
			return 0, len(p.seqs) * 3 / 4
		}
		twice += len(p.seqs) * 3 / 4
		return http.StatusOK, len(p.seqs)
	})
	d, _ := startBatching(t, j, Webhook{URL: rc.URL(), Batch: 16})
	const n = 300
	appendEvents(t, j, n)
	checkInOrder(t, rc.waitStored(t, n), 1, n)
	st := waitStatus(t, d, rc.URL(), time.Minute, "the cursor to reach the end", func(s WebhookStatus) bool { return s.Cursor == n })
	if st.Delivered != n || st.Failed != 0 {
		t.Errorf("status %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if twice == 0 {
		t.Error("no event was sent again")
	}
}

// TestBatchSettingChanges: turning batching off while a batch is being
// retried sends its events one per POST, none lost or repeated out of
// order; turning it on again batches what follows.
func TestBatchSettingChanges(t *testing.T) {
	j := openJournal(t, "")
	defer j.Close()
	var mu sync.Mutex
	var singles, batched []uint64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		seqs := req.Header.Get(HeaderSequence)
		mu.Lock()
		defer mu.Unlock()
		if body[0] == '[' {
			var evs []json.RawMessage
			if err := json.Unmarshal(body, &evs); err != nil {
				t.Errorf("batch body: %v", err)
			}
			if len(batched) == 0 { // refuse to take batches until batching is off
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			for _, s := range strings.Split(seqs, ",") {
				n, _ := strconv.ParseUint(s, 10, 64)
				batched = append(batched, n)
			}
			return
		}
		n, err := strconv.ParseUint(seqs, 10, 64)
		if err != nil || !strings.HasPrefix(string(body), `{"event": `) {
			t.Errorf("single POST %q: %s", seqs, body)
		}
		singles = append(singles, n)
	}))
	defer srv.Close()
	u := srv.URL + "/hook"
	d, file := startBatching(t, j, Webhook{URL: u, Batch: 50})
	appendEvents(t, j, 30)
	waitStatus(t, d, u, time.Minute, "the batch to be retried", func(s WebhookStatus) bool { return s.State == StateRetrying })

	off := 0
	if err := Modify(file, u, Change{Batch: &off}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, d, u, time.Minute, "30 events", func(s WebhookStatus) bool { return s.Cursor == 30 })
	mu.Lock()
	checkInOrder(t, singles, 1, 30)
	batched = []uint64{0} // take batches from now on
	mu.Unlock()

	on := 100
	if err := Modify(file, u, Change{Batch: &on}); err != nil {
		t.Fatal(err)
	}
	eventually(t, minPatience, "batching on again", func() bool {
		d.mu.Lock()
		wk := d.workers[u]
		d.mu.Unlock()
		return wk != nil && wk.cfg.Load().hook.Batch == on
	})
	appendEvents(t, j, 40)
	waitStatus(t, d, u, time.Minute, "70 events", func(s WebhookStatus) bool { return s.Cursor == 70 })
	mu.Lock()
	defer mu.Unlock()
	checkInOrder(t, singles, 1, 30)
	checkInOrder(t, batched[1:], 31, 70)
}

// TestBatchSetting: "batch" is read, written and checked like the other
// settings.
func TestBatchSetting(t *testing.T) {
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: "http://127.0.0.1:1/a", Batch: 200})
	c, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if w, ok := c.Find("http://127.0.0.1:1/a"); !ok || w.Batch != 200 {
		t.Fatalf("read back %+v", c)
	}
	for _, bad := range []int{-1, MaxBatch + 1} {
		if err := Modify(file, "http://127.0.0.1:1/a", Change{Batch: &bad}); err == nil {
			t.Errorf("batch %d accepted", bad)
		}
	}
	cfg, err := parseConfig([]byte(`{"http://h/x": {"token": "", "secret": "", "glusterbus": {"batch": 2000}}, "http://h/y": {"token": "", "secret": "", "glusterbus": {"batch": "many"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Invalid) != 2 || len(cfg.Webhooks) != 0 {
		t.Errorf("config %+v", cfg)
	}
}

// TestBatchSendTest: the sample event goes to a webhook that batches as a
// batch of one, so that the test exercises the receiver's real parsing.
func TestBatchSendTest(t *testing.T) {
	var mu sync.Mutex
	var body []byte
	var header http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body, _ = io.ReadAll(req.Body)
		header = req.Header.Clone()
	}))
	defer srv.Close()
	status, err := Test(context.Background(), Webhook{URL: srv.URL, Batch: 5}, "", 0)
	if err != nil || status != http.StatusOK {
		t.Fatalf("Test: %d, %v", status, err)
	}
	mu.Lock()
	defer mu.Unlock()
	var evs []map[string]any
	if err := json.Unmarshal(body, &evs); err != nil || len(evs) != 1 || evs[0]["event"] != SampleEventName {
		t.Errorf("body %s: %v", body, err)
	}
	if header.Get(HeaderSequence) != "" || header.Get(HeaderSource) != "test" {
		t.Errorf("headers %v", header)
	}
}
