package state

import (
	"maps"
	"reflect"
	"slices"
	"sync"
)

// Sink receives every change the model finds, in order. Apply is called with
// the model locked: it must not call back into the model, nor wait for
// anything outside the process (a bus, a disk, the network): it hands such
// work to a goroutine of its own.
type Sink interface {
	Apply(changes []Change)
}

// Model holds the current snapshot and is the single place that decides
// what changed: every update is diffed against what it replaces, and only
// the objects the update touches are compared, so a refresh of one volume
// costs the size of that volume, not of the cluster.
type Model struct {
	mu      sync.Mutex
	cur     *Snapshot
	sinks   []Sink
	started bool // the sinks have seen the manager and glusterd objects
	// curDup says a brick name is in two places of cur (see SetAll);
	// curDupStale, that a targeted update may have changed that since.
	curDup, curDupStale bool
}

// NewModel returns a model holding an empty snapshot.
func NewModel(sinks ...Sink) *Model {
	return &Model{cur: NewSnapshot(), sinks: sinks}
}

// AddSink adds a sink that sees every change from now on.
func (m *Model) AddSink(s Sink) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sinks = append(m.sinks, s)
}

// SetAll replaces the whole snapshot (full refresh). The glusterd object is
// replaced too. A volume equal to the one it replaces, bricks included, is
// not turned into objects at all, nor is a brick equal to the one it
// replaces: a reconcile of a quiet cluster costs a comparison per volume,
// and the changes are those a diff of every object would find, in the same
// order.
func (m *Model) SetAll(next *Snapshot) []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	next.Service = m.cur.Service
	if next.GeoReps == nil {
		next.GeoReps = m.cur.GeoReps // read on their own
	}
	next.index = nil
	if sameVolumeNames(next, m.cur) {
		next.index = m.cur.keepIndex()
	}
	next.keepIndex()
	if m.curDupStale {
		m.curDup, m.curDupStale = duplicateBricks(m.cur), false
	}
	var changes []Change
	dup := m.curDup
	if !m.started {
		dup = duplicateBricks(next)
		changes = Diff(nil, next.Objects())
	} else {
		before, after, moved := changedObjects(m.cur, next)
		if moved {
			dup = duplicateBricks(next)
		}
		if dup || m.curDup {
			// A brick in two volumes at once (never so in glusterd):
			// leaving out one of its objects could change what the other
			// compares with.
			changes = Diff(m.cur.Objects(), next.Objects())
		} else {
			changes = Diff(before, after)
		}
	}
	m.started = true
	m.cur, m.curDup = next, dup
	m.publish(changes)
	return changes
}

// duplicateBricks reports whether a brick name is in two places of the
// snapshot.
func duplicateBricks(s *Snapshot) bool {
	type name struct{ host, path string }
	n := 0
	for _, v := range s.Volumes {
		n += len(v.Bricks)
	}
	seen := make(map[name]struct{}, n)
	for _, v := range s.Volumes {
		for i := range v.Bricks {
			k := name{v.Bricks[i].Host, v.Bricks[i].Path}
			if _, ok := seen[k]; ok {
				return true
			}
			seen[k] = struct{}{}
		}
	}
	return false
}

// changedObjects lists the objects of two snapshots in the order of
// Snapshot.Objects, leaving out the volumes and bricks that are equal in
// both. moved says whether a brick may be somewhere else in next: a volume
// came or went, or changed its list of bricks.
func changedObjects(prev, next *Snapshot) (before, after []Object, moved bool) {
	before = append(before, managerObject(prev), glusterdObject(&prev.Glusterd))
	after = append(after, managerObject(next), glusterdObject(&next.Glusterd))
	for _, id := range slices.Sorted(maps.Keys(prev.Peers)) {
		before = append(before, peerObject(prev.Peers[id]))
	}
	for _, id := range slices.Sorted(maps.Keys(next.Peers)) {
		after = append(after, peerObject(next.Peers[id]))
	}
	moved = prev.index == nil || prev.index != next.index
	prev.volumeIndex().each(func(name string) {
		if v, ok := next.Volumes[name]; ok {
			var sameBricks bool
			before, sameBricks = appendChangedVolumeObjects(before, prev.Volumes[name], v)
			moved = moved || !sameBricks
		} else {
			before = appendVolumeObjects(before, prev.Volumes[name])
		}
	})
	next.volumeIndex().each(func(name string) {
		if v, ok := prev.Volumes[name]; ok {
			after, _ = appendChangedVolumeObjects(after, next.Volumes[name], v)
		} else {
			after = appendVolumeObjects(after, next.Volumes[name])
		}
	})
	before = appendSnapshotObjects(before, prev.Snapshots)
	after = appendSnapshotObjects(after, next.Snapshots)
	before = appendGeoRepObjects(before, prev.GeoReps)
	after = appendGeoRepObjects(after, next.GeoReps)
	return before, after, moved
}

// appendChangedVolumeObjects appends the objects of v that may differ from
// those of other, the volume it replaces or is replaced by: none when the
// two are equal, else the volume's object and those of the bricks not equal
// to other's brick at the same place (all of them when the list of bricks
// changed). sameBricks says whether the two list the same bricks.
func appendChangedVolumeObjects(objs []Object, v, other *Volume) (_ []Object, sameBricks bool) {
	if v == other || volumeEqual(v, other) {
		return objs, true
	}
	objs = append(objs, volumeObject(v))
	sameList := len(v.Bricks) == len(other.Bricks)
	for i := 0; sameList && i < len(v.Bricks); i++ {
		sameList = v.Bricks[i].Host == other.Bricks[i].Host && v.Bricks[i].Path == other.Bricks[i].Path
	}
	for i := range v.Bricks {
		if !sameList || v.Bricks[i] != other.Bricks[i] {
			objs = append(objs, brickObject(v, i))
		}
	}
	return objs, sameList
}

// volumeEqual reports whether two volumes show the same objects: every
// field equal, times to the microsecond their property carries.
func volumeEqual(a, b *Volume) bool {
	return a.Name == b.Name && a.ID == b.ID && a.Status == b.Status && a.Type == b.Type &&
		a.Transport == b.Transport && a.BrickCount == b.BrickCount && a.DistCount == b.DistCount &&
		a.ReplicaCount == b.ReplicaCount && a.ArbiterCount == b.ArbiterCount &&
		a.DisperseCount == b.DisperseCount && a.RedundancyCount == b.RedundancyCount &&
		a.SnapshotCount == b.SnapshotCount && a.HealPendingEntries == b.HealPendingEntries &&
		a.SplitBrainEntries == b.SplitBrainEntries && a.PossiblyHealingEntries == b.PossiblyHealingEntries &&
		unixMicro(a.HealInfoTime) == unixMicro(b.HealInfoTime) &&
		sameOptions(a.Options, b.Options) && slices.Equal(a.Bricks, b.Bricks) &&
		tasksEqual(a.Tasks, b.Tasks) && slices.Equal(a.QuotaLimits, b.QuotaLimits)
}

// sameOptions says whether two maps of options hold the same: at once when
// they are one map, as a volume read again unchanged shares it.
func sameOptions(a, b map[string]string) bool {
	if a != nil && b != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer() {
		return true
	}
	return maps.Equal(a, b)
}

// SetVolume replaces one volume and its bricks; v == nil means the volume is
// gone. A volume equal to the one held changes nothing.
func (m *Model) SetVolume(name string, v *Volume) []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.start()
	prev := m.cur.Volumes[name]
	if prev != nil && v != nil && (prev == v || volumeEqual(prev, v)) {
		return nil // nothing to show: not even turned into objects
	}
	m.curDupStale = true
	membership := (prev == nil) != (v == nil)
	var before, after []Object
	if membership {
		before = append(before, managerObject(m.cur))
		// Kept up to date rather than sorted again: a volume created or
		// deleted costs O(log n) of the index, not a sort or a copy.
		m.cur.index = m.cur.keepIndex().with(name, v != nil)
	}
	before = appendVolumeObjects(before, prev)
	if v == nil {
		delete(m.cur.Volumes, name)
	} else {
		m.cur.Volumes[name] = v
	}
	if membership {
		after = append(after, managerObject(m.cur))
	}
	after = appendVolumeObjects(after, v)
	changes := Diff(before, after)
	m.publish(changes)
	return changes
}

// SetPeers replaces the set of peers.
func (m *Model) SetPeers(peers map[string]*Peer) []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.start()
	before := m.peerObjects()
	m.cur.Peers = peers
	changes := Diff(before, m.peerObjects())
	m.publish(changes)
	return changes
}

func (m *Model) peerObjects() []Object {
	objs := []Object{managerObject(m.cur)}
	for _, id := range slices.Sorted(maps.Keys(m.cur.Peers)) {
		objs = append(objs, peerObject(m.cur.Peers[id]))
	}
	return objs
}

// SetSnapshots replaces the set of volume snapshots.
func (m *Model) SetSnapshots(snaps map[string]*VolumeSnapshot) []Change {
	return replaceSet(m, func(s *Snapshot) *map[string]*VolumeSnapshot { return &s.Snapshots }, snaps, appendSnapshotObjects)
}

// Snapshots returns copies of the known volume snapshots by name.
func (m *Model) Snapshots() map[string]VolumeSnapshot {
	return copySet(m, func(s *Snapshot) map[string]*VolumeSnapshot { return s.Snapshots })
}

// replaceSet replaces a set of objects read on its own (snapshots,
// geo-replication sessions), field of the current snapshot, with next.
func replaceSet[T any](m *Model, field func(*Snapshot) *map[string]*T, next map[string]*T,
	objects func([]Object, map[string]*T) []Object) []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.start()
	set := field(m.cur)
	before := objects(nil, *set)
	*set = next
	changes := Diff(before, objects(nil, next))
	m.publish(changes)
	return changes
}

// copySet returns copies of the members of a set of objects by key.
func copySet[T any](m *Model, field func(*Snapshot) map[string]*T) map[string]T {
	m.mu.Lock()
	defer m.mu.Unlock()
	set := field(m.cur)
	out := make(map[string]T, len(set))
	for key, v := range set {
		out[key] = *v
	}
	return out
}

// SetGlusterd replaces what is known of the local glusterd.
func (m *Model) SetGlusterd(g Glusterd) []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.start()
	before := glusterdObject(&m.cur.Glusterd)
	m.cur.Glusterd = g
	changes := Diff([]Object{before}, []Object{glusterdObject(&g)})
	m.publish(changes)
	return changes
}

// Service returns the daemon's own condition as shown.
func (m *Model) Service() Service {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.cur.Service
	s.Webhooks = slices.Clone(s.Webhooks)
	return s
}

// UpdateService changes the daemon's own condition in place, under the
// model's lock, so parts of the daemon that each own some of its fields
// never undo each other's updates. update must not call the model.
func (m *Model) UpdateService(update func(*Service)) []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.start()
	before := managerObject(m.cur)
	s := m.cur.Service
	s.Webhooks = slices.Clone(s.Webhooks) // before still refers to the old slice
	update(&s)
	m.cur.Service = s
	changes := Diff([]Object{before}, []Object{managerObject(m.cur)})
	m.publish(changes)
	return changes
}

// Snapshot returns a copy of the current snapshot for reading. Its maps,
// volumes and peers are its own; bricks, options and hostnames are shared
// with the model, which never changes them in place, so the caller must not
// either.
func (m *Model) Snapshot() *Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &Snapshot{
		Volumes:  make(map[string]*Volume, len(m.cur.Volumes)),
		Peers:    make(map[string]*Peer, len(m.cur.Peers)),
		Glusterd: m.cur.Glusterd,
		Service:  m.cur.Service,
	}
	s.Service.Webhooks = slices.Clone(s.Service.Webhooks)
	for name, v := range m.cur.Volumes {
		c := *v
		s.Volumes[name] = &c
	}
	for id, p := range m.cur.Peers {
		c := *p
		s.Peers[id] = &c
	}
	return s
}

// Volume returns a copy of the named volume as currently known.
func (m *Model) Volume(name string) (Volume, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.cur.Volumes[name]
	if !ok {
		return Volume{}, false
	}
	return *v, true
}

// SharedVolume returns the model's own named volume, or nil. It is shared:
// the caller must not change it (nor does the model: an update replaces a
// volume), and may hand it back to SetAll unchanged, which then costs no
// comparison.
func (m *Model) SharedVolume(name string) *Volume {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur.Volumes[name]
}

// VolumesEqual reports whether two volumes show the same objects: every
// field equal, times to the microsecond their property carries.
func VolumesEqual(a, b *Volume) bool { return volumeEqual(a, b) }

// Glusterd returns what is currently known of the local glusterd.
func (m *Model) Glusterd() Glusterd {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur.Glusterd
}

// Peers returns copies of the known peers by UUID.
func (m *Model) Peers() map[string]Peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Peer, len(m.cur.Peers))
	for id, p := range m.cur.Peers {
		out[id] = *p
	}
	return out
}

// VolumeNames lists the known volumes.
func (m *Model) VolumeNames() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.cur.Volumes))
	for n := range m.cur.Volumes {
		names = append(names, n)
	}
	return names
}

// start shows the sinks the objects that always exist, the first time.
func (m *Model) start() {
	if m.started {
		return
	}
	m.started = true
	m.publish(Diff(nil, m.cur.Objects()))
}

func (m *Model) publish(changes []Change) {
	if len(changes) == 0 {
		return
	}
	for _, s := range m.sinks {
		s.Apply(changes)
	}
}
