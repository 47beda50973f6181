package natsstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamMessage is one event read from the stream.
type StreamMessage struct {
	Message
	StreamSeq uint64 // the stream's sequence: the pool's order
	ID        string // Nats-Msg-Id
}

// Read calls emit for each event of cluster ("" for every pool) in the
// stream after stream sequence since; with follow it goes on with new ones
// until ctx ends, else it returns once it has read what was there.
func Read(ctx context.Context, js jetstream.JetStream, cluster string, since uint64, follow bool, emit func(StreamMessage) error) error {
	filter := SubjectRoot + ".*.events.>"
	if cluster != "" {
		filter = SubjectFilter(cluster)
	}
	if !follow {
		c, err := orderedFrom(ctx, js, filter, since)
		if err != nil {
			return err
		}
		return readPending(ctx, c, emit)
	}
	last := since
	for ctx.Err() == nil {
		c, err := orderedFrom(ctx, js, filter, last)
		if err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return err
			}
			if !sleep(ctx, time.Second) {
				break
			}
			continue
		}
		if last, err = follow1(ctx, c, last, emit); err != nil {
			return err
		}
	}
	return nil
}

// How long a reader keeps asking a server that does not answer yet.
const (
	readAttempts  = 20
	readRetryWait = 500 * time.Millisecond
)

// orderedFrom is an ordered consumer of filter from stream sequence after+1.
func orderedFrom(ctx context.Context, js jetstream.JetStream, filter string, after uint64) (jetstream.Consumer, error) {
	// A few resets of its own, then Read makes a new one.
	cc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxResetAttempts: 3}
	if after > 0 {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, after+1
	}
	var c jetstream.Consumer
	var err error
	for attempt := 1; ; attempt++ {
		// A cluster electing leaders, or a server whose JetStream is still
		// starting ("no responders"), may not answer at once.
		c, err = js.OrderedConsumer(ctx, StreamName, cc)
		if err == nil || attempt == readAttempts || errors.Is(err, jetstream.ErrStreamNotFound) || !sleep(ctx, readRetryWait) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the stream %s: %w", StreamName, err)
	}
	return c, nil
}

// follow1 emits the consumer's messages until ctx ends, emit fails, or the
// consumer stalls: its server went away (then Info fails) or messages are
// pending that do not come. The caller makes a new one from the returned
// position.
func follow1(ctx context.Context, c jetstream.Consumer, last uint64, emit func(StreamMessage) error) (uint64, error) {
	it, err := c.Messages()
	if err != nil {
		return last, nil
	}
	// Stop also ends a Next that is re-creating the consumer.
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		it.Stop()
	}()
	stalls := 0
	for ctx.Err() == nil {
		m, err := it.Next(jetstream.NextMaxWait(2 * time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return last, nil
			}
			ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
			info, ierr := c.Info(ictx)
			cancel()
			if ierr != nil || info.NumPending > 0 {
				if stalls++; stalls >= 2 || ierr != nil {
					return last, nil
				}
			}
			continue
		}
		stalls = 0
		if md, err := m.Metadata(); err == nil && md.Sequence.Stream <= last {
			continue // already emitted before a new consumer
		}
		if _, err := take(m, emit); err != nil {
			return last, err
		}
		if md, err := m.Metadata(); err == nil {
			last = md.Sequence.Stream
		}
	}
	return last, nil
}

// readPending emits what the consumer has now: until a message says none
// is pending after it, or a fetch finds nothing.
func readPending(ctx context.Context, c jetstream.Consumer, emit func(StreamMessage) error) error {
	failures := 0
	for ctx.Err() == nil {
		batch, err := c.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			if failures++; failures < readAttempts && sleep(ctx, readRetryWait) {
				continue
			}
			return err
		}
		n, done := 0, false
		for m := range batch.Messages() {
			n++
			pending, err := take(m, emit)
			if err != nil {
				return err
			}
			done = done || pending == 0
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			// As a failed Fetch: a server whose consumer moved, or a
			// cluster settling after a restart ("no responders"), answers
			// again soon. The ordered consumer resumes after what it gave.
			if failures++; failures < readAttempts && sleep(ctx, readRetryWait) {
				continue
			}
			return err
		}
		failures = 0
		if done || n == 0 {
			return nil
		}
	}
	return ctx.Err()
}

// take emits one message and returns how many follow it for the consumer.
func take(m jetstream.Msg, emit func(StreamMessage) error) (uint64, error) {
	var sm StreamMessage
	md, mdErr := m.Metadata()
	pending := uint64(1)
	if mdErr == nil {
		sm.StreamSeq, pending = md.Sequence.Stream, md.NumPending
	}
	if err := json.Unmarshal(m.Data(), &sm.Message); err != nil {
		return pending, nil // not ours: the stream's subjects are shared
	}
	sm.ID = m.Headers().Get(jetstream.MsgIDHeader)
	return pending, emit(sm)
}
