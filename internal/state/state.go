// Package state is the daemon's model of a GlusterFS cluster: a snapshot of
// volumes, bricks, peers and the local glusterd, the objects and properties
// that snapshot shows, and the one diff that decides what changed.
//
// It knows nothing of D-Bus or of the gluster CLI: sources fill a Snapshot,
// Model.Set* compare it with the current one, and the resulting Changes go
// to the sinks (the D-Bus exporter, the event journal).
package state

import (
	"maps"
	"slices"
	"time"

	"github.com/google/btree"
)

// Snapshot is the cluster as read at one moment.
type Snapshot struct {
	Volumes map[string]*Volume // by volume name
	Peers   map[string]*Peer   // by peer UUID; the local node is not a peer
	// Snapshots are the volume snapshots, by snapshot name.
	Snapshots map[string]*VolumeSnapshot
	// GeoReps are the geo-replication sessions, by GeoRepKey. They are
	// read on their own: nil in a full read keeps the model's.
	GeoReps  map[string]*GeoRepSession
	Glusterd Glusterd
	// Service is the daemon's own condition, shown on the manager. It is
	// not read from the cluster: full refreshes keep it as it is.
	Service Service

	// index is Volumes' names in order, kept by the Model for the
	// snapshot it holds (a caller may change its own snapshot's volumes
	// at any time); a full read of the same volumes shares the one it
	// replaces (see SetAll).
	index *volumeIndex
}

// volumeIndex is a set of volume names in order. It is never changed once
// made: a volume created or deleted makes another (with), which shares
// all but O(log n) of its tree, so that the manager's list of volumes
// costs a created or deleted volume no copy of every name.
type volumeIndex struct {
	names *btree.BTreeG[string]
}

// indexDegree is the degree of a volumeIndex's tree: up to 63 names a
// node, about 1 KiB to copy on each level where a name goes in or out.
const indexDegree = 32

// volumeIndex returns the snapshot's volume names in order: the index the
// Model keeps, or one made now.
func (s *Snapshot) volumeIndex() *volumeIndex {
	if s.index != nil {
		return s.index
	}
	names := btree.NewOrderedG[string](indexDegree)
	for _, name := range slices.Sorted(maps.Keys(s.Volumes)) {
		names.ReplaceOrInsert(name)
	}
	return &volumeIndex{names}
}

// keepIndex makes the snapshot keep its index from now on; only the Model
// calls it, for the snapshot it holds.
func (s *Snapshot) keepIndex() *volumeIndex {
	s.index = s.volumeIndex()
	return s.index
}

// with returns the index with name added (add) or taken out, leaving x as
// it is.
func (x *volumeIndex) with(name string, add bool) *volumeIndex {
	if x.names.Has(name) == add {
		return x
	}
	names := x.names.Clone()
	if add {
		names.ReplaceOrInsert(name)
	} else {
		names.Delete(name)
	}
	return &volumeIndex{names}
}

// each calls fn with each name in order.
func (x *volumeIndex) each(fn func(name string)) {
	x.names.Ascend(func(name string) bool {
		fn(name)
		return true
	})
}

// sameVolumeNames reports whether two snapshots hold the same volume names.
func sameVolumeNames(a, b *Snapshot) bool {
	if len(a.Volumes) != len(b.Volumes) {
		return false
	}
	for name := range a.Volumes {
		if _, ok := b.Volumes[name]; !ok {
			return false
		}
	}
	return true
}

// Service is the daemon's own condition.
type Service struct {
	JournalError string         // why events cannot be journaled now; "" when they can
	Webhooks     []WebhookState // delivery to each configured webhook, by URL
	// ClusterStream is this daemon's publishing to the cluster-wide
	// stream; its zero value means the stream is not configured.
	ClusterStream ClusterStreamState
}

// ClusterStreamState is this daemon's publishing to the cluster-wide NATS
// stream, as shown on the manager.
type ClusterStreamState struct {
	State     string // "" (off), connecting, connected, disconnected, failing, failed
	Cursor    uint64 // last journal sequence the stream acknowledged
	Published uint64 // events the stream acknowledged since the daemon started, new or already held
	LastError string // why publishing fails now; "" while it works
}

// WebhookState is the delivery state of one webhook. It is comparable, so
// the diff sees when it changed.
type WebhookState struct {
	URL           string // without any password
	State         string // ok, retrying, invalid
	Cursor        uint64 // last event handled
	LastSeq       uint64 // the journal's last event
	Lag           uint64
	Delivered     uint64
	Failed        uint64
	Lost          uint64
	LastError     string
	LastErrorUsec int64 // unix microseconds; 0 if none
}

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot {
	return &Snapshot{Volumes: map[string]*Volume{}, Peers: map[string]*Peer{}, Snapshots: map[string]*VolumeSnapshot{}}
}

// VolumeSnapshot is one GlusterFS snapshot of a volume.
type VolumeSnapshot struct {
	Name, ID     string
	OriginVolume string
	CreateTime   string // as glusterd prints it
	Status       string // Started (activated) or Stopped
	Description  string
}

// Volume is one GlusterFS volume with its bricks in volume order.
type Volume struct {
	Name, ID        string
	Status          string // Created, Started, Stopped
	Type            string // Distribute, Replicate, Distributed-Replicate, Disperse, ...
	Transport       string
	BrickCount      uint32
	DistCount       uint32
	ReplicaCount    uint32
	ArbiterCount    uint32
	DisperseCount   uint32
	RedundancyCount uint32
	SnapshotCount   uint32
	Options         map[string]string
	Bricks          []Brick
	// Tasks are the volume's rebalance or remove-brick tasks as this node
	// knows them.
	Tasks []Task
	// Self-heal: the entries of this node's bricks (see Brick) summed, the
	// split-brain and possibly-healing counts of the last `heal info` read,
	// and when the counts were read (zero: never).
	HealPendingEntries     uint64
	SplitBrainEntries      uint64
	PossiblyHealingEntries uint64
	HealInfoTime           time.Time
	// QuotaLimits are the usage limits as last read from quotad, sorted by
	// path; shown only while QuotaEnabled.
	QuotaLimits []QuotaLimit
}

// QuotaEnabled says whether the volume's options turn quota on
// (features.quota, set by `gluster volume quota VOL enable`).
func (v *Volume) QuotaEnabled() bool {
	switch v.Options["features.quota"] {
	case "on", "yes", "true", "enable", "1":
		return true
	}
	return false
}

// QuotaLimit is one directory's usage limit. Its fields are in the order
// of the Volume.QuotaLimits property, a(sttttbb).
type QuotaLimit struct {
	Path         string
	HardLimit    uint64 // bytes
	SoftLimit    uint64 // bytes
	Used         uint64 // bytes
	Available    uint64 // bytes
	SoftExceeded bool
	HardExceeded bool
}

// Task is a rebalance or remove-brick task of a volume. Its fields are in
// the order of the Volume.Tasks property, a(sssa{ss}).
type Task struct {
	ID      string
	Type    string            // "Rebalance", "Remove brick"
	Status  string            // as gluster names it: "in progress", "completed", ...
	Figures map[string]string // files, size, lookups, failures, skipped, runtime, time_left, node
}

// Brick is one brick of a volume. The runtime fields (RuntimeKnown and
// below) come from a read of the brick's node (`get-state` on this node,
// `volume status` where allowed) or from glusterd's brick events; Pid is -1
// when unknown.
type Brick struct {
	Host, Path, HostUUID string
	IsArbiter            bool
	// RuntimeUnknown says nothing has told the brick's runtime since its
	// volume started, since this daemon started or since its node became
	// reachable again: Online is then false but means nothing, and the
	// brick is never reported offline.
	RuntimeUnknown      bool
	Online              bool
	Pid                 int64
	Port                uint32
	SizeTotal, SizeFree uint64
	InodesTotal         uint64
	InodesFree          uint64
	Device, FsName      string
	MountOptions        string
	// Self-heal entries recorded on the brick (this node's bricks of
	// replica or disperse volumes only).
	HealPendingEntries uint64
	SplitBrainEntries  uint64
}

// Brick states, as the Brick.State property shows them.
const (
	BrickStateOnline  = "online"
	BrickStateOffline = "offline"
	BrickStateUnknown = "unknown" // not read yet, or its node cannot be reached
)

// State says whether the brick is known online, known offline, or unknown.
func (b *Brick) State() string {
	switch {
	case b.RuntimeUnknown:
		return BrickStateUnknown
	case b.Online:
		return BrickStateOnline
	}
	return BrickStateOffline
}

// SetUnknown forgets the brick's runtime: nothing tells it now.
func (b *Brick) SetUnknown() {
	b.RuntimeUnknown, b.Online, b.Pid, b.Port = true, false, -1, 0
}

// SetOffline records that the brick is known not to run.
func (b *Brick) SetOffline() {
	b.RuntimeUnknown, b.Online, b.Pid, b.Port = false, false, -1, 0
}

// Name is the brick's gluster name, "host:path", which is also its identity.
func (b *Brick) Name() string { return b.Host + ":" + b.Path }

// Peer is another node of the trusted storage pool.
type Peer struct {
	UUID      string
	Hostname  string
	Hostnames []string
	Connected bool
	State     string // e.g. "Peer in Cluster"
}

// Glusterd is the local management daemon as the daemon last saw it.
type Glusterd struct {
	Running     bool
	UUID        string
	OpVersion   uint32
	Version     string
	LastRefresh time.Time
	LastError   string
	LoadState   string // of glusterd.service, where systemd runs
	ActiveState string
}
