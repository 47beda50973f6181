package webhook

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
)

// CursorPrefix starts the journal cursor names of webhooks:
// "webhook:<url>".
const CursorPrefix = "webhook:"

// CursorName is the journal cursor of the webhook with the given URL.
func CursorName(u string) string { return CursorPrefix + u }

// Defaults of Options.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = time.Minute
	DefaultMaxRetryAfter  = 10 * time.Minute
	DefaultPageSize       = 100
	DefaultCursorEvery    = 100
	DefaultCursorInterval = time.Second
	DefaultPollInterval   = 10 * time.Second
	DefaultRemovedGrace   = 10 * time.Minute
)

// Webhook states in WebhookStatus.
const (
	StateOK       = "ok"       // delivering, or caught up
	StateRetrying = "retrying" // the current event failed and will be retried
	StateInvalid  = "invalid"  // unusable settings: paused, cursor kept
)

// Options configure a Deliverer. Journal and File are required.
type Options struct {
	Journal *journal.Journal
	File    string // the webhooks file, e.g. /var/lib/glusterd/events/webhooks.json

	// NodeID gives the node UUID for SendTest's sample event (events carry
	// their own). Nil or "" writes null.
	NodeID func() string
	Logger *slog.Logger // nil: slog.Default()

	Timeout time.Duration // per POST, unless the webhook sets one; default 10s
	// ClusterDelivery leaves webhooks whose Delivery is DeliveryCluster to
	// the cluster stream (see Sender); without it they are delivered here.
	ClusterDelivery bool
	MinBackoff      time.Duration // first retry delay; default 1s
	MaxBackoff      time.Duration // retry delay cap; default 1m
	MaxRetryAfter   time.Duration // cap on a receiver's Retry-After; default 10m

	PageSize       int           // events read from the journal at a time; default 100
	CursorEvery    int           // store the cursor after this many events; default 100
	CursorInterval time.Duration // ... or after this long; default 1s
	PollInterval   time.Duration // re-check the file this often besides watching it; default 10s

	// RemovedGrace is how long the delivery position of a webhook removed
	// from the file is kept, so that one removed and added again (as
	// gluster-eventsapi webhook-del then webhook-add do) resumes where it
	// stopped; default 10m.
	RemovedGrace time.Duration
}

// WebhookStatus is a webhook's delivery state. Counters count since the
// Deliverer started.
type WebhookStatus struct {
	URL           string // password, if any, redacted
	State         string // StateOK, StateRetrying, StateInvalid
	Cursor        uint64 // last event handled (delivered, failed or filtered out)
	LastSeq       uint64 // the journal's last event
	Lag           uint64 // LastSeq - Cursor
	Delivered     uint64 // events accepted by the receiver (2xx)
	Failed        uint64 // events the receiver refused for good (3xx, 4xx but 408, 429)
	Lost          uint64 // events removed by journal retention before they were sent
	LastError     string
	LastErrorTime time.Time
}

// Deliverer sends journaled events to the configured webhooks.
type Deliverer struct {
	opts Options
	j    *journal.Journal
	log  *slog.Logger

	reloadCh chan struct{}
	running  atomic.Bool

	mu       sync.Mutex
	workers  map[string]*worker
	invalid  map[string]Invalid
	cfgErr   error
	cfgErrAt time.Time

	// Run's own: the cursors of webhooks removed from the file, with when
	// they may be deleted, and whether the last reading found the file.
	removed map[string]time.Time
	found   bool
}

// New returns a Deliverer; Run starts it.
func New(opts Options) (*Deliverer, error) {
	if opts.Journal == nil {
		return nil, errors.New("webhook: no journal")
	}
	if opts.File == "" {
		return nil, errors.New("webhook: no webhooks file")
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opts.Timeout, DefaultTimeout)
	def(&opts.MinBackoff, DefaultMinBackoff)
	def(&opts.MaxBackoff, DefaultMaxBackoff)
	def(&opts.MaxRetryAfter, DefaultMaxRetryAfter)
	def(&opts.CursorInterval, DefaultCursorInterval)
	def(&opts.PollInterval, DefaultPollInterval)
	def(&opts.RemovedGrace, DefaultRemovedGrace)
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.CursorEvery <= 0 {
		opts.CursorEvery = DefaultCursorEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Deliverer{
		opts:     opts,
		j:        opts.Journal,
		log:      opts.Logger,
		reloadCh: make(chan struct{}, 1),
		workers:  map[string]*worker{},
		invalid:  map[string]Invalid{},
		removed:  map[string]time.Time{},
	}, nil
}

// Reload makes a running Deliverer re-read the webhooks file now.
func (d *Deliverer) Reload() {
	select {
	case d.reloadCh <- struct{}{}:
	default:
	}
}

// ConfigError returns when and why the Deliverer kept its previous
// configuration at the last reading of the file; a nil error if that
// reading succeeded.
func (d *Deliverer) ConfigError() (time.Time, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfgErrAt, d.cfgErr
}

// Status returns the state of every configured webhook, sorted by URL.
func (d *Deliverer) Status() []WebhookStatus {
	last := d.j.LastSeq()
	d.mu.Lock()
	out := make([]WebhookStatus, 0, len(d.workers)+len(d.invalid))
	for _, w := range d.workers {
		out = append(out, w.status())
	}
	invalid := make([]Invalid, 0, len(d.invalid))
	for _, iv := range d.invalid {
		invalid = append(invalid, iv)
	}
	d.mu.Unlock()
	for _, iv := range invalid {
		cur, _ := d.j.Cursor(CursorName(iv.URL))
		out = append(out, WebhookStatus{URL: redactURL(iv.URL), State: StateInvalid, Cursor: cur, LastError: iv.Err.Error()})
	}
	for i := range out {
		out[i].LastSeq = last
		if last > out[i].Cursor {
			out[i].Lag = last - out[i].Cursor
		}
	}
	slices.SortFunc(out, func(a, b WebhookStatus) int { return strings.Compare(a.URL, b.URL) })
	return out
}

func (d *Deliverer) stopAll() {
	d.mu.Lock()
	ws := make([]*worker, 0, len(d.workers))
	for _, w := range d.workers {
		ws = append(ws, w)
	}
	d.mu.Unlock()
	for _, w := range ws {
		w.cancel()
	}
	for _, w := range ws {
		<-w.done
	}
}
