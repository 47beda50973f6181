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

// What became of the events given to deliver.
type handled int

const (
	sent    handled = iota // accepted or refused for good
	stopped                // ctx ended first
	regroup                // the batch settings changed: group them again
)

// deliver sends one event, or a batch of them in one POST when the webhook
// batches, until the receiver accepts or refuses it for good. A failed POST
// is retried with the same events, unless the webhook's batch setting
// changes meanwhile so that they no longer make one POST.
func (w *worker) deliver(ctx context.Context, evs []*journal.Event) handled {
	batch := w.cfg.Load().hook.Batch
	var p post
	if batch > 0 {
		p = batchPostOf(evs)
	} else {
		p = postOf(*evs[0])
	}
	for attempt := 1; ; attempt++ {
		wc := w.cfg.Load()
		if b := wc.hook.Batch; (b > 0) != (batch > 0) || len(evs) > max(b, 1) {
			return regroup
		}
		res := send(ctx, wc, &p)
		if ctx.Err() != nil {
			return stopped
		}
		switch res.outcome {
		case delivered:
			w.delivered(attempt, len(evs))
			return sent
		case failed:
			w.failed(evs, res.desc)
			return sent
		}
		wait := w.backoff(attempt)
		if res.retryAfter > 0 {
			wait = min(res.retryAfter, w.d.opts.MaxRetryAfter)
		}
		w.retrying(evs, res.desc, attempt, wait)
		if !sleep(ctx, wait, w.kick) {
			return stopped
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

func (w *worker) delivered(attempts, events int) {
	w.mu.Lock()
	w.st.Delivered += uint64(events)
	w.st.State = StateOK
	since := w.failingSince
	w.failingSince = time.Time{}
	w.mu.Unlock()
	if attempts > 1 {
		w.log.Info("webhook: delivering again", "attempts", attempts, "after", time.Since(since).Round(time.Millisecond))
	}
}

func (w *worker) failed(evs []*journal.Event, desc string) {
	now := time.Now()
	w.mu.Lock()
	w.st.Failed += uint64(len(evs))
	w.st.State = StateOK
	w.st.LastError = fmt.Sprintf("%s: %s", describeEvents(evs), desc)
	w.st.LastErrorTime = now
	w.failingSince = time.Time{}
	w.mu.Unlock()
	w.log.Warn("webhook: receiver refused the "+noun(evs)+"; skipping it", append(eventAttrs(evs), "err", desc)...)
}

// warnEvery spaces out the warnings about one failing webhook.
const warnEvery = time.Minute

func (w *worker) retrying(evs []*journal.Event, desc string, attempt int, wait time.Duration) {
	now := time.Now()
	w.mu.Lock()
	w.st.State = StateRetrying
	w.st.LastError = fmt.Sprintf("%s: %s", describeEvents(evs), desc)
	w.st.LastErrorTime = now
	if w.failingSince.IsZero() {
		w.failingSince = now
	}
	warn := attempt == 1 || now.Sub(w.lastWarn) >= warnEvery
	if warn {
		w.lastWarn = now
	}
	w.mu.Unlock()
	args := append(eventAttrs(evs), "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", desc)
	if warn {
		w.log.Warn("webhook: delivery failed; retrying", args...)
	} else {
		w.log.Debug("webhook: delivery failed; retrying", args...)
	}
}

// describeEvents names what one POST carried, for Status.
func describeEvents(evs []*journal.Event) string {
	if len(evs) == 1 {
		return fmt.Sprintf("event %d (%s)", evs[0].Seq, evs[0].Name)
	}
	return fmt.Sprintf("batch of %d events %d..%d", len(evs), evs[0].Seq, evs[len(evs)-1].Seq)
}

// eventAttrs are the log attributes of what one POST carried.
func eventAttrs(evs []*journal.Event) []any {
	if len(evs) == 1 {
		return []any{"seq", evs[0].Seq, "event", evs[0].Name}
	}
	return []any{"first_seq", evs[0].Seq, "last_seq", evs[len(evs)-1].Seq, "events", len(evs)}
}

func noun(evs []*journal.Event) string {
	if len(evs) == 1 {
		return "event"
	}
	return "batch"
}
