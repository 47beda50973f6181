package refresh

import (
	"errors"
	"testing"
)

// Snapshots are read when asked; a failed read keeps them, a node without
// LVM tools has none, and a full read asks for them only where some volume
// counts snapshots.
func TestSnapshots(t *testing.T) {
	e := newEnv(t, Options{})
	e.all()
	if n := len(e.model.Snapshots()); n != 0 {
		t.Fatalf("%d snapshots on a node without LVM tools", n)
	}
	if n := e.src.count(snapshotsCall); n != 0 {
		t.Errorf("snapshot info ran %d times in a full read of volumes without snapshots", n)
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
	if err := e.r.readSnapshots(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.model.Snapshots()); n != 2 {
		t.Errorf("%d snapshots after a failed read, want 2", n)
	}
	e.src.setSnapshots("r10-snapshot-info-none.xml")
	if err := e.r.readSnapshots(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.model.Snapshots()); n != 0 {
		t.Errorf("%d snapshots after all were deleted", n)
	}
}
