package state

import (
	"maps"
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
// replaced too.
func (m *Model) SetAll(next *Snapshot) []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	var before []Object
	if m.started {
		before = m.cur.Objects()
	}
	m.started = true
	next.Service = m.cur.Service
	if next.GeoReps == nil {
		next.GeoReps = m.cur.GeoReps
	}
	changes := Diff(before, next.Objects())
	m.cur = next
	m.publish(changes)
	return changes
}

// SetVolume replaces one volume and its bricks; v == nil means the volume is
// gone.
func (m *Model) SetVolume(name string, v *Volume) []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.start()
	prev := m.cur.Volumes[name]
	membership := (prev == nil) != (v == nil)
	var before, after []Object
	if membership {
		before = append(before, managerObject(m.cur))
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
	m.mu.Lock()
	defer m.mu.Unlock()
	m.start()
	before := appendSnapshotObjects(nil, m.cur.Snapshots)
	m.cur.Snapshots = snaps
	changes := Diff(before, appendSnapshotObjects(nil, snaps))
	m.publish(changes)
	return changes
}

// Snapshots returns copies of the known volume snapshots by name.
func (m *Model) Snapshots() map[string]VolumeSnapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]VolumeSnapshot, len(m.cur.Snapshots))
	for name, s := range m.cur.Snapshots {
		out[name] = *s
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
