package events

import (
	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/state"
)

// FromNative returns the journal event for a native GlusterFS event: its
// name and fields as decoded, the sender's time, and the volume's object
// path when the event names a volume.
func FromNative(ev nativeevents.Event, node string, pathOf func(state.Ref) string) journal.Event {
	out := journal.Event{Time: ev.Time, Node: node, Name: ev.Name, Source: SourceNative}
	if kind, vol := ev.Trigger(); kind == nativeevents.TriggerVolume {
		out.Object = pathOf(state.Ref{Kind: state.KindVolume, Key: vol})
	}
	out.Fields = make([]journal.Field, len(ev.Fields))
	for i, f := range ev.Fields {
		out.Fields[i] = journal.Field{Key: f.Key, Value: f.Value}
	}
	return out
}
