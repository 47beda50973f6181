package state

import (
	"maps"
	"slices"
	"strings"
)

// GeoRepSession is one geo-replication session of a primary volume of this
// cluster, with one worker per primary brick.
type GeoRepSession struct {
	PrimaryVolume string
	// Secondary is as gluster names it: "user@host::volume", or
	// "host::volume" for root.
	Secondary       string
	SecondaryHost   string
	SecondaryVolume string
	SecondaryUser   string
	Workers         []GeoRepWorker // by primary node and brick
	// CheckpointTime is the session's checkpoint (unix microseconds; 0 for
	// none), as its Active workers tell it.
	CheckpointTime int64
}

// GeoRepWorker is the gsyncd worker of one primary brick. Its fields are in
// the order of the GeoReplication.Workers property, a(ssssssxxxxxbx).
// Counters gluster does not tell (any worker not Active) are -1, times it
// does not tell 0.
type GeoRepWorker struct {
	PrimaryNode              string
	PrimaryNodeUUID          string
	PrimaryBrick             string
	SecondaryNode            string
	Status                   string // Active, Passive, Faulty, Initializing, Created, Stopped, Paused, Config Corrupted; "" unknown
	CrawlStatus              string
	LastSynced               int64 // unix microseconds
	Entry, Data, Meta        int64 // operations pending
	Failures                 int64
	CheckpointCompleted      bool
	CheckpointCompletionTime int64 // unix microseconds
}

// GeoRepKey is the key of a session's Ref: a volume name and a secondary
// hold no space.
func GeoRepKey(primary, secondary string) string { return primary + " " + secondary }

// SplitGeoRepKey reverses GeoRepKey.
func SplitGeoRepKey(key string) (primary, secondary string) {
	primary, secondary, _ = strings.Cut(key, " ")
	return primary, secondary
}

// Geo-replication session statuses, as the GeoReplication.Status property
// shows them.
const (
	GeoRepFaulty       = "Faulty"
	GeoRepInitializing = "Initializing"
	GeoRepActive       = "Active"
	GeoRepPassive      = "Passive"
	GeoRepPaused       = "Paused"
	GeoRepCreated      = "Created"
	GeoRepStopped      = "Stopped"
)

// Status is the session's overall status from its workers': Faulty when
// any worker is (or its configuration is corrupted), else Initializing
// when any worker is starting or not telling yet, else Active when any
// worker syncs, else Passive, Paused, Created, and Stopped when every
// worker is stopped or there is none.
func (s *GeoRepSession) Status() string {
	rank := map[string]int{GeoRepFaulty: 6, "Config Corrupted": 6, GeoRepInitializing: 5, "": 5,
		GeoRepActive: 4, GeoRepPassive: 3, GeoRepPaused: 2, GeoRepCreated: 1}
	best, status := 0, GeoRepStopped
	for _, w := range s.Workers {
		if r := rank[w.Status]; r > best {
			best, status = r, w.Status
		}
	}
	switch status {
	case "Config Corrupted":
		return GeoRepFaulty
	case "":
		return GeoRepInitializing
	}
	return status
}

// CheckpointCompleted says whether the session's checkpoint is completed:
// every Active worker, of which there is at least one, has synced past it.
// Workers that are not Active do not tell it.
func (s *GeoRepSession) CheckpointCompleted() bool {
	active, done := 0, 0
	for _, w := range s.Workers {
		if w.Status == GeoRepActive {
			active++
			if w.CheckpointCompleted {
				done++
			}
		}
	}
	return s.CheckpointTime != 0 && active > 0 && done == active
}

func appendGeoRepObjects(objs []Object, sessions map[string]*GeoRepSession) []Object {
	for _, key := range slices.Sorted(maps.Keys(sessions)) {
		objs = append(objs, geoRepObject(key, sessions[key]))
	}
	return objs
}

func geoRepObject(key string, s *GeoRepSession) Object {
	workers := s.Workers
	if workers == nil {
		workers = []GeoRepWorker{}
	}
	return Object{Ref{KindGeoRep, key}, []Property{
		{"PrimaryVolume", Ref{KindVolume, s.PrimaryVolume}},
		{"Volume", s.PrimaryVolume},
		{"Secondary", s.Secondary},
		{"SecondaryHost", s.SecondaryHost},
		{"SecondaryVolume", s.SecondaryVolume},
		{"SecondaryUser", s.SecondaryUser},
		{"Status", s.Status()},
		{"Workers", workers},
		{"CheckpointTime", s.CheckpointTime},
		{"CheckpointCompleted", s.CheckpointCompleted()},
	}, nil}
}

// SetGeoReps replaces the set of geo-replication sessions, by GeoRepKey.
func (m *Model) SetGeoReps(sessions map[string]*GeoRepSession) []Change {
	return replaceSet(m, func(s *Snapshot) *map[string]*GeoRepSession { return &s.GeoReps }, sessions, appendGeoRepObjects)
}

// GeoReps returns copies of the known geo-replication sessions by
// GeoRepKey; their workers are shared with the model, which never changes
// them in place.
func (m *Model) GeoReps() map[string]GeoRepSession {
	return copySet(m, func(s *Snapshot) map[string]*GeoRepSession { return s.GeoReps })
}
