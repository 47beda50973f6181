package webhook

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
)

// outcome of one POST.
type outcome int

const (
	delivered outcome = iota
	retry
	failed
)

type result struct {
	outcome    outcome
	desc       string // what went wrong, free of credentials
	retryAfter time.Duration
}

// deliver sends one event until it is accepted or refused for good. It
// returns false if ctx ended first.
func (w *worker) deliver(ctx context.Context, ev *journal.Event) bool {
	p := postOf(*ev)
	for attempt := 1; ; attempt++ {
		wc := w.cfg.Load()
		res := send(ctx, wc, &p)
		if ctx.Err() != nil {
			return false
		}
		switch res.outcome {
		case delivered:
			w.delivered(attempt)
			return true
		case failed:
			w.failed(ev, res.desc)
			return true
		}
		wait := w.backoff(attempt)
		if res.retryAfter > 0 {
			wait = min(res.retryAfter, w.d.opts.MaxRetryAfter)
		}
		w.retrying(ev, res.desc, attempt, wait)
		if !sleep(ctx, wait, w.kick) {
			return false
		}
	}
}

// backoff is the delay before retry number attempt: exponential, capped,
// with the upper half jittered.
func (w *worker) backoff(attempt int) time.Duration {
	o := &w.d.opts
	d := o.MinBackoff
	for i := 1; i < attempt && d < o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// sleep waits for d, ctx or wake; it returns false if ctx ended.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}

func (w *worker) delivered(attempts int) {
	w.mu.Lock()
	w.st.Delivered++
	w.st.State = StateOK
	since := w.failingSince
	w.failingSince = time.Time{}
	w.mu.Unlock()
	if attempts > 1 {
		w.log.Info("webhook: delivering again", "attempts", attempts, "after", time.Since(since).Round(time.Millisecond))
	}
}

func (w *worker) failed(ev *journal.Event, desc string) {
	now := time.Now()
	w.mu.Lock()
	w.st.Failed++
	w.st.State = StateOK
	w.st.LastError = fmt.Sprintf("event %d (%s): %s", ev.Seq, ev.Name, desc)
	w.st.LastErrorTime = now
	w.failingSince = time.Time{}
	w.mu.Unlock()
	w.log.Warn("webhook: receiver refused the event; skipping it", "seq", ev.Seq, "event", ev.Name, "err", desc)
}

// warnEvery spaces out the warnings about one failing webhook.
const warnEvery = time.Minute

func (w *worker) retrying(ev *journal.Event, desc string, attempt int, wait time.Duration) {
	now := time.Now()
	w.mu.Lock()
	w.st.State = StateRetrying
	w.st.LastError = fmt.Sprintf("event %d (%s): %s", ev.Seq, ev.Name, desc)
	w.st.LastErrorTime = now
	if w.failingSince.IsZero() {
		w.failingSince = now
	}
	warn := attempt == 1 || now.Sub(w.lastWarn) >= warnEvery
	if warn {
		w.lastWarn = now
	}
	w.mu.Unlock()
	if warn {
		w.log.Warn("webhook: delivery failed; retrying", "seq", ev.Seq, "event", ev.Name, "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", desc)
	} else {
		w.log.Debug("webhook: delivery failed; retrying", "seq", ev.Seq, "event", ev.Name, "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", desc)
	}
}
