package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
)

// SampleEventName is the name of the sample event SendTest posts; it is also
// the JWT subject gluster-eventsapi webhook-test uses.
const SampleEventName = "TEST"

// SampleEvent is the sample event SendTest posts: a complete event body like
// every other, so that the receiver's parsing is tested too.
func SampleEvent(nodeID string, now time.Time) journal.Event {
	return journal.Event{
		Time:   now,
		Node:   nodeID,
		Name:   SampleEventName,
		Source: "test",
		Fields: []journal.Field{{Key: "message", Value: "webhook test from glusterbus"}},
	}
}

// SendTest posts the sample event to a configured webhook, with its token
// or secret and TLS settings but regardless of its filters, and returns the
// HTTP status. An error means no response (or ErrNotFound: not
// configured); any status is returned as is, 2xx meaning success.
func (d *Deliverer) SendTest(ctx context.Context, u string) (int, error) {
	d.mu.Lock()
	wk := d.workers[u]
	d.mu.Unlock()
	if wk == nil {
		cfg, err := Load(d.opts.File)
		if err != nil {
			return 0, err
		}
		w, ok := cfg.Find(u)
		if !ok {
			return 0, fmt.Errorf("%w: %s", ErrNotFound, redactURL(u))
		}
		return d.test(ctx, w)
	}
	return d.test(ctx, wk.cfg.Load().hook)
}

func (d *Deliverer) test(ctx context.Context, w Webhook) (int, error) {
	node := ""
	if d.opts.NodeID != nil {
		node = d.opts.NodeID()
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = d.opts.Timeout
	}
	return Test(ctx, w, node, timeout)
}

// Test posts the sample event to w (gluster-eventsapi webhook-test, for a
// URL that need not be configured), as an array of one if w batches, and
// returns the HTTP status; see SendTest.
func Test(ctx context.Context, w Webhook, nodeID string, timeout time.Duration) (int, error) {
	if err := validate(&w); err != nil {
		return 0, err
	}
	c, err := newClient(&w)
	if err != nil {
		return 0, err
	}
	defer c.CloseIdleConnections()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	wc := &workerConfig{hook: w, client: c, timeout: timeout}
	ev := SampleEvent(nodeID, time.Now())
	p := postOf(ev)
	if w.Batch > 0 {
		// A receiver that takes batches gets the sample as one.
		p = batchPostOf([]*journal.Event{&ev})
		p.seqs = nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	status, _, _, auth, err := do(ctx, wc, &p)
	if err != nil {
		return 0, errors.New(scrub(describe(err, ctx, timeout), &w, auth))
	}
	return status, nil
}
