package natsstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/glusterbus/glusterbus/internal/journal"
)

// Defaults of PublisherOptions.
const (
	DefaultPageSize   = 256
	DefaultAckTimeout = 10 * time.Second
	DefaultDuplicates = 2 * time.Minute
	DefaultMaxAge     = 7 * 24 * time.Hour
	maxBackoff        = 10 * time.Second
	// streamTimeout bounds one look for the stream: while a cluster
	// elects its leaders the answer may never come, and asking again soon
	// is better.
	streamTimeout = 3 * time.Second
)

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	Journal *journal.Journal
	JS      jetstream.JetStream
	Cluster string // the pool's id, a subject token
	// Replicas of the stream when it is created (1 if <= 0). An existing
	// stream is used as it is, so an operator's limits stay.
	Replicas   int
	Duplicates time.Duration // the stream's duplicate window; 0 means 2 minutes
	MaxAge     time.Duration // the stream's retention; 0 means 7 days
	PageSize   int           // events published before waiting for their acks
	AckTimeout time.Duration // how long to wait for a page's acks
	Logger     *slog.Logger
}

// Status is what a Publisher has done.
type Status struct {
	Cursor     uint64 // last journal sequence the stream acknowledged
	Published  uint64 // events the stream stored
	Duplicates uint64 // events the stream already had (another node's, or a retry)
	Lost       uint64 // events retention removed before they were published
	LastError  string
	Ready      bool // the stream was found or created; false again while it is looked for anew
}

// Publisher follows the journal from its durable cursor and publishes each
// event to the stream, storing the cursor once the stream has acknowledged.
// A NATS outage only delays it: it retries and resumes from the cursor.
type Publisher struct {
	opts PublisherOptions
	log  *slog.Logger

	mu sync.Mutex
	st Status
}

// NewPublisher checks opts and returns a Publisher.
func NewPublisher(opts PublisherOptions) (*Publisher, error) {
	if opts.Journal == nil || opts.JS == nil {
		return nil, errors.New("natsstream: a journal and a JetStream context are needed")
	}
	if opts.Cluster == "" {
		return nil, errors.New("natsstream: the cluster id is empty")
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.Duplicates <= 0 {
		opts.Duplicates = DefaultDuplicates
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = DefaultAckTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Publisher{opts: opts, log: opts.Logger}, nil
}

// StreamConfig is the stream a Publisher creates when there is none.
func (p *Publisher) StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "GlusterFS events published by glusterbus",
		Subjects:    []string{SubjectRoot + ".>"},
		Storage:     jetstream.FileStorage,
		Replicas:    p.opts.Replicas,
		Duplicates:  p.opts.Duplicates,
		MaxAge:      p.opts.MaxAge,
	}
}

// Status returns what the Publisher has done so far.
func (p *Publisher) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

func (p *Publisher) update(f func(*Status)) {
	p.mu.Lock()
	f(&p.st)
	p.mu.Unlock()
}

// StartCursor returns where publishing resumes. The first time, it places
// the cursor at the end of the journal: the stream is turned on now. Call it
// before the events that must be published can be journaled, so that none
// falls before the cursor however late Run starts.
func StartCursor(j *journal.Journal) (uint64, error) {
	cursors, err := j.Cursors()
	if err != nil {
		return 0, fmt.Errorf("natsstream: reading the cursor: %w", err)
	}
	if cur, ok := cursors[CursorName]; ok {
		return cur, nil
	}
	cur := j.LastSeq()
	if err := j.SetCursor(CursorName, cur); err != nil {
		return 0, fmt.Errorf("natsstream: storing the cursor: %w", err)
	}
	return cur, nil
}

// Run publishes until ctx ends or the journal closes. A new cursor starts at
// the end of the journal: events journaled before the stream was turned on
// are not published.
func (p *Publisher) Run(ctx context.Context) error {
	j := p.opts.Journal
	cur, err := StartCursor(j)
	if err != nil {
		return err
	}
	p.update(func(s *Status) { s.Cursor = cur })
	p.log.Info("nats: publishing journaled events", "stream", StreamName, "subjects", SubjectFilter(p.opts.Cluster), "after_seq", cur)

	ready := false
	// probe: publish one event alone and wait for its ack before sending
	// a batch, at the start, after any failure and after a wait. A stream
	// whose leader is not yet elected answers "no responders" to the first
	// messages of a batch and stores the later ones, and those first are
	// then stored after them (the client retries them, or this loop does):
	// out of the journal's order. One acknowledged event shows the leader
	// is there.
	probe := true
	failures := 0
	lastLogged := ""
	fail := func(what string, err error) bool {
		failures++
		desc := what + ": " + err.Error()
		p.update(func(s *Status) { s.LastError = desc })
		if failures == 1 || failures%30 == 0 || desc != lastLogged {
			p.log.Warn("nats: "+what+"; retrying", "err", err, "after_seq", cur, "failures", failures)
			lastLogged = desc
		}
		return sleep(ctx, min(time.Duration(failures)*200*time.Millisecond, maxBackoff))
	}
	for ctx.Err() == nil {
		if !ready {
			if err := p.ensureStream(ctx); err != nil {
				if !fail("preparing the stream", err) {
					break
				}
				continue
			}
			ready = true
			// What failed was reaching the stream: it is over, even if
			// nothing is left to publish (which would clear it below).
			p.update(func(s *Status) { s.Ready, s.LastError = true, "" })
			p.log.Info("nats: stream ready", "stream", StreamName, "after_seq", cur, "last_seq", j.LastSeq())
		}
		evs, err := j.Range(cur, p.opts.PageSize)
		if errors.Is(err, journal.ErrClosed) {
			return nil
		}
		if err != nil {
			if !fail("reading the journal", err) {
				break
			}
			continue
		}
		if len(evs) == 0 {
			if last := j.LastSeq(); last > cur {
				// Retention removed what was not published.
				if more, err := j.Range(cur, 1); err == nil && len(more) == 0 {
					p.lost(last - cur)
					cur = last
					p.store(cur)
				}
				continue
			}
			if err := j.Wait(ctx, cur); err != nil {
				return nil
			}
			// The connection may have moved to another server, or the
			// stream to another leader, while nothing was published.
			probe = true
			continue
		}
		if gap := evs[0].Seq - cur - 1; gap > 0 {
			p.lost(gap)
		}
		if probe {
			evs = evs[:1]
		}
		done, err := p.publish(ctx, evs)
		if done > 0 {
			cur = evs[done-1].Seq
			p.store(cur)
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			probe = true
			if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) {
				ready = false
				p.update(func(s *Status) { s.Ready = false })
			}
			if !fail("publishing", err) {
				break
			}
			continue
		}
		probe = false
		if failures > 0 {
			p.log.Info("nats: publishing again", "after_seq", cur)
			failures, lastLogged = 0, ""
			p.update(func(s *Status) { s.LastError = "" })
		}
	}
	return nil
}

// ensureStream creates the stream if it does not exist.
func (p *Publisher) ensureStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(p.opts.AckTimeout, streamTimeout))
	defer cancel()
	_, err := p.opts.JS.Stream(ctx, StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = p.opts.JS.CreateStream(ctx, p.StreamConfig())
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another node was first
		}
	}
	return err
}

// publish sends evs and waits for their acks; it returns how many from the
// start were stored (or found to be duplicates) before the first failure.
func (p *Publisher) publish(ctx context.Context, evs []journal.Event) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.AckTimeout)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, len(evs))
	var sendErr error
	for i := range evs {
		m, err := p.msg(&evs[i])
		if err != nil {
			// Cannot happen for a journal event; never stall on it.
			p.log.Error("nats: an event cannot be encoded; skipping it", "seq", evs[i].Seq, "err", err)
			futures = append(futures, nil)
			continue
		}
		f, err := p.opts.JS.PublishMsgAsync(m, jetstream.WithExpectStream(StreamName))
		if err != nil {
			sendErr = err
			break
		}
		futures = append(futures, f)
	}
	var published, dups uint64
	defer func() {
		p.update(func(s *Status) { s.Published += published; s.Duplicates += dups })
	}()
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				dups++
			} else {
				published++
			}
		case err := <-f.Err():
			return i, err
		case <-ctx.Done():
			return i, fmt.Errorf("no acknowledgement: %w", ctx.Err())
		}
	}
	return len(futures), sendErr
}

func (p *Publisher) msg(ev *journal.Event) (*nats.Msg, error) {
	body, err := json.Marshal(MessageOf(*ev))
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(Subject(p.opts.Cluster, ev.Name))
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, MsgID(p.opts.Cluster, *ev))
	m.Header.Set(HeaderNode, ev.Node)
	m.Header.Set(HeaderSource, ev.Source)
	return m, nil
}

// Headers set on every message besides Nats-Msg-Id.
const (
	HeaderNode   = "Glusterbus-Node"
	HeaderSource = "Glusterbus-Source"
)

func (p *Publisher) store(seq uint64) {
	p.update(func(s *Status) { s.Cursor = seq })
	if err := p.opts.Journal.SetCursor(CursorName, seq); err != nil && !errors.Is(err, journal.ErrClosed) {
		p.log.Error("nats: storing the publishing position", "seq", seq, "err", err)
	}
}

func (p *Publisher) lost(n uint64) {
	p.update(func(s *Status) { s.Lost += n })
	p.log.Warn("nats: events were removed by journal retention before they could be published", "events", n)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
