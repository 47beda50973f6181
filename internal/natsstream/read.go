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
	cc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if since > 0 {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, since+1
	}
	var c jetstream.Consumer
	var err error
	for attempt := 1; ; attempt++ {
		// A cluster busy electing leaders may not answer the first time.
		if c, err = js.OrderedConsumer(ctx, StreamName, cc); err == nil || attempt == 3 || ctx.Err() != nil {
			break
		}
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("reading the stream %s: %w", StreamName, err)
	}
	if !follow {
		return readPending(ctx, c, emit)
	}
	it, err := c.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	go func() { <-ctx.Done(); it.Stop() }()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return err
		}
		if _, err := take(m, emit); err != nil {
			return err
		}
	}
}

// readPending emits what the consumer has now: until a message says none
// is pending after it, or a fetch finds nothing.
func readPending(ctx context.Context, c jetstream.Consumer, emit func(StreamMessage) error) error {
	for ctx.Err() == nil {
		batch, err := c.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
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
			return err
		}
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
