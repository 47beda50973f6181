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
// retries until it can: nothing accepted is dropped.
//
// Neither way in ever waits. Offer, for native events, refuses events while
// the queue holds its capacity, and counts them. Put, for state changes,
// always queues: it is called under the state model's lock, so waiting
// there for the journal would stall the model, and state changes come only
// as fast as the cluster is read, so they cannot grow without bound.
type Writer struct {
	j        *journal.Journal
	log      *slog.Logger
	capacity int
	refused  atomic.Uint64
	accepted atomic.Uint64 // by Offer
	// Written to the journal: all events, and those that came by Offer.
	journaled, journaledNative atomic.Uint64
	late                       atomic.Uint64 // Put after Run ended

	mu    sync.Mutex
	queue []journal.Event // queue[head:] waits, in arrival order
	head  int
	ended bool          // Run has returned: nothing more is written
	wake  chan struct{} // holds one token while the queue may be non-empty

	errMu      sync.Mutex
	err        error         // the journal's last write error, nil while writing works
	errChanged chan struct{} // holds one token while onError has not seen err
	onError    func(error)
}

// NewWriter returns a Writer whose Offer accepts events while fewer than
// capacity wait. onError, if set, is told when writing starts failing (err)
// and works again (nil). It runs on a goroutine of its own, never on the
// write loop, so it may take locks held by callers of Put; when the state
// changes faster than it returns, it sees only the latest.
func NewWriter(j *journal.Journal, capacity int, log *slog.Logger, onError func(error)) *Writer {
	return &Writer{j: j, log: log, capacity: capacity, onError: onError,
		wake: make(chan struct{}, 1), errChanged: make(chan struct{}, 1)}
}

// Offer queues an event without waiting; false means the queue was full and
// the event was refused (counted in Refused).
func (w *Writer) Offer(ev journal.Event) bool {
	w.mu.Lock()
	if w.ended || len(w.queue)-w.head >= w.capacity {
		w.mu.Unlock()
		w.refused.Add(1)
		return false
	}
	w.queue = append(w.queue, ev)
	w.accepted.Add(1)
	w.mu.Unlock()
	w.signal()
	return true
}

// Put queues events whatever the queue holds; it never waits and never
// refuses, but once Run has returned the events are only counted (Counts'
// Late): the daemon stops what makes them before it stops the writer.
func (w *Writer) Put(evs ...journal.Event) {
	if len(evs) == 0 {
		return
	}
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		w.late.Add(uint64(len(evs)))
		return
	}
	w.queue = append(w.queue, evs...)
	w.mu.Unlock()
	w.signal()
}

// Counts are a Writer's totals.
type Counts struct {
	Accepted        uint64 // events Offer took
	Refused         uint64 // events Offer refused
	Journaled       uint64 // events written to the journal
	JournaledNative uint64 // of which native events
	Late            uint64 // events Put after Run ended, not written
}

// Counts returns the totals so far; once Run has returned, every event
// accepted is either journaled or was reported lost by Run.
func (w *Writer) Counts() Counts {
	return Counts{Accepted: w.accepted.Load(), Refused: w.refused.Load(), Journaled: w.journaled.Load(),
		JournaledNative: w.journaledNative.Load(), Late: w.late.Load()}
}

func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Refused counts the events Offer refused.
func (w *Writer) Refused() uint64 { return w.refused.Load() }

// Queued is the number of events waiting to be written.
func (w *Writer) Queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue) - w.head
}

// Err is the journal's last write error, nil while writing works.
func (w *Writer) Err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// Run writes queued events until ctx ends, then writes what is still
// queued (for at most flushTimeout) and refuses more.
func (w *Writer) Run(ctx context.Context) {
	const flushTimeout = 10 * time.Second
	reported := make(chan struct{})
	stopReporting := make(chan struct{})
	go w.reportErrors(stopReporting, reported)
	defer func() { close(stopReporting); <-reported }()
	defer func() {
		w.mu.Lock()
		w.ended = true
		w.mu.Unlock()
	}()
	batch := make([]journal.Event, 0, maxBatch)
	for {
		select {
		case <-w.wake:
			for batch = w.take(batch[:0]); len(batch) > 0; batch = w.take(batch[:0]) {
				if !w.write(ctx, batch) {
					w.flush(batch, flushTimeout)
					return
				}
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
		pending = w.take(pending)
		if len(pending) == 0 {
			return
		}
		if !w.write(ctx, pending) {
			w.log.Error("events not journaled at shutdown", "count", len(pending)+w.Queued())
			return
		}
		pending = pending[:0]
	}
}

// take moves waiting events to batch, up to maxBatch, oldest first.
func (w *Writer) take(batch []journal.Event) []journal.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(maxBatch-len(batch), len(w.queue)-w.head)
	if n <= 0 {
		return batch
	}
	batch = append(batch, w.queue[w.head:w.head+n]...)
	clear(w.queue[w.head : w.head+n])
	w.head += n
	switch {
	case w.head == len(w.queue):
		w.queue, w.head = w.queue[:0], 0
	case w.head > len(w.queue)/2: // keep the dead front from growing the array
		live := copy(w.queue, w.queue[w.head:])
		clear(w.queue[live:])
		w.queue, w.head = w.queue[:live], 0
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
			w.count(batch)
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

// count adds a written batch to the counts.
func (w *Writer) count(batch []journal.Event) {
	var native uint64
	for i := range batch {
		if batch[i].Source == SourceNative {
			native++
		}
	}
	w.journaled.Add(uint64(len(batch)))
	w.journaledNative.Add(native)
}

// setErr records the write outcome and, when it turns from working to
// failing or back, tells the reporter; it never waits for onError.
func (w *Writer) setErr(err error) {
	w.errMu.Lock()
	was := w.err
	w.err = err
	w.errMu.Unlock()
	switch {
	case err != nil && was == nil:
		w.log.Error("cannot write the event journal; holding events until it works again", "err", err)
	case err == nil && was != nil:
		w.log.Info("event journal writable again")
	default:
		return
	}
	select {
	case w.errChanged <- struct{}{}:
	default: // the reporter has a token already and will read the latest
	}
}

// reportErrors calls onError with the latest write outcome each time it
// changes, until stop is closed; then it reports a change still pending.
func (w *Writer) reportErrors(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	if w.onError == nil {
		return
	}
	for {
		select {
		case <-w.errChanged:
			w.onError(w.Err())
		case <-stop:
			select {
			case <-w.errChanged:
				w.onError(w.Err())
			default:
			}
			return
		}
	}
}

// Recorder is a state.Sink that journals the events the model's changes
// mean.
type Recorder struct {
	w      *Writer
	node   atomic.Value // string: this node's UUID
	pathOf func(state.Ref) string
	// versions, if set, adds the volume's version to configuration events.
	versions atomic.Pointer[volumeVersions]
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
	evs := FromChanges(changes, r.node.Load().(string), r.pathOf)
	if vv := r.versions.Load(); vv != nil {
		vv.annotate(evs)
	}
	r.w.Put(evs...)
}

// Publish calls emit for every event journaled after sequence after, in
// sequence order, until ctx ends; then for those journaled by then, so that
// a daemon stopping its journal writer first signals every event. Take
// after (j.LastSeq()) before anything can append, or an event committed in
// between is never published.
func Publish(ctx context.Context, j *journal.Journal, after uint64, emit func(journal.Event)) error {
	last := after
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
		if ctx.Err() != nil {
			return nil // caught up after the end
		}
		if err := j.Wait(ctx, last); err != nil && ctx.Err() == nil {
			return nil // the journal closed
		}
	}
}
