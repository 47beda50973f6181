package webhook

import (
	"context"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
)

// Outcomes of Sender.Send.
const (
	Delivered = "delivered" // accepted (2xx)
	Retry     = "retry"     // worth trying again (network error, 408, 429, 5xx)
	Failed    = "failed"    // refused for good
)

// Sender posts events to one webhook exactly as the local delivery does
// (glustereventsd's body and headers, the webhook's filters and TLS
// settings), for a delivery driven from elsewhere: the cluster stream.
type Sender struct {
	wc *workerConfig
}

// NewSender checks w and returns its Sender; timeout applies when w sets
// none (0: DefaultTimeout).
func NewSender(w Webhook, timeout time.Duration) (*Sender, error) {
	if err := validate(&w); err != nil {
		return nil, err
	}
	c, err := newClient(&w)
	if err != nil {
		return nil, err
	}
	if w.Timeout > 0 {
		timeout = w.Timeout
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Sender{wc: &workerConfig{hook: w, client: c, timeout: timeout, match: newMatcher(&w)}}, nil
}

// Webhook is the sender's webhook.
func (s *Sender) Webhook() Webhook { return s.wc.hook }

// Timeout is the bound of one Send.
func (s *Sender) Timeout() time.Duration { return s.wc.timeout }

// Match tells whether the webhook's filters take ev.
func (s *Sender) Match(ev *journal.Event) bool { return s.wc.match.match(ev) }

// Send posts ev once and says how it went: Delivered, Retry (with the wait
// the receiver asked for, if any) or Failed, with a description free of
// credentials.
func (s *Sender) Send(ctx context.Context, ev journal.Event) (outcome string, retryAfter time.Duration, desc string) {
	p := postOf(ev)
	res := send(ctx, s.wc, &p)
	switch res.outcome {
	case delivered:
		return Delivered, 0, ""
	case retry:
		return Retry, res.retryAfter, res.desc
	}
	return Failed, 0, res.desc
}

// Close releases the sender's idle connections.
func (s *Sender) Close() { s.wc.client.CloseIdleConnections() }
