package webhook

import (
	"strings"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
)

// eventVolume names the volume an event concerns, or "" if it names none.
// Native events name it as nativeevents.Event.Trigger reads it (including
// AFR's and EC's subvolume names); otherwise, and for the native events
// Trigger does not know, a "volume", "Volume" or "volume_name" field names
// it, and so does "name" in VOLUME_* events.
func eventVolume(ev *journal.Event) string {
	if ev.Source == SourceNative {
		if n, ok := nativeevents.Number(ev.Name); ok {
			ne := nativeevents.Event{Number: n, Fields: make([]nativeevents.Field, len(ev.Fields))}
			for i, f := range ev.Fields {
				ne.Fields[i] = nativeevents.Field{Key: f.Key, Value: f.Value}
			}
			if kind, vol := ne.Trigger(); kind == nativeevents.TriggerVolume {
				return vol
			}
		}
	}
	for _, key := range [...]string{"volume", "Volume", "volume_name"} {
		if v := field(ev, key); v != "" {
			return v
		}
	}
	if strings.HasPrefix(ev.Name, "VOLUME_") {
		return field(ev, "name")
	}
	return ""
}

func field(ev *journal.Event, key string) string {
	for _, f := range ev.Fields {
		if f.Key == key {
			return strings.TrimSpace(f.Value)
		}
	}
	return ""
}
