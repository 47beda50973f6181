package natsstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
	c, err := js.OrderedConsumer(ctx, StreamName, cc)
	if err != nil {
		return fmt.Errorf("reading the stream %s: %w", StreamName, err)
	}
	var pending uint64
	if !follow {
		info, err := c.Info(ctx)
		if err != nil {
			return fmt.Errorf("reading the stream %s: %w", StreamName, err)
		}
		pending = info.NumPending
		if pending == 0 {
			return nil
		}
	}
	it, err := c.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	go func() { <-ctx.Done(); it.Stop() }()
	for n := uint64(0); follow || n < pending; n++ {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return err
		}
		var sm StreamMessage
		if err := json.Unmarshal(m.Data(), &sm.Message); err != nil {
			continue // not ours: the stream's subjects are shared
		}
		if md, err := m.Metadata(); err == nil {
			sm.StreamSeq = md.Sequence.Stream
		}
		sm.ID = m.Headers().Get(jetstream.MsgIDHeader)
		if err := emit(sm); err != nil {
			return err
		}
	}
	return nil
}
