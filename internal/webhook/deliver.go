package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
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

// Run delivers events until ctx ends, following changes of the webhooks
// file. On return every webhook's cursor is stored (as far as the journal
// is still open): cancel ctx and wait for Run before closing the journal.
// Run may be called once.
func (d *Deliverer) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("webhook: Deliverer already ran")
	}
	defer d.stopAll()
	// Make the file's directory (<workdir>/events) if its parent exists,
	// so that a copy from another node finds it: gluster system:: copy
	// file does not make it.
	if err := os.Mkdir(filepath.Dir(d.opts.File), 0o755); err != nil && !errors.Is(err, os.ErrExist) && !errors.Is(err, os.ErrNotExist) {
		d.log.Warn("webhook: cannot make the webhooks file's directory", "err", err)
	}
	w := newFileWatcher(d.opts.File, d.log)
	defer w.close()

	sig, ok := d.reload(ctx)
	poll := time.NewTicker(d.opts.PollInterval)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.changed:
			sig, ok = d.reload(ctx)
		case <-d.reloadCh:
			sig, ok = d.reload(ctx)
		case <-poll.C:
			w.ensure()
			if s := statFile(d.opts.File); !ok || s != sig {
				sig, ok = d.reload(ctx)
			}
		case <-d.nextExpiry():
			d.expireRemoved()
		}
	}
}

// reload reads the file and applies it. It returns the file's signature as
// read, and false if it must be read again at the next poll whether or not
// it changes.
func (d *Deliverer) reload(ctx context.Context) (fileSig, bool) {
	sig := statFile(d.opts.File)
	cfg, found, err := load(d.opts.File)
	if err != nil {
		d.found = false
		d.mu.Lock()
		repeated := d.cfgErr != nil && d.cfgErr.Error() == err.Error()
		d.cfgErr, d.cfgErrAt = err, time.Now()
		d.mu.Unlock()
		if !repeated {
			d.log.Error("webhook: cannot use the webhooks file; keeping the previous webhooks", "file", d.opts.File, "err", err)
		}
		return sig, true
	}
	d.mu.Lock()
	hadErr := d.cfgErr != nil
	d.cfgErr, d.cfgErrAt = nil, time.Time{}
	d.mu.Unlock()
	if hadErr {
		d.log.Info("webhook: webhooks file is usable again", "file", d.opts.File)
	}
	if !found && d.found {
		d.log.Warn("webhook: the webhooks file is missing; delivering to no webhook, keeping every delivery position", "file", d.opts.File)
	}
	d.found = found
	if err := d.apply(ctx, cfg); err != nil {
		d.log.Error("webhook: applying the webhooks file; trying again later", "err", err)
		return sig, false
	}
	return sig, true
}

// apply starts, updates and stops workers to match cfg.
func (d *Deliverer) apply(ctx context.Context, cfg *Config) error {
	cursors, err := d.j.Cursors()
	if err != nil {
		return fmt.Errorf("reading cursors: %w", err)
	}
	configs := make(map[string]*workerConfig, len(cfg.Webhooks))
	invalid := make(map[string]Invalid, len(cfg.Invalid))
	for _, iv := range cfg.Invalid {
		invalid[iv.URL] = iv
	}
	for _, w := range cfg.Webhooks {
		if w.Delivery == DeliveryCluster && d.opts.ClusterDelivery {
			continue // the cluster stream's consumer delivers it
		}
		wc, err := d.newWorkerConfig(w)
		if err != nil {
			invalid[w.URL] = Invalid{URL: w.URL, Err: err}
			continue
		}
		configs[w.URL] = wc
	}

	d.mu.Lock()
	var stop []*worker
	for u, wk := range d.workers {
		if _, ok := configs[u]; !ok {
			stop = append(stop, wk)
			delete(d.workers, u)
		}
	}
	oldInvalid := d.invalid
	d.invalid = invalid
	d.mu.Unlock()

	for _, wk := range stop {
		wk.stop()
	}
	for u, iv := range invalid {
		if old, ok := oldInvalid[u]; !ok || old.Err.Error() != iv.Err.Error() {
			d.log.Error("webhook: not delivering to this webhook until its settings are fixed", "webhook", redactURL(u), "err", iv.Err)
		}
	}
	d.noteRemoved(cursors, func(u string) bool {
		_, ok := configs[u]
		_, bad := invalid[u]
		return ok || bad
	})
	d.expireRemoved()

	for _, u := range slices.Sorted(maps.Keys(configs)) {
		wc := configs[u]
		d.mu.Lock()
		wk := d.workers[u]
		d.mu.Unlock()
		if wk != nil {
			wk.update(wc)
			continue
		}
		name := CursorName(u)
		start, ok := cursors[name]
		if ok {
			d.log.Debug("webhook: resuming where it stopped", "webhook", redactURL(u), "after_seq", start)
		} else {
			start = d.j.LastSeq()
			if err := d.j.SetCursor(name, start); err != nil {
				return fmt.Errorf("storing the cursor of new webhook %s: %w", redactURL(u), err)
			}
			d.log.Info("webhook: new; delivering the events after the journal's last one", "webhook", redactURL(u), "after_seq", start)
		}
		wk = d.newWorker(u, wc, start)
		d.mu.Lock()
		d.workers[u] = wk
		d.mu.Unlock()
		wk.start(ctx)
	}
	return nil
}

// noteRemoved starts the grace period of the cursors of webhooks that are
// no longer configured (also of those removed while the daemon was not
// running), and ends it for those configured again. A missing file
// removes nothing: it may be absent for a moment (an editor's replace, a
// wrong working directory), and positions are kept until a file that was
// read says a webhook is gone.
func (d *Deliverer) noteRemoved(cursors map[string]uint64, configured func(u string) bool) {
	for name := range cursors {
		u, ok := strings.CutPrefix(name, CursorPrefix)
		if !ok {
			continue
		}
		_, pending := d.removed[name]
		switch {
		case configured(u):
			if pending {
				delete(d.removed, name)
				d.log.Info("webhook: added again; resuming where it stopped", "webhook", redactURL(u), "after_seq", cursors[name])
			}
		case d.found && !pending:
			d.removed[name] = time.Now().Add(d.opts.RemovedGrace)
			d.log.Info("webhook: removed; its delivery position is kept in case it is added again", "webhook", redactURL(u), "for", d.opts.RemovedGrace)
		}
	}
}

// expireRemoved deletes the cursors of removed webhooks whose grace period
// is over, as long as the file was last read successfully.
func (d *Deliverer) expireRemoved() {
	if !d.found {
		return
	}
	now := time.Now()
	for name, at := range d.removed {
		if now.Before(at) {
			continue
		}
		u := strings.TrimPrefix(name, CursorPrefix)
		if err := d.j.DeleteCursor(name); err != nil {
			d.log.Error("webhook: deleting the delivery position of a removed webhook; trying again later", "webhook", redactURL(u), "err", err)
			d.removed[name] = now.Add(d.opts.PollInterval)
			continue
		}
		delete(d.removed, name)
		d.log.Info("webhook: removed; its delivery position is deleted", "webhook", redactURL(u))
	}
}

// nextExpiry fires when the next grace period of a removed webhook ends;
// it is nil when there is none to wait for.
func (d *Deliverer) nextExpiry() <-chan time.Time {
	if !d.found || len(d.removed) == 0 {
		return nil
	}
	var next time.Time
	for _, at := range d.removed {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return time.After(time.Until(next))
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

// workerConfig is what a worker needs of its webhook.
type workerConfig struct {
	hook    Webhook
	client  *http.Client
	timeout time.Duration
	match   matcher
}

func (d *Deliverer) newWorkerConfig(w Webhook) (*workerConfig, error) {
	c, err := newClient(&w)
	if err != nil {
		return nil, err
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = d.opts.Timeout
	}
	return &workerConfig{hook: w, client: c, timeout: timeout, match: newMatcher(&w)}, nil
}

// newClient returns the HTTP client of one webhook: its own connections,
// no redirects, certificates verified unless NoVerify.
func newClient(w *Webhook) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2
	var roots *x509.CertPool
	if w.CAFile != "" {
		pem, err := os.ReadFile(w.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: ca_file: %v", ErrInvalid, err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: ca_file %s holds no PEM certificate", ErrInvalid, w.CAFile)
		}
	}
	if strings.HasPrefix(strings.ToLower(w.URL), "https:") {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, InsecureSkipVerify: w.NoVerify}
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// matcher applies a webhook's filters.
type matcher struct {
	names    map[string]bool
	prefixes []string
	all      bool // "*"
	volumes  map[string]bool
	sources  map[string]bool
}

func newMatcher(w *Webhook) matcher {
	m := matcher{}
	if len(w.Events) > 0 {
		m.names = map[string]bool{}
		for _, e := range w.Events {
			e = strings.ToUpper(e)
			if p, ok := strings.CutSuffix(e, "*"); ok {
				m.all = m.all || p == ""
				m.prefixes = append(m.prefixes, p)
			} else {
				m.names[e] = true
			}
		}
	}
	if len(w.Volumes) > 0 {
		m.volumes = map[string]bool{}
		for _, v := range w.Volumes {
			m.volumes[v] = true
		}
	}
	// Without a sources filter a webhook gets glustereventsd's stream, the
	// native events, and nothing twice: state-change events share names
	// with native ones (VOLUME_START, ...). "diff" is opt-in.
	m.sources = map[string]bool{SourceNative: true}
	if len(w.Sources) > 0 {
		m.sources = map[string]bool{}
		for _, s := range w.Sources {
			m.sources[s] = true
		}
	}
	return m
}

func (m *matcher) match(ev *journal.Event) bool {
	if m.sources != nil && !m.sources[ev.Source] {
		return false
	}
	if m.names != nil && !m.all {
		name := strings.ToUpper(ev.Name)
		ok := m.names[name]
		for _, p := range m.prefixes {
			ok = ok || strings.HasPrefix(name, p)
		}
		if !ok {
			return false
		}
	}
	if m.volumes != nil {
		v := eventVolume(ev)
		return v != "" && m.volumes[v]
	}
	return true
}

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
		evs, err := j.Range(cur, opts.PageSize)
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
		for i := range evs {
			ev := &evs[i]
			wc := w.cfg.Load()
			if wc.match.match(ev) && !w.deliver(ctx, ev) {
				return
			}
			cur = ev.Seq
			w.setCursor(cur)
			save(false)
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

// send POSTs p once.
func send(ctx context.Context, wc *workerConfig, p *post) result {
	ctx, cancel := context.WithTimeout(ctx, wc.timeout)
	defer cancel()
	status, snippet, header, auth, err := do(ctx, wc, p)
	if err != nil {
		desc := describe(err, ctx, wc.timeout)
		if errors.Is(err, errRequest) {
			return result{outcome: failed, desc: scrub(desc, &wc.hook, auth)}
		}
		return result{outcome: retry, desc: scrub(desc, &wc.hook, auth)}
	}
	desc := "HTTP " + strconv.Itoa(status)
	if t := http.StatusText(status); t != "" {
		desc += " " + t
	}
	if loc := header.Get("Location"); status >= 300 && status < 400 && loc != "" {
		desc += " to " + redactURL(loc) + " (redirects are not followed; configure the final URL)"
	}
	if snippet != "" {
		desc += ": " + snippet
	}
	desc = scrub(desc, &wc.hook, auth)
	switch {
	case status >= 200 && status < 300:
		return result{outcome: delivered}
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return result{outcome: retry, desc: desc, retryAfter: retryAfter(header.Get("Retry-After"), time.Now())}
	}
	return result{outcome: failed, desc: desc}
}

var errRequest = errors.New("cannot build the request")

// do performs one POST and returns the status, the start of the response
// body made printable, the response header and the Authorization sent.
func do(ctx context.Context, wc *workerConfig, p *post) (int, string, http.Header, string, error) {
	req, auth, err := newRequest(ctx, &wc.hook, p, time.Now())
	if err != nil {
		return 0, "", nil, "", fmt.Errorf("%w: %v", errRequest, err)
	}
	resp, err := wc.client.Do(req)
	if err != nil {
		return 0, "", nil, auth, err
	}
	defer resp.Body.Close()
	head := make([]byte, 256)
	n, _ := io.ReadFull(resp.Body, head)
	// Read a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, printable(head[:n], 200), resp.Header, auth, nil
}

// describe says what a failed request ran into, without the URL (which
// may carry a password).
func describe(err error, ctx context.Context, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no response within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) {
		msg += " (certificate not trusted: set ca_file, or no_verify to skip verification)"
	}
	return msg
}

// scrub removes the webhook's credentials from a message.
func scrub(s string, w *Webhook, auth string) string {
	for _, c := range []string{auth, strings.TrimPrefix(auth, "Bearer "), w.Token, w.Secret} {
		if c != "" {
			s = strings.ReplaceAll(s, c, "[redacted]")
		}
	}
	if u, err := url.Parse(w.URL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			s = strings.ReplaceAll(s, p, "[redacted]")
		}
	}
	return s
}

// printable returns up to max bytes of b as one line of printable ASCII.
func printable(b []byte, max int) string {
	var sb strings.Builder
	space := false
	for _, c := range b {
		if sb.Len() >= max {
			sb.WriteString("...")
			break
		}
		if c <= ' ' || c > '~' {
			space = sb.Len() > 0
			continue
		}
		if space {
			sb.WriteByte(' ')
			space = false
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
