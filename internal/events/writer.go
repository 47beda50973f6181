package events

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/state"
)

// maxBatch bounds one journal append.
const maxBatch = 4096

// Writer appends events to the journal in arrival order, as many per
// commit as are waiting, so a flood costs one fsync per batch, not per
// event. When the journal cannot write (disk full), it keeps the batch and
// retries until it can: nothing accepted is dropped. Only Offer, for native
// events, refuses events when the queue is full, and counts them.
type Writer struct {
	j       *journal.Journal
	log     *slog.Logger
	queue   chan journal.Event
	refused atomic.Uint64
	mu      sync.Mutex
	err     error // the journal's last write error, nil while writing works
	onError func(error)
}

// NewWriter returns a Writer with a queue of the given capacity. onError,
// if set, is told when writing starts failing (err) and works again (nil).
func NewWriter(j *journal.Journal, capacity int, log *slog.Logger, onError func(error)) *Writer {
	return &Writer{j: j, log: log, queue: make(chan journal.Event, capacity), onError: onError}
}

// Offer queues an event without waiting; false means the queue was full and
// the event was refused (counted in Refused).
func (w *Writer) Offer(ev journal.Event) bool {
	select {
	case w.queue <- ev:
		return true
	default:
		w.refused.Add(1)
		return false
	}
}

// Put queues events, waiting for room.
func (w *Writer) Put(evs ...journal.Event) {
	for _, ev := range evs {
		w.queue <- ev
	}
}

// Refused counts the events Offer refused.
func (w *Writer) Refused() uint64 { return w.refused.Load() }

// Err is the journal's last write error, nil while writing works.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Run writes queued events until ctx ends, then writes what is still
// queued (for at most flushTimeout).
func (w *Writer) Run(ctx context.Context) {
	const flushTimeout = 10 * time.Second
	batch := make([]journal.Event, 0, maxBatch)
	for {
		select {
		case ev := <-w.queue:
			batch = w.fill(append(batch[:0], ev))
			if !w.write(ctx, batch) {
				w.flush(batch, flushTimeout)
				return
			}
		case <-ctx.Done():
			w.flush(batch[:0], flushTimeout)
			return
		}
	}
}

// flush writes pending and then everything queued, giving up after timeout.
func (w *Writer) flush(pending []journal.Event, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		pending = w.fill(pending)
		if len(pending) == 0 {
			return
		}
		if !w.write(ctx, pending) {
			w.log.Error("events not journaled at shutdown", "count", len(pending)+len(w.queue))
			return
		}
		pending = pending[:0]
	}
}

// fill adds what is waiting, up to maxBatch.
func (w *Writer) fill(batch []journal.Event) []journal.Event {
	for len(batch) < maxBatch {
		select {
		case ev := <-w.queue:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

// write appends the batch, retrying with backoff while the journal fails,
// and reports whether it was written; it gives up only when ctx ends. The
// append itself is not cut short by ctx: a batch is written whole or not.
func (w *Writer) write(ctx context.Context, batch []journal.Event) bool {
	backoff := 100 * time.Millisecond
	for {
		_, err := w.j.Append(context.WithoutCancel(ctx), batch...)
		if err == nil {
			w.setErr(nil)
			return true
		}
		w.setErr(err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (w *Writer) setErr(err error) {
	w.mu.Lock()
	was := w.err
	w.err = err
	w.mu.Unlock()
	switch {
	case err != nil && was == nil:
		w.log.Error("cannot write the event journal; holding events until it works again", "err", err)
	case err == nil && was != nil:
		w.log.Info("event journal writable again")
	default:
		return
	}
	if w.onError != nil {
		w.onError(err)
	}
}

// Recorder is a state.Sink that journals the events the model's changes
// mean.
type Recorder struct {
	w      *Writer
	node   atomic.Value // string: this node's UUID
	pathOf func(state.Ref) string
}

// NewRecorder returns a Recorder; node is this node's UUID as known now.
func NewRecorder(w *Writer, node string, pathOf func(state.Ref) string) *Recorder {
	r := &Recorder{w: w, pathOf: pathOf}
	r.node.Store(node)
	return r
}

// Apply implements state.Sink.
func (r *Recorder) Apply(changes []state.Change) {
	for _, c := range changes {
		if c.Ref.Kind == state.KindGlusterd {
			if v, ok := find(c.Props, "Uuid"); ok && v != "" {
				r.node.Store(v)
			}
		}
	}
	r.w.Put(FromChanges(changes, r.node.Load().(string), r.pathOf)...)
}

// Publish calls emit for every event journaled after the journal's last
// sequence at the time of the call, in sequence order, until ctx ends.
func Publish(ctx context.Context, j *journal.Journal, emit func(journal.Event)) error {
	last := j.LastSeq()
	for {
		evs, err := j.Range(last, 1000)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			emit(ev)
			last = ev.Seq
		}
		if len(evs) > 0 {
			continue
		}
		if err := j.Wait(ctx, last); err != nil {
			return nil // ctx ended or the journal closed
		}
	}
}
