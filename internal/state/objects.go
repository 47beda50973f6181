package state

import (
	"iter"
	"maps"
	"slices"
	"time"
)

// Kind says what an object is.
type Kind uint8

// The kinds of objects, in the order the diff reports them.
const (
	KindManager Kind = iota
	KindGlusterd
	KindPeer
	KindVolume
	KindBrick
	KindSnapshot
	KindGeoRep
)

var kindNames = [...]string{"manager", "glusterd", "peer", "volume", "brick", "snapshot", "georep"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Ref identifies an object: the manager and glusterd have one each (Key ""),
// a volume is keyed by name, a brick by "host:path", a peer by UUID, a
// snapshot by name, a geo-replication session by GeoRepKey.
type Ref struct {
	Kind Kind
	Key  string
}

// Property is one named value of an object. Values are string, bool, uint32,
// int64, uint64, []string, map[string]string, Ref, []Ref, VolumeList,
// []WebhookState, []Task or []GeoRepWorker.
type Property struct {
	Name  string
	Value any
}

// Object is what one cluster entity shows: its identity and its properties
// in a fixed order.
type Object struct {
	Ref   Ref
	Props []Property
	// Source gives Props again later, for volumes and bricks (nil for the
	// rest): see Source.
	Source Source
}

// Source gives an object's properties anew from the model's data, which it
// never changes in place (an update replaces a volume): a sink that keeps
// tens of thousands of objects can keep their Sources, a word or two each,
// instead of their values, and ask when a client wants them.
type Source interface {
	// AppendProps appends the object's properties to props.
	AppendProps(props []Property) []Property
}

// VolumeSource is the Source of a volume's object.
type VolumeSource struct{ v *Volume }

// AppendProps appends the volume's properties to props.
func (s VolumeSource) AppendProps(props []Property) []Property { return appendVolumeProps(props, s.v) }

// Brick returns the Source of the volume's i-th brick's object. A sink
// keeping the Sources of a volume's bricks should take them from the
// volume's latest Source when it changes, even those of bricks that did
// not (the diff reports no change for them): else each keeps the volume it
// last changed with, and the model's old volumes live on.
func (s VolumeSource) Brick(i int) Source { return brickSource{s.v, i} }

// Name is the volume's name.
func (s VolumeSource) Name() string { return s.v.Name }

// brickSource is the Source of a brick's object: the volume's i-th brick.
type brickSource struct {
	v *Volume
	i int
}

func (s brickSource) AppendProps(props []Property) []Property {
	return appendBrickProps(props, s.v, s.i)
}

// BrickVolume returns the name of the volume whose brick src is the
// Source of, or false when src is not a brick's.
func BrickVolume(src Source) (string, bool) {
	b, ok := src.(brickSource)
	if !ok {
		return "", false
	}
	return b.v.Name, true
}

// Prop returns the value of the named property, or nil.
func (o *Object) Prop(name string) any {
	for _, p := range o.Props {
		if p.Name == name {
			return p.Value
		}
	}
	return nil
}

// Objects lists every object of the snapshot: the manager, glusterd, the
// peers by UUID, then each volume by name followed by its bricks.
func (s *Snapshot) Objects() []Object {
	objs := make([]Object, 0, 2+len(s.Peers)+len(s.Volumes)*4)
	objs = append(objs, managerObject(s), glusterdObject(&s.Glusterd))
	for _, id := range slices.Sorted(maps.Keys(s.Peers)) {
		objs = append(objs, peerObject(s.Peers[id]))
	}
	s.volumeIndex().each(func(name string) { objs = appendVolumeObjects(objs, s.Volumes[name]) })
	objs = appendSnapshotObjects(objs, s.Snapshots)
	return appendGeoRepObjects(objs, s.GeoReps)
}

func appendSnapshotObjects(objs []Object, snaps map[string]*VolumeSnapshot) []Object {
	for _, name := range slices.Sorted(maps.Keys(snaps)) {
		objs = append(objs, snapshotObject(snaps[name]))
	}
	return objs
}

func snapshotObject(s *VolumeSnapshot) Object {
	return Object{Ref{KindSnapshot, s.Name}, []Property{
		{"Name", s.Name},
		{"Id", s.ID},
		{"Volume", Ref{KindVolume, s.OriginVolume}},
		{"OriginVolume", s.OriginVolume},
		{"CreateTime", s.CreateTime},
		{"Status", s.Status},
		{"Description", s.Description},
	}, nil}
}

func managerObject(s *Snapshot) Object {
	peers := make([]Ref, 0, len(s.Peers))
	for _, id := range slices.Sorted(maps.Keys(s.Peers)) {
		peers = append(peers, Ref{KindPeer, id})
	}
	props := []Property{
		{"Volumes", VolumeList{s.volumeIndex()}},
		{"Peers", peers},
		{"JournalError", s.Service.JournalError},
		{"Webhooks", nonNilWebhooks(s.Service.Webhooks)},
		{"ClusterStream", s.Service.ClusterStream.State},
		{"ClusterStreamCursor", s.Service.ClusterStream.Cursor},
		{"ClusterStreamPublished", s.Service.ClusterStream.Published},
		{"ClusterStreamLastError", s.Service.ClusterStream.LastError},
	}
	// Its own Source, so that a sink keeping it asks for the list of
	// volumes only when a client wants it.
	return Object{Ref{KindManager, ""}, props, propsSource(props)}
}

// propsSource is the Source of an object whose properties are made at
// once, none of them changed in place.
type propsSource []Property

// AppendProps appends the object's properties to props.
func (s propsSource) AppendProps(props []Property) []Property { return append(props, s...) }

// VolumeList is the value of the manager's Volumes: the snapshot's volumes
// in the order of their names. It is never changed once made, and made
// into references only when read (All, Refs): a volume created or deleted
// costs the list O(log n), not a copy of every name.
type VolumeList struct{ index *volumeIndex }

// Len returns the number of volumes.
func (l VolumeList) Len() int {
	if l.index == nil {
		return 0
	}
	return l.index.names.Len()
}

// All yields the references to the volumes in order.
func (l VolumeList) All() iter.Seq[Ref] {
	return func(yield func(Ref) bool) {
		if l.index == nil {
			return
		}
		l.index.names.Ascend(func(name string) bool { return yield(Ref{KindVolume, name}) })
	}
}

// Refs returns the references to the volumes in order.
func (l VolumeList) Refs() []Ref {
	refs := make([]Ref, 0, l.Len())
	for r := range l.All() {
		refs = append(refs, r)
	}
	return refs
}

// equal says whether two lists hold the same volumes: at once when they
// are one list or differ in length, as after a volume came or went.
func (l VolumeList) equal(m VolumeList) bool {
	if l.index == m.index {
		return true
	}
	if l.Len() != m.Len() {
		return false
	}
	next, stop := iter.Pull(m.All())
	defer stop()
	for r := range l.All() {
		if o, ok := next(); !ok || o != r {
			return false
		}
	}
	return true
}

func glusterdObject(g *Glusterd) Object {
	var last uint64
	if !g.LastRefresh.IsZero() {
		last = uint64(g.LastRefresh.UnixMicro())
	}
	return Object{Ref{KindGlusterd, ""}, []Property{
		{"Running", g.Running},
		{"Uuid", g.UUID},
		{"OpVersion", g.OpVersion},
		{"Version", g.Version},
		{"LastRefresh", last},
		{"LastError", g.LastError},
		{"LoadState", g.LoadState},
		{"ActiveState", g.ActiveState},
	}, nil}
}

func peerObject(p *Peer) Object {
	return Object{Ref{KindPeer, p.UUID}, []Property{
		{"Uuid", p.UUID},
		{"Hostname", p.Hostname},
		{"Hostnames", nonNil(p.Hostnames)},
		{"Connected", p.Connected},
		{"State", p.State},
	}, nil}
}

// appendVolumeObjects appends the volume's object and its bricks' objects.
func appendVolumeObjects(objs []Object, v *Volume) []Object {
	if v == nil {
		return objs
	}
	objs = append(objs, volumeObject(v))
	for i := range v.Bricks {
		objs = append(objs, brickObject(v, i))
	}
	return objs
}

func volumeObject(v *Volume) Object {
	return Object{Ref{KindVolume, v.Name}, appendVolumeProps(nil, v), VolumeSource{v}}
}

func appendVolumeProps(props []Property, v *Volume) []Property {
	bricks := make([]Ref, len(v.Bricks))
	for i := range v.Bricks {
		bricks[i] = Ref{KindBrick, v.Bricks[i].Name()}
	}
	opts := v.Options
	if opts == nil {
		opts = map[string]string{}
	}
	return append(props, []Property{
		{"Name", v.Name},
		{"Id", v.ID},
		{"Status", v.Status},
		{"Type", v.Type},
		{"BrickCount", v.BrickCount},
		{"DistCount", v.DistCount},
		{"ReplicaCount", v.ReplicaCount},
		{"ArbiterCount", v.ArbiterCount},
		{"DisperseCount", v.DisperseCount},
		{"RedundancyCount", v.RedundancyCount},
		{"Transport", v.Transport},
		{"SnapshotCount", v.SnapshotCount},
		{"Options", opts},
		{"Bricks", bricks},
		{"OnlineBrickCount", v.OnlineBrickCount()},
		{"Health", v.Health()},
		{"Tasks", nonNilTasks(v.Tasks)},
		{"HealPendingEntries", v.HealPendingEntries},
		{"SplitBrainEntries", v.SplitBrainEntries},
		{"PossiblyHealingEntries", v.PossiblyHealingEntries},
		{"HealInfoTime", unixMicro(v.HealInfoTime)},
		{"QuotaEnabled", v.QuotaEnabled()},
		{"QuotaLimits", shownQuotaLimits(v)},
	}...)
}

// brickObject is the object of the volume's i-th brick.
func brickObject(v *Volume, i int) Object {
	props := appendBrickProps(nil, v, i)
	return Object{Ref{KindBrick, props[0].Value.(string)}, props, brickSource{v, i}}
}

// appendBrickProps appends the properties of the volume's i-th brick, its
// name first.
func appendBrickProps(props []Property, v *Volume, i int) []Property {
	b := &v.Bricks[i]
	name := b.Name()
	return append(props, []Property{
		{"Name", name},
		{"Host", b.Host},
		{"Path", b.Path},
		{"HostUuid", b.HostUUID},
		{"Volume", Ref{KindVolume, v.Name}},
		{"IsArbiter", b.IsArbiter},
		{"Online", b.State() == BrickStateOnline},
		{"State", b.State()},
		{"Pid", b.Pid},
		{"Port", b.Port},
		{"SizeTotal", b.SizeTotal},
		{"SizeFree", b.SizeFree},
		{"InodesTotal", b.InodesTotal},
		{"InodesFree", b.InodesFree},
		{"Device", b.Device},
		{"FsName", b.FsName},
		{"MountOptions", b.MountOptions},
		{"HealPendingEntries", b.HealPendingEntries},
		{"SplitBrainEntries", b.SplitBrainEntries},
	}...)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilWebhooks(w []WebhookState) []WebhookState {
	if w == nil {
		return []WebhookState{}
	}
	return w
}

func nonNilTasks(t []Task) []Task {
	if t == nil {
		return []Task{}
	}
	return t
}

// unixMicro is t in unix microseconds, 0 for the zero time.
func unixMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// shownQuotaLimits are the volume's limits while quota is on, else none.
func shownQuotaLimits(v *Volume) []QuotaLimit {
	if !v.QuotaEnabled() || v.QuotaLimits == nil {
		return []QuotaLimit{}
	}
	return v.QuotaLimits
}
