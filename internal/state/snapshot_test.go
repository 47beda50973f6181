package state

import (
	"sync"
	"testing"
)

func TestSnapshotIsACopy(t *testing.T) {
	m := NewModel()
	m.SetVolume("gv0", replica3("gv0", true, true, false))
	m.SetPeers(map[string]*Peer{"u1": {UUID: "u1", Hostname: "n1", Connected: true}})
	m.UpdateService(func(s *Service) { s.Webhooks = []WebhookState{{URL: "http://x", State: "ok"}} })

	s := m.Snapshot()
	if len(s.Volumes) != 1 || s.Volumes["gv0"].OnlineBrickCount() != 2 || !s.Peers["u1"].Connected || len(s.Service.Webhooks) != 1 {
		t.Fatalf("snapshot does not show the model: %+v", s)
	}
	s.Volumes["gv0"].Status = "Stopped"
	delete(s.Volumes, "gv0")
	s.Peers["u1"].Connected = false
	s.Service.Webhooks[0].State = "changed"

	if v, ok := m.Volume("gv0"); !ok || v.Status != "Started" {
		t.Fatalf("changing the snapshot changed the model's volume: %+v %v", v, ok)
	}
	if !m.Peers()["u1"].Connected || m.Service().Webhooks[0].State != "ok" {
		t.Fatal("changing the snapshot changed the model's peers or service")
	}
}

func TestSnapshotWhileUpdating(t *testing.T) {
	m := NewModel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 200 {
			m.SetVolume("gv0", replica3("gv0", i%2 == 0, true, true))
			m.SetPeers(map[string]*Peer{"u1": {UUID: "u1", Connected: i%2 == 0}})
		}
	}()
	for range 200 {
		s := m.Snapshot()
		for _, v := range s.Volumes {
			_ = v.Health()
		}
		_ = s.Objects()
	}
	wg.Wait()
}
