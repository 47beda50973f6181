package events

import (
	"reflect"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/state"
)

func TestGeoRepEvents(t *testing.T) {
	m := state.NewModel()
	m.SetAll(state.NewSnapshot())
	key := state.GeoRepKey("pv", "geo@sec::sv")
	step := func(sessions ...state.GeoRepSession) []journal.Event {
		next := map[string]*state.GeoRepSession{}
		for _, s := range sessions {
			next[state.GeoRepKey(s.PrimaryVolume, s.Secondary)] = &s
		}
		return FromChanges(m.SetGeoReps(next), "node-1", pathOf)
	}
	s := state.GeoRepSession{PrimaryVolume: "pv", Secondary: "geo@sec::sv", SecondaryHost: "sec", SecondaryVolume: "sv",
		SecondaryUser: "geo", Workers: []state.GeoRepWorker{
			{PrimaryNode: "n1", PrimaryNodeUUID: "u1", PrimaryBrick: "/b1", Status: "Active"},
			{PrimaryNode: "n2", PrimaryNodeUUID: "u2", PrimaryBrick: "/b2", Status: "Passive"}}}
	session := fields("primary_volume", "pv", "secondary", "geo@sec::sv", "secondary_host", "sec", "secondary_volume", "sv",
		"secondary_user", "geo")
	evs := step(s)
	if !reflect.DeepEqual(names(evs), []string{GeoRepCreate}) ||
		!reflect.DeepEqual(evs[0].Fields, append(session[:len(session):len(session)], fields("status", "Active")...)) ||
		evs[0].Object != "/georep/"+key {
		t.Errorf("create: %+v", evs)
	}

	// The Passive worker's brick fails: one event for it; staying Faulty
	// says nothing more.
	s.Workers = []state.GeoRepWorker{s.Workers[0], s.Workers[1]}
	s.Workers[1].Status = "Faulty"
	evs = step(s)
	if !reflect.DeepEqual(names(evs), []string{GeoRepFaulty}) ||
		!reflect.DeepEqual(evs[0].Fields, append(session[:len(session):len(session)],
			fields("primary_node", "n2", "primary_node_id", "u2", "brick_path", "/b2", "status", "Faulty")...)) {
		t.Errorf("faulty: %+v", evs)
	}
	s.Workers = []state.GeoRepWorker{s.Workers[0], s.Workers[1]}
	s.Workers[0].LastSynced = 1
	if got := names(step(s)); len(got) != 0 {
		t.Errorf("still faulty: %v", got)
	}

	// A checkpoint is set, then completed.
	cp := time.Date(2026, 12, 6, 18, 45, 0, 0, time.UTC)
	s.CheckpointTime = cp.UnixMicro()
	if got := names(step(s)); len(got) != 0 {
		t.Errorf("checkpoint set: %v", got)
	}
	s.Workers = []state.GeoRepWorker{s.Workers[0], s.Workers[1]}
	s.Workers[0].CheckpointCompleted = true
	s.Workers[0].CheckpointCompletionTime = cp.Add(90 * time.Second).UnixMicro()
	evs = step(s)
	if !reflect.DeepEqual(names(evs), []string{GeoRepCheckpointCompleted}) ||
		!reflect.DeepEqual(evs[0].Fields, append(session[:len(session):len(session)],
			fields("checkpoint_time", "2026-12-06 18:45:00", "completion_time", "2026-12-06 18:46:30")...)) {
		t.Errorf("checkpoint completed: %+v", evs)
	}

	if got := names(step()); !reflect.DeepEqual(got, []string{GeoRepDelete}) {
		t.Errorf("delete: %v", got)
	}
}
