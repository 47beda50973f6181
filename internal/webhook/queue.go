package webhook

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
)

// worker delivers to one webhook.
type worker struct {
	d      *Deliverer
	url    string
	cursor string // journal cursor name
	log    *slog.Logger
	cfg    atomic.Pointer[workerConfig]
	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	start0 uint64

	mu sync.Mutex
	st WebhookStatus
	// retry logging
	failingSince time.Time
	lastWarn     time.Time
}

func (d *Deliverer) newWorker(u string, wc *workerConfig, start uint64) *worker {
	w := &worker{
		d:      d,
		url:    u,
		cursor: CursorName(u),
		log:    d.log.With("webhook", redactURL(u)),
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		start0: start,
	}
	w.cfg.Store(wc)
	w.st = WebhookStatus{URL: redactURL(u), State: StateOK, Cursor: start}
	if wc.hook.NoVerify {
		w.log.Warn("webhook: certificate verification is off for this webhook (no_verify)")
	}
	return w
}

func (w *worker) start(ctx context.Context) {
	ctx, w.cancel = context.WithCancel(ctx)
	go w.run(ctx, w.start0)
}

func (w *worker) stop() {
	w.cancel()
	<-w.done
}

// update switches to new settings; a retry waiting for its delay is tried
// again at once.
func (w *worker) update(wc *workerConfig) {
	old := w.cfg.Load()
	if reflect.DeepEqual(old.hook, wc.hook) && old.timeout == wc.timeout {
		wc.client.CloseIdleConnections()
		return
	}
	w.cfg.Store(wc)
	old.client.CloseIdleConnections()
	if wc.hook.NoVerify && !old.hook.NoVerify {
		w.log.Warn("webhook: certificate verification is off for this webhook (no_verify)")
	}
	w.log.Info("webhook: settings changed")
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *worker) status() WebhookStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}

// run delivers from start on until ctx ends.
func (w *worker) run(ctx context.Context, start uint64) {
	defer close(w.done)
	j, opts := w.d.j, &w.d.opts
	cur, saved, savedAt := start, start, time.Now()
	save := func(force bool) {
		if cur == saved || (!force && cur-saved < uint64(opts.CursorEvery) && time.Since(savedAt) < opts.CursorInterval) {
			return
		}
		if err := j.SetCursor(w.cursor, cur); err != nil {
			if !errors.Is(err, journal.ErrClosed) {
				w.log.Error("webhook: storing the delivery position", "seq", cur, "err", err)
			}
			return
		}
		saved, savedAt = cur, time.Now()
	}
	defer save(true)

	readFailures := 0
	for ctx.Err() == nil {
		evs, err := j.Range(cur, max(opts.PageSize, w.cfg.Load().hook.Batch))
		if err != nil {
			if errors.Is(err, journal.ErrClosed) {
				return
			}
			readFailures++
			w.log.Error("webhook: reading the journal", "after_seq", cur, "err", err)
			if !sleep(ctx, w.backoff(readFailures), nil) {
				return
			}
			continue
		}
		readFailures = 0
		if len(evs) == 0 {
			save(true)
			if last := j.LastSeq(); last > cur {
				// Events after cur exist, or existed: retention may have
				// removed them all.
				if more, err := j.Range(cur, 1); err == nil && len(more) == 0 {
					w.lost(last - cur)
					cur = last
					w.setCursor(cur)
				}
				continue
			}
			if err := j.Wait(ctx, cur); err != nil {
				return
			}
			continue
		}
		if gap := evs[0].Seq - cur - 1; gap > 0 {
			w.lost(gap)
		}
		for len(evs) > 0 {
			// The next POST: the events up to the next one the filters
			// select (one event per POST), or up to the batch size's worth
			// of selected ones.
			wc := w.cfg.Load()
			size := max(wc.hook.Batch, 1)
			send := make([]*journal.Event, 0, size)
			n := 0
			for n < len(evs) && len(send) < size {
				if wc.match.match(&evs[n]) {
					send = append(send, &evs[n])
				}
				n++
			}
			if len(send) > 0 {
				switch w.deliver(ctx, send) {
				case stopped:
					return
				case regroup:
					continue
				}
			}
			cur = evs[n-1].Seq
			w.setCursor(cur)
			save(false)
			evs = evs[n:]
		}
	}
}

func (w *worker) setCursor(seq uint64) {
	w.mu.Lock()
	w.st.Cursor = seq
	w.mu.Unlock()
}

func (w *worker) lost(n uint64) {
	w.mu.Lock()
	w.st.Lost += n
	w.mu.Unlock()
	w.log.Warn("webhook: events were removed by journal retention before they could be delivered", "events", n)
}
