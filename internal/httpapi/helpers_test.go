package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/state"
)

// fixture is a server over a model and a real journal.
type fixture struct {
	t       testing.TB
	model   *state.Model
	journal *journal.Journal
	server  *Server
	http    *httptest.Server
}

func newFixture(t testing.TB, opts Options, native func() NativeStats) *fixture {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	f := &fixture{t: t, model: state.NewModel(), journal: j}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	f.server, err = New(opts, Sources{Model: f.model, Journal: j, Native: native})
	if err != nil {
		t.Fatal(err)
	}
	f.http = httptest.NewServer(f.server.Handler())
	t.Cleanup(f.http.Close)
	return f
}

func (f *fixture) get(path string, header ...string) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.http.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, string(body)
}

// appendEvents journals n events named name, for volume vol.
func (f *fixture) appendEvents(n int, name, source, vol string) []uint64 {
	f.t.Helper()
	evs := make([]journal.Event, n)
	for i := range evs {
		evs[i] = journal.Event{Name: name, Source: source, Node: "node-1",
			Fields: []journal.Field{{Key: "name", Value: vol}, {Key: "n", Value: fmt.Sprint(i)}}}
	}
	seqs, err := f.journal.Append(context.Background(), evs...)
	if err != nil {
		f.t.Fatal(err)
	}
	return seqs
}

// sseEvent is one event read from a stream.
type sseEvent struct {
	ID, Type string
	Data     string
}

// sseClient reads one event stream.
type sseClient struct {
	t        testing.TB
	resp     *http.Response
	r        *bufio.Reader
	cancel   context.CancelFunc
	events   chan sseEvent
	done     chan error
	comments atomic.Int64
}

func (f *fixture) stream(path string, header ...string) *sseClient {
	f.t.Helper()
	return openSSE(f.t, f.http.URL+path, header...)
}

// openSSE opens an event stream at URL u; a cleanup closes it.
func openSSE(t testing.TB, u string, header ...string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: %s %s", u, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	c := &sseClient{t: t, resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel,
		events: make(chan sseEvent, 100000), done: make(chan error, 1)}
	go c.read()
	t.Cleanup(c.close)
	return c
}

func (c *sseClient) read() {
	var ev sseEvent
	var data []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			close(c.events)
			c.done <- err
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if data != nil {
				ev.Data = strings.Join(data, "\n")
				if ev.Type == "" {
					ev.Type = "message"
				}
				c.events <- ev
			}
			ev, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
			c.comments.Add(1)
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Type = value
			case "data":
				data = append(data, value)
			}
		}
	}
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next returns the next event, waiting at most a generous deadline.
func (c *sseClient) next() sseEvent {
	c.t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			c.t.Fatalf("stream ended: %v", <-c.done)
		}
		return ev
	case <-time.After(30 * time.Second):
		c.t.Fatal("no event within 30s")
	}
	return sseEvent{}
}

// nextMessage returns the next event's decoded data.
func (c *sseClient) nextMessage() (sseEvent, eventJSON) {
	c.t.Helper()
	ev := c.next()
	var e eventJSON
	if ev.Type == "message" {
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
			c.t.Fatalf("event data %q: %v", ev.Data, err)
		}
	}
	return ev, e
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
