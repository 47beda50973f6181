package natsstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/webhook"
)

// HookOptions configure a HookDeliverer.
type HookOptions struct {
	JS      jetstream.JetStream
	Cluster string
	File    string        // gluster-eventsapi's webhooks file
	Timeout time.Duration // per POST unless the webhook sets one; 0: webhook.DefaultTimeout
	// CheckEvery is how often the file is read again; 0 means 2 s.
	CheckEvery time.Duration
	Logger     *slog.Logger
}

// HookDeliverer delivers the cluster stream to the webhooks whose
// "delivery" is "cluster": one durable JetStream consumer per webhook,
// shared by every daemon of the pool, with one event in flight at a time,
// so the pool posts each event once, in the stream's order, from whichever
// daemon takes it; a daemon that dies with an event unacknowledged has it
// redelivered to another after the consumer's ack wait.
type HookDeliverer struct {
	opts HookOptions
	log  *slog.Logger
}

// NewHookDeliverer returns a HookDeliverer.
func NewHookDeliverer(opts HookOptions) *HookDeliverer {
	if opts.CheckEvery <= 0 {
		opts.CheckEvery = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &HookDeliverer{opts: opts, log: opts.Logger}
}

// ConsumerName is the durable consumer of a cluster webhook.
func ConsumerName(cluster, url string) string {
	h := sha256.Sum256([]byte(cluster + "\x00" + url))
	return "glusterbus-hook-" + hex.EncodeToString(h[:12])
}

type hookRun struct {
	hook   webhook.Webhook
	cancel context.CancelFunc
	done   chan struct{}
}

// Run follows the webhooks file and delivers until ctx ends.
func (h *HookDeliverer) Run(ctx context.Context) {
	running := map[string]*hookRun{}
	defer func() {
		for _, r := range running {
			r.cancel()
			<-r.done
		}
	}()
	var lastErr string
	for {
		cfg, err := webhook.Load(h.opts.File)
		if err != nil {
			if err.Error() != lastErr {
				h.log.Error("webhook: cannot read the webhooks file; cluster delivery keeps its webhooks", "err", err)
			}
			lastErr = err.Error()
		} else {
			lastErr = ""
			want := map[string]webhook.Webhook{}
			for _, w := range cfg.Webhooks {
				if w.Delivery == webhook.DeliveryCluster {
					want[w.URL] = w
				}
			}
			for _, u := range slices.Sorted(maps.Keys(running)) {
				if w, ok := want[u]; !ok || !reflect.DeepEqual(w, running[u].hook) {
					running[u].cancel()
					<-running[u].done
					delete(running, u)
				}
			}
			for u, w := range want {
				if running[u] == nil {
					running[u] = h.start(ctx, w)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.opts.CheckEvery):
		}
	}
}

func (h *HookDeliverer) start(ctx context.Context, w webhook.Webhook) *hookRun {
	ctx, cancel := context.WithCancel(ctx)
	r := &hookRun{hook: w, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		h.deliver(ctx, w)
	}()
	return r
}

// deliver runs one webhook's share of its consumer until ctx ends.
func (h *HookDeliverer) deliver(ctx context.Context, w webhook.Webhook) {
	log := h.log.With("webhook", webhook.RedactURL(w.URL), "delivery", webhook.DeliveryCluster)
	s, err := webhook.NewSender(w, h.opts.Timeout)
	if err != nil {
		log.Error("webhook: not delivering to this webhook until its settings are fixed", "err", err)
		return
	}
	defer s.Close()
	var c jetstream.Consumer
	failures := 0
	pause := func() bool {
		failures++
		return sleep(ctx, min(time.Duration(failures)*200*time.Millisecond, maxBackoff))
	}
	for ctx.Err() == nil {
		if c == nil {
			if c, err = h.consumer(ctx, w.URL, s.Timeout()); err != nil {
				c = nil
				if failures%30 == 0 {
					log.Warn("webhook: cannot reach the cluster stream's consumer; retrying", "err", err)
				}
				if !pause() {
					return
				}
				continue
			}
			log.Info("webhook: delivering from the cluster stream", "consumer", ConsumerName(h.opts.Cluster, w.URL))
		}
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) {
				c = nil
			}
			if !pause() {
				return
			}
			continue
		}
		for m := range batch.Messages() {
			h.handle(ctx, s, m, log)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoMessages) {
			if !pause() {
				return
			}
			continue
		}
		failures = 0
	}
}

// consumer gets or creates the webhook's durable consumer. A new one starts
// with the events published from now on, as a new local webhook does.
func (h *HookDeliverer) consumer(ctx context.Context, url string, timeout time.Duration) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	name := ConsumerName(h.opts.Cluster, url)
	c, err := h.opts.JS.Consumer(ctx, StreamName, name)
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return c, err
	}
	c, err = h.opts.JS.CreateConsumer(ctx, StreamName, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "glusterbus cluster webhook " + webhook.RedactURL(url),
		FilterSubject: SubjectFilter(h.opts.Cluster),
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		// One event in flight for the whole pool keeps the order.
		MaxAckPending: 1,
		AckWait:       timeout + 20*time.Second,
		MaxDeliver:    -1,
	})
	if errors.Is(err, jetstream.ErrConsumerExists) {
		return h.opts.JS.Consumer(ctx, StreamName, name)
	}
	return c, err
}

// handle posts one message until the webhook takes it or refuses it for
// good, then acknowledges it; on shutdown it hands it back at once.
func (h *HookDeliverer) handle(ctx context.Context, s *webhook.Sender, m jetstream.Msg, log *slog.Logger) {
	ev, ok := eventOf(m)
	if !ok {
		_ = m.Term() // not an event of ours
		return
	}
	if !s.Match(&ev) {
		_ = m.Ack()
		return
	}
	for attempt := 1; ; attempt++ {
		_ = m.InProgress() // another ack wait for this attempt
		outcome, after, desc := s.Send(ctx, ev)
		if ctx.Err() != nil {
			_ = m.Nak()
			return
		}
		switch outcome {
		case webhook.Delivered:
			_ = m.DoubleAck(ctx)
			return
		case webhook.Failed:
			log.Error("webhook: delivery refused; skipping the event", "seq", ev.Seq, "event", ev.Name, "err", desc)
			_ = m.DoubleAck(ctx)
			return
		}
		wait := max(after, min(time.Duration(1<<min(attempt, 6))*250*time.Millisecond, 30*time.Second))
		if attempt == 1 || attempt%10 == 0 {
			log.Warn("webhook: delivery failed; retrying", "seq", ev.Seq, "event", ev.Name, "attempt", attempt, "retry_in", wait, "err", desc)
		}
		if !sleep(ctx, wait) {
			_ = m.Nak()
			return
		}
	}
}

// eventOf is the journal event of a stream message; its Seq is the
// stream's sequence (X-Glusterbus-Sequence of the POST).
func eventOf(m jetstream.Msg) (journal.Event, bool) {
	var msg Message
	if json.Unmarshal(m.Data(), &msg) != nil || msg.Name == "" {
		return journal.Event{}, false
	}
	ev := journal.Event{Time: msg.Time, Node: msg.Node, Name: msg.Name, Source: msg.Fields["source"], Object: msg.Object}
	if md, err := m.Metadata(); err == nil {
		ev.Seq = md.Sequence.Stream
	}
	for _, k := range slices.Sorted(maps.Keys(msg.Fields)) {
		if k != "source" {
			ev.Fields = append(ev.Fields, journal.Field{Key: k, Value: msg.Fields[k]})
		}
	}
	return ev, true
}
