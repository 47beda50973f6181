package refresh

import (
	"errors"
	"testing"
)

// Snapshots are read when asked and at every full read; a failed read keeps
// them, and a node without LVM tools has none.
func TestSnapshots(t *testing.T) {
	e := newEnv(t, Options{})
	e.all()
	if n := len(e.model.Snapshots()); n != 0 {
		t.Fatalf("%d snapshots on a node without LVM tools", n)
	}
	e.src.setSnapshots("r10-snapshot-info.xml")
	e.r.TriggerSnapshots()
	waitFor(t, "the snapshots", func() bool { return len(e.model.Snapshots()) == 2 })
	s := e.model.Snapshots()["manual"]
	if s.ID != "0d3e8f1a-2b4c-4d6e-8f0a-1b2c3d4e5f60" || s.OriginVolume != "rep3" || s.Status != "Stopped" ||
		s.CreateTime != "2026-12-05 14:31:07" {
		t.Errorf("manual = %+v", s)
	}

	e.src.fail(snapshotsCall, errors.New("gluster snapshot info: killed after timeout"))
	e.all()
	if n := len(e.model.Snapshots()); n != 2 {
		t.Errorf("%d snapshots after a full read whose snapshot read failed, want 2", n)
	}
	e.all()
	if n := len(e.model.Snapshots()); n != 2 {
		t.Errorf("%d snapshots after a full read, want 2", n)
	}
	e.src.setSnapshots("r10-snapshot-info-none.xml")
	e.all()
	if n := len(e.model.Snapshots()); n != 0 {
		t.Errorf("%d snapshots after all were deleted", n)
	}
}
