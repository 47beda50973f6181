package state

import "testing"

func TestGeoRepStatus(t *testing.T) {
	for _, c := range []struct {
		workers []string
		want    string
	}{
		{nil, GeoRepStopped},
		{[]string{"Active", "Passive"}, GeoRepActive},
		{[]string{"Passive", "Passive"}, GeoRepPassive},
		{[]string{"Active", "Faulty"}, GeoRepFaulty},
		{[]string{"Active", "Config Corrupted"}, GeoRepFaulty},
		{[]string{"Active", "Initializing"}, GeoRepInitializing},
		{[]string{"Active", ""}, GeoRepInitializing},
		{[]string{"Paused", "Paused"}, GeoRepPaused},
		{[]string{"Created", "Created"}, GeoRepCreated},
		{[]string{"Stopped", "Stopped"}, GeoRepStopped},
		{[]string{"Stopped", "something new"}, GeoRepStopped},
	} {
		s := GeoRepSession{}
		for _, st := range c.workers {
			s.Workers = append(s.Workers, GeoRepWorker{Status: st})
		}
		if got := s.Status(); got != c.want {
			t.Errorf("%q: %s, want %s", c.workers, got, c.want)
		}
	}
}

func TestGeoRepCheckpoint(t *testing.T) {
	s := GeoRepSession{Workers: []GeoRepWorker{{Status: "Active", CheckpointCompleted: true}, {Status: "Passive"}}}
	if s.CheckpointCompleted() {
		t.Error("completed without a checkpoint")
	}
	s.CheckpointTime = 1
	if !s.CheckpointCompleted() {
		t.Error("not completed")
	}
	s.Workers = append(s.Workers, GeoRepWorker{Status: "Active"})
	if s.CheckpointCompleted() {
		t.Error("completed with an Active worker not done")
	}
	s.Workers = []GeoRepWorker{{Status: "Stopped", CheckpointCompleted: true}}
	if s.CheckpointCompleted() {
		t.Error("completed without an Active worker")
	}
}

// Sessions come and go with SetGeoReps; a full read keeps them.
func TestSetGeoReps(t *testing.T) {
	m := NewModel()
	m.SetAll(NewSnapshot())
	key := GeoRepKey("pv", "geo@sec::sv")
	if p, s := SplitGeoRepKey(key); p != "pv" || s != "geo@sec::sv" {
		t.Errorf("split %q: %q %q", key, p, s)
	}
	s := &GeoRepSession{PrimaryVolume: "pv", Secondary: "geo@sec::sv", Workers: []GeoRepWorker{{PrimaryNode: "n1", Status: "Active"}}}
	changes := m.SetGeoReps(map[string]*GeoRepSession{key: s})
	if len(changes) != 1 || changes[0].Type != Added || changes[0].Ref != (Ref{KindGeoRep, key}) {
		t.Fatalf("added: %+v", changes)
	}
	m.SetAll(NewSnapshot())
	if len(m.GeoReps()) != 1 {
		t.Fatal("a full read dropped the sessions")
	}
	f := *s
	f.Workers = []GeoRepWorker{{PrimaryNode: "n1", Status: "Faulty"}}
	changes = m.SetGeoReps(map[string]*GeoRepSession{key: &f})
	if len(changes) != 1 || changes[0].Type != Modified || len(changes[0].Props) != 2 ||
		changes[0].Props[0].Name != "Status" || changes[0].Props[1].Name != "Workers" {
		t.Fatalf("faulty: %+v", changes)
	}
	if changes := m.SetGeoReps(map[string]*GeoRepSession{key: &f}); len(changes) != 0 {
		t.Errorf("the same sessions changed: %+v", changes)
	}
	if changes := m.SetGeoReps(map[string]*GeoRepSession{}); len(changes) != 1 || changes[0].Type != Removed {
		t.Errorf("removed: %+v", changes)
	}
}
