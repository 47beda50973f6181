package webhook

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

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
