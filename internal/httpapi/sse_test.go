package httpapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
)

func TestEventsResumeWithLastEventID(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	f.appendEvents(3, "VOLUME_SET", "native", "gv0")

	c := f.stream("/api/v1/events?since=0")
	for want := uint64(1); want <= 3; want++ {
		ev, e := c.nextMessage()
		if ev.ID != strconv.FormatUint(want, 10) || e.Seq != want || e.Name != "VOLUME_SET" || e.Fields["source"] != "native" || e.Fields["name"] != "gv0" {
			t.Fatalf("event %d: %+v %+v", want, ev, e)
		}
	}
	c.close()

	// Events happen while the client is away.
	f.appendEvents(5, "VOLUME_START", "diff", "gv1")

	// It comes back as EventSource does: the same URL, Last-Event-ID set.
	c = f.stream("/api/v1/events?since=0", "Last-Event-ID", "3")
	for want := uint64(4); want <= 8; want++ {
		ev, e := c.nextMessage()
		if ev.ID != strconv.FormatUint(want, 10) || e.Seq != want || e.Name != "VOLUME_START" || e.Fields["n"] != fmt.Sprint(want-4) {
			t.Fatalf("want event %d, got %+v %+v", want, ev, e)
		}
	}
	// And then live ones, in order.
	f.appendEvents(2, "PEER_CONNECT", "native", "")
	for want := uint64(9); want <= 10; want++ {
		if _, e := c.nextMessage(); e.Seq != want || e.Name != "PEER_CONNECT" {
			t.Fatalf("want live event %d, got %+v", want, e)
		}
	}
}

func TestEventsWithoutSinceStartAtTheEnd(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	f.appendEvents(4, "OLD", "native", "gv0")
	c := f.stream("/api/v1/events")
	f.appendEvents(1, "NEW", "native", "gv0")
	if _, e := c.nextMessage(); e.Seq != 5 || e.Name != "NEW" {
		t.Fatalf("first event of a stream without since: %+v", e)
	}
}

func TestEventsFilters(t *testing.T) {
	cases := []struct {
		query  string
		want   []uint64
		marker [3]string // name, source, volume of an event the filter selects
	}{
		{"since=0", []uint64{1, 2, 3, 4, 5}, [3]string{"X", "native", ""}},
		{"since=0&sources=native", []uint64{1, 3, 4, 5}, [3]string{"X", "native", ""}},
		{"since=0&sources=diff", []uint64{2}, [3]string{"X", "diff", ""}},
		{"since=0&volumes=gv0", []uint64{1, 2, 5}, [3]string{"VOLUME_X", "diff", "gv0"}},
		{"since=0&events=volume_s*&volumes=gv0,gv1&sources=native", []uint64{1, 3, 5}, [3]string{"VOLUME_SET", "native", "gv1"}},
		{"since=0&events=PEER_CONNECT&events=VOLUME_STOP", []uint64{3, 4}, [3]string{"PEER_CONNECT", "diff", ""}},
		{"since=2&volumes=gv0", []uint64{5}, [3]string{"VOLUME_X", "native", "gv0"}},
	}
	for _, tc := range cases {
		f := newFixture(t, Options{}, nil)
		f.appendEvents(1, "VOLUME_START", "native", "gv0")
		f.appendEvents(1, "VOLUME_START", "diff", "gv0")
		f.appendEvents(1, "VOLUME_STOP", "native", "gv1")
		f.appendEvents(1, "PEER_CONNECT", "native", "")
		f.appendEvents(1, "VOLUME_SET", "native", "gv0")
		c := f.stream("/api/v1/events?" + tc.query)
		for _, want := range tc.want {
			if _, e := c.nextMessage(); e.Seq != want {
				t.Fatalf("%s: got event %d, want %d", tc.query, e.Seq, want)
			}
		}
		// An event the filter leaves out, then one it selects: the next
		// event seen must be the latter.
		f.appendEvents(1, "LEFT_OUT", "none", "none")
		seq := f.appendEvents(1, tc.marker[0], tc.marker[1], tc.marker[2])[0]
		if _, e := c.nextMessage(); e.Seq != seq {
			t.Fatalf("%s: after the expected events got %d, want the marker %d", tc.query, e.Seq, seq)
		}
		c.close()
	}
}

func TestEventsBadQueries(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	for _, q := range []string{"since=x", "since=1&since=2", "event=VOLUME_START", "sources=test", "events=VOL-*", "%zz"} {
		resp, body := f.get("/api/v1/events?" + q)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s %s", q, resp.Status, body)
		}
	}
	if resp, body := f.get("/api/v1/events", "Last-Event-ID", "abc"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad Last-Event-ID: %s %s", resp.Status, body)
	}
}

// TestEventsLostToRetention: a client that comes back after retention
// removed what it missed is told so, then gets what is left.
func TestEventsLostToRetention(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	j, err := journal.Open(t.TempDir()+"/small.db", journal.Options{MaxEvents: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	f.server.src.Journal = j
	f.journal = j
	f.appendEvents(30, "VOLUME_SET", "native", "gv0")
	waitFor(t, "retention to keep 10 events", func() bool { return j.FirstSeq() == 21 })

	c := f.stream("/api/v1/events", "Last-Event-ID", "5")
	ev := c.next()
	if ev.Type != "lost" || ev.Data != `{"after":5,"next":21}` {
		t.Fatalf("first event after a gap: %+v", ev)
	}
	for want := uint64(21); want <= 30; want++ {
		if _, e := c.nextMessage(); e.Seq != want {
			t.Fatalf("got %d, want %d", e.Seq, want)
		}
	}
}

// TestEventsAfterAReset: a client that saw more events than the journal
// ever held (its state directory was wiped) gets everything it holds.
func TestEventsAfterAReset(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	f.appendEvents(2, "VOLUME_SET", "native", "gv0")
	c := f.stream("/api/v1/events", "Last-Event-ID", "500")
	for want := uint64(1); want <= 2; want++ {
		if _, e := c.nextMessage(); e.Seq != want {
			t.Fatalf("got %d, want %d", e.Seq, want)
		}
	}
}

// TestSlowClientDelaysNoOne: a client that reads nothing does not hold up
// the journal or another client.
func TestSlowClientDelaysNoOne(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	req, err := http.NewRequest(http.MethodGet, f.http.URL+"/api/v1/events?since=0", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stalled, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Body.Close() // never read

	live := f.stream("/api/v1/events")
	const n = 20000 // far more than the socket buffers of the stalled one hold
	for i := 0; i < n; i += 1000 {
		f.appendEvents(1000, "VOLUME_SET", "native", "gv-with-a-longer-name-to-fill-buffers")
	}
	for want := uint64(1); want <= n; want++ {
		if _, e := live.nextMessage(); e.Seq != want {
			t.Fatalf("live client: got %d, want %d", e.Seq, want)
		}
	}
}

func TestStreamLimit(t *testing.T) {
	f := newFixture(t, Options{MaxStreams: 1}, nil)
	f.stream("/api/v1/events")
	resp, body := f.get("/api/v1/events")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second stream over the limit: %s %s", resp.Status, body)
	}
}

// TestStreamOutlivesTheReadTimeout: on the real server, whose read timeout
// bounds reading a request, a stream goes on past it, with keep-alive
// comments while idle.
func TestStreamOutlivesTheReadTimeout(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	s := f.server
	s.timeouts.read, s.timeouts.readHeader, s.timeouts.keepAlive = 100*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	addrs := make(chan net.Addr, 1)
	s.opts.OnListen = func(a net.Addr) { addrs <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	c := openSSE(t, "http://"+(<-addrs).String()+"/api/v1/events")
	// Ten keep-alives take at least five read timeouts.
	waitFor(t, "ten keep-alive comments", func() bool { return c.comments.Load() >= 10 })
	f.appendEvents(1, "VOLUME_SET", "native", "gv0")
	if _, e := c.nextMessage(); e.Seq != 1 {
		t.Fatalf("after the read timeout: %+v", e)
	}
}

// TestStalledClientIsCutOff: a client that takes nothing is cut off once
// the write timeout passes, and its stream's slot is free again.
func TestStalledClientIsCutOff(t *testing.T) {
	f := newFixture(t, Options{MaxStreams: 1}, nil)
	s := f.server
	s.timeouts.write = 200 * time.Millisecond
	addrs := make(chan net.Addr, 1)
	s.opts.OnListen = func(a net.Addr) { addrs <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	base := "http://" + (<-addrs).String()

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /api/v1/events?since=0 HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream to open", func() bool { return s.streamCount() == 1 })
	// Far more than the socket buffers hold, and never read.
	for range 40 {
		f.appendEvents(1000, "VOLUME_SET", "native", "a-volume-name-long-enough-to-fill-the-buffers-quickly")
	}
	waitFor(t, "the stalled stream to be cut off", func() bool { return s.streamCount() == 0 })
	c := openSSE(t, base+"/api/v1/events?since=39999")
	if _, e := c.nextMessage(); e.Seq != 40000 {
		t.Fatalf("a new stream after the stalled one: %+v", e)
	}
}
