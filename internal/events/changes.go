// Package events turns what happens into journal events: the state model's
// changes (source "diff") and GlusterFS's native events (source "native"),
// and writes them to the journal in batches.
package events

import (
	"maps"
	"slices"
	"strconv"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/state"
)

// Sources of events.
const (
	SourceNative = "native"
	SourceDiff   = "diff"
)

// Names of the events the state diff produces. Where GlusterFS has an event
// for the same change, the name is GlusterFS's; the others are new. See
// docs/events.md.
const (
	VolumeCreate        = "VOLUME_CREATE"
	VolumeDelete        = "VOLUME_DELETE"
	VolumeStart         = "VOLUME_START"
	VolumeStop          = "VOLUME_STOP"
	VolumeSet           = "VOLUME_SET"
	VolumeReset         = "VOLUME_RESET"
	VolumeHealthChanged = "VOLUME_HEALTH_CHANGED"
	BrickAdded          = "BRICK_ADDED"
	BrickRemoved        = "BRICK_REMOVED"
	BrickOnline         = "BRICK_ONLINE"
	BrickOffline        = "BRICK_OFFLINE"
	PeerAttach          = "PEER_ATTACH"
	PeerDetach          = "PEER_DETACH"
	PeerConnect         = "PEER_CONNECT"
	PeerDisconnect      = "PEER_DISCONNECT"
	GlusterdUp          = "GLUSTERD_UP"
	GlusterdDown        = "GLUSTERD_DOWN"

	VolumeRebalanceStart      = "VOLUME_REBALANCE_START"
	VolumeRebalanceStop       = "VOLUME_REBALANCE_STOP"
	VolumeRebalanceFailed     = "VOLUME_REBALANCE_FAILED"
	VolumeRebalanceComplete   = "VOLUME_REBALANCE_COMPLETE"
	VolumeRemoveBrickStart    = "VOLUME_REMOVE_BRICK_START"
	VolumeRemoveBrickStop     = "VOLUME_REMOVE_BRICK_STOP"
	VolumeRemoveBrickFailed   = "VOLUME_REMOVE_BRICK_FAILED"
	VolumeRemoveBrickComplete = "VOLUME_REMOVE_BRICK_COMPLETE" // GlusterFS has none

	AFRSplitBrain            = "AFR_SPLIT_BRAIN" // the split-brain count went from 0 to N
	VolumeSplitBrainResolved = "VOLUME_SPLIT_BRAIN_RESOLVED"
	VolumeHealPending        = "VOLUME_HEAL_PENDING" // entries began to wait for self-heal
	VolumeHealDone           = "VOLUME_HEAL_DONE"

	SnapshotCreated     = "SNAPSHOT_CREATED"
	SnapshotDeleted     = "SNAPSHOT_DELETED"
	SnapshotActivated   = "SNAPSHOT_ACTIVATED"
	SnapshotDeactivated = "SNAPSHOT_DEACTIVATED"
)

// OptionPrefix prefixes option keys in VOLUME_SET fields, as in the native
// VOLUME_SET after decoding.
const OptionPrefix = "option."

// FromChanges returns the events one batch of model changes means, in the
// order of the changes. pathOf names an object's D-Bus path.
func FromChanges(changes []state.Change, node string, pathOf func(state.Ref) string) []journal.Event {
	var out []journal.Event
	addedVolumes := map[string]bool{}
	removedVolumes := map[string]bool{}
	for _, c := range changes {
		if c.Ref.Kind == state.KindVolume {
			switch c.Type {
			case state.Added:
				addedVolumes[c.Ref.Key] = true
			case state.Removed:
				removedVolumes[c.Ref.Key] = true
			}
		}
	}
	emit := func(c *state.Change, name string, fields ...journal.Field) {
		out = append(out, journal.Event{Node: node, Name: name, Source: SourceDiff, Object: pathOf(c.Ref), Fields: fields})
	}
	for i := range changes {
		c := &changes[i]
		switch c.Ref.Kind {
		case state.KindVolume:
			volumeEvents(c, emit)
		case state.KindBrick:
			brickEvents(c, addedVolumes, removedVolumes, emit)
		case state.KindPeer:
			peerEvents(c, emit)
		case state.KindSnapshot:
			snapshotEvents(c, emit)
		case state.KindGeoRep:
			geoRepEvents(c, emit)
		case state.KindGlusterd:
			if v, ok := find(c.Props, "Running"); ok && c.Type == state.Modified {
				emit(c, map[bool]string{true: GlusterdUp, false: GlusterdDown}[v.(bool)])
			}
		}
	}
	return out
}

type emitFunc func(c *state.Change, name string, fields ...journal.Field)

func volumeEvents(c *state.Change, emit emitFunc) {
	name := journal.Field{Key: "name", Value: c.Ref.Key}
	switch c.Type {
	case state.Added:
		emit(c, VolumeCreate, name, str(c.Props, "id", "Id"), str(c.Props, "type", "Type"), str(c.Props, "status", "Status"))
	case state.Removed:
		emit(c, VolumeDelete, name)
	case state.Modified:
		if v, ok := find(c.Props, "Status"); ok {
			switch v {
			case "Started":
				emit(c, VolumeStart, name)
			case "Stopped":
				emit(c, VolumeStop, name)
			}
		}
		if v, ok := find(c.Props, "Options"); ok {
			old, _ := find(c.Old, "Options")
			optionEvents(c, name, asMap(old), asMap(v), emit)
		}
		if v, ok := find(c.Props, "Health"); ok {
			old, _ := find(c.Old, "Health")
			emit(c, VolumeHealthChanged, name, journal.Field{Key: "old", Value: asString(old)}, journal.Field{Key: "new", Value: asString(v)})
		}
		countEvents(c, name, "SplitBrainEntries", AFRSplitBrain, VolumeSplitBrainResolved, emit)
		countEvents(c, name, "HealPendingEntries", VolumeHealPending, VolumeHealDone, emit)
		if v, ok := find(c.Props, "Tasks"); ok {
			old, _ := find(c.Old, "Tasks")
			taskEvents(c, name, asTasks(old), asTasks(v), emit)
		}
		quotaEvents(c, c.Ref.Key, emit)
	}
}

// countEvents: up when the count leaves 0, down when it comes back to 0;
// changes between other values are PropertiesChanged only.
func countEvents(c *state.Change, name journal.Field, prop, up, down string, emit emitFunc) {
	v, ok := find(c.Props, prop)
	if !ok {
		return
	}
	old, _ := find(c.Old, prop)
	cur, _ := v.(uint64)
	prev, _ := old.(uint64)
	entries := journal.Field{Key: "entries", Value: strconv.FormatUint(cur, 10)}
	switch {
	case prev == 0 && cur > 0:
		emit(c, up, name, entries)
	case prev > 0 && cur == 0:
		emit(c, down, name, entries)
	}
}

// taskEvents: a task seen running for the first time started; one whose
// status became final (or first seen final: its run was missed) completed,
// failed or was stopped. A task that disappears (a remove-brick committed)
// says nothing more.
func taskEvents(c *state.Change, name journal.Field, old, cur []state.Task, emit emitFunc) {
	before := map[string]string{}
	for _, t := range old {
		before[t.ID] = t.Status
	}
	for _, t := range cur {
		prev, known := before[t.ID]
		if known && prev == t.Status {
			continue
		}
		event := taskEventName(t.Type, t.Status)
		if event == "" {
			continue
		}
		fields := []journal.Field{name, {Key: "id", Value: t.ID}, {Key: "type", Value: t.Type}, {Key: "status", Value: t.Status}}
		for _, k := range slices.Sorted(maps.Keys(t.Figures)) {
			fields = append(fields, journal.Field{Key: k, Value: t.Figures[k]})
		}
		emit(c, event, fields...)
	}
}

// taskEventName names the event of a task reaching a status, "" for none.
func taskEventName(typ, status string) string {
	remove := typ == "Remove brick"
	pick := func(rebalance, removeBrick string) string {
		if remove {
			return removeBrick
		}
		return rebalance
	}
	switch status {
	case "in progress", "fix-layout in progress":
		return pick(VolumeRebalanceStart, VolumeRemoveBrickStart)
	case "completed", "fix-layout completed":
		return pick(VolumeRebalanceComplete, VolumeRemoveBrickComplete)
	case "failed", "fix-layout failed":
		return pick(VolumeRebalanceFailed, VolumeRemoveBrickFailed)
	case "stopped", "fix-layout stopped":
		return pick(VolumeRebalanceStop, VolumeRemoveBrickStop)
	}
	return ""
}

func asTasks(v any) []state.Task {
	t, _ := v.([]state.Task)
	return t
}

// optionEvents: one VOLUME_SET with every option set or changed, one
// VOLUME_RESET per option removed.
func optionEvents(c *state.Change, name journal.Field, old, cur map[string]string, emit emitFunc) {
	set := []journal.Field{name}
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		if ov, ok := old[k]; !ok || ov != cur[k] {
			set = append(set, journal.Field{Key: OptionPrefix + k, Value: cur[k]})
		}
	}
	if len(set) > 1 {
		emit(c, VolumeSet, set...)
	}
	for _, k := range slices.Sorted(maps.Keys(old)) {
		if _, ok := cur[k]; !ok {
			emit(c, VolumeReset, name, journal.Field{Key: "option", Value: k})
		}
	}
}

func brickEvents(c *state.Change, addedVolumes, removedVolumes map[string]bool, emit emitFunc) {
	props := c.Cur
	if c.Type == state.Removed {
		props = c.Old
	}
	volume := ""
	if v, ok := find(props, "Volume"); ok {
		volume = v.(state.Ref).Key
	}
	brick := []journal.Field{{Key: "volume", Value: volume}, {Key: "brick", Value: c.Ref.Key}}
	switch c.Type {
	case state.Added:
		if !addedVolumes[volume] { // a new volume's bricks come with VOLUME_CREATE
			emit(c, BrickAdded, brick...)
		}
	case state.Removed:
		if !removedVolumes[volume] {
			emit(c, BrickRemoved, brick...)
		}
	case state.Modified:
		// A brick whose runtime became unknown is not reported: only what
		// was read or told is.
		if v, ok := find(c.Props, "State"); ok {
			switch v {
			case state.BrickStateOnline:
				emit(c, BrickOnline, brick...)
			case state.BrickStateOffline:
				emit(c, BrickOffline, brick...)
			}
		}
	}
}

// snapshotEvents uses the field names of GlusterFS's own snapshot events.
func snapshotEvents(c *state.Change, emit emitFunc) {
	props := c.Cur
	if c.Type == state.Removed {
		props = c.Old
	}
	fields := []journal.Field{{Key: "snapshot_name", Value: c.Ref.Key}, str(props, "volume_name", "OriginVolume"),
		str(props, "snapshot_uuid", "Id")}
	switch c.Type {
	case state.Added:
		emit(c, SnapshotCreated, fields...)
	case state.Removed:
		emit(c, SnapshotDeleted, fields...)
	case state.Modified:
		if v, ok := find(c.Props, "Status"); ok {
			switch v {
			case "Started":
				emit(c, SnapshotActivated, fields...)
			case "Stopped":
				emit(c, SnapshotDeactivated, fields...)
			}
		}
	}
}

func peerEvents(c *state.Change, emit emitFunc) {
	props := c.Cur
	if c.Type == state.Removed {
		props = c.Old
	}
	fields := []journal.Field{str(props, "host", "Hostname"), {Key: "uuid", Value: c.Ref.Key}}
	switch c.Type {
	case state.Added:
		emit(c, PeerAttach, fields...)
	case state.Removed:
		emit(c, PeerDetach, fields...)
	case state.Modified:
		if v, ok := find(c.Props, "Connected"); ok {
			emit(c, map[bool]string{true: PeerConnect, false: PeerDisconnect}[v.(bool)], fields...)
		}
	}
}

func find(props []state.Property, name string) (any, bool) {
	for _, p := range props {
		if p.Name == name {
			return p.Value, true
		}
	}
	return nil, false
}

// str is a field named key holding the property's value as text.
func str(props []state.Property, key, prop string) journal.Field {
	v, _ := find(props, prop)
	return journal.Field{Key: key, Value: asString(v)}
}

func asString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case uint32:
		return strconv.FormatUint(uint64(v), 10)
	case nil:
		return ""
	}
	return ""
}

func asMap(v any) map[string]string {
	m, _ := v.(map[string]string)
	return m
}
