package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
)

const (
	// streamPage is how many events a stream reads from the journal at
	// once: what one client can hold in memory.
	streamPage = 1000
	// retryMillis is the reconnection delay suggested to EventSource.
	retryMillis = 2000
)

// eventJSON is one event in a stream's data: what `glusterbus events
// --json` prints, with the source among the fields as D-Bus carries it.
type eventJSON struct {
	Seq    uint64            `json:"seq"`
	Name   string            `json:"name"`
	Time   time.Time         `json:"time"`
	Node   string            `json:"node"`
	Object string            `json:"object"`
	Fields map[string]string `json:"fields"`
}

// serveEvents streams journaled events as Server-Sent Events. Each client
// reads the journal by range on its own, and waits on the journal's
// notification of new events: a slow client delays only itself, and holds
// at most one page of events in memory (its backlog stays in the journal).
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	q, err := parseStreamQuery(r.URL.RawQuery, r.Header.Get("Last-Event-ID"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("already %d event streams open", cap(s.streams)))
		return
	}
	j := s.src.Journal
	last := j.LastSeq()
	if q.resume {
		last = q.since
		if last > j.LastSeq() {
			// Sequence numbers are never reused, so the client read
			// another journal (this one was reset): all it holds is new.
			last = 0
		}
	}
	st := &stream{w: w, rc: http.NewResponseController(w), last: last, writeTimeout: s.timeouts.write}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on at once
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(&st.buf, "retry: %d\n: events after %d\n\n", retryMillis, last)
	if st.flush() != nil {
		return
	}
	s.follow(r.Context(), j, q, st)
}

// follow sends the events after st.last that q selects until ctx ends, the
// journal closes or the client stops reading.
func (s *Server) follow(ctx context.Context, j *journal.Journal, q streamQuery, st *stream) {
	for {
		upTo := j.LastSeq()
		evs, err := j.Range(st.last, streamPage)
		if err != nil {
			if !errors.Is(err, journal.ErrClosed) {
				s.log.Warn("event stream: reading the journal", "err", err)
			}
			return
		}
		for i := range evs {
			ev := &evs[i]
			st.gapTo(ev.Seq)
			if q.filter.Match(ev) {
				st.event(ev)
			}
			st.last = ev.Seq
		}
		if len(evs) == 0 && upTo > st.last {
			st.gapTo(upTo + 1) // retention removed all of them
			st.last = upTo
		}
		if st.flush() != nil {
			return
		}
		if len(evs) == streamPage {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, s.timeouts.keepAlive)
		err = j.Wait(wctx, st.last)
		cancel()
		switch {
		case ctx.Err() != nil, errors.Is(err, journal.ErrClosed):
			return
		case err != nil: // idle
			st.buf.WriteString(": keep-alive\n\n")
		}
	}
}

// stream is one client's connection. Events are gathered in buf and
// written at once per page.
type stream struct {
	w            http.ResponseWriter
	rc           *http.ResponseController
	buf          bytes.Buffer
	last         uint64 // the last event handled, sent or not
	writeTimeout time.Duration
}

// event adds one event, with its sequence number as the SSE id.
func (st *stream) event(ev *journal.Event) {
	e := eventJSON{Seq: ev.Seq, Name: ev.Name, Time: ev.Time, Node: ev.Node, Object: ev.Object,
		Fields: make(map[string]string, len(ev.Fields)+1)}
	for _, f := range ev.Fields {
		e.Fields[f.Key] = f.Value
	}
	e.Fields["source"] = ev.Source
	data, err := json.Marshal(e)
	if err != nil { // not with strings and a time; never send half an event
		return
	}
	st.buf.WriteString("id: ")
	st.buf.WriteString(strconv.FormatUint(ev.Seq, 10))
	st.buf.WriteString("\ndata: ")
	st.buf.Write(data)
	st.buf.WriteString("\n\n")
}

// gapTo says so when the events between st.last and next are gone from
// the journal (retention removed them before this client read them): an
// event named "lost", which EventSource's onmessage does not see.
func (st *stream) gapTo(next uint64) {
	if next <= st.last+1 {
		return
	}
	fmt.Fprintf(&st.buf, "event: lost\ndata: {\"after\":%d,\"next\":%d}\n\n", st.last, next)
}

// flush writes what is gathered, giving the client writeTimeout to take
// it.
func (st *stream) flush() error {
	if st.buf.Len() == 0 {
		return nil
	}
	_ = st.rc.SetWriteDeadline(time.Now().Add(st.writeTimeout)) // unsupported only in tests' recorders
	_, err := st.w.Write(st.buf.Bytes())
	st.buf.Reset()
	if err != nil {
		return err
	}
	return st.rc.Flush()
}
