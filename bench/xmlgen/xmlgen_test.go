package xmlgen

import (
	"testing"

	"github.com/glusterbus/glusterbus/internal/gluster"
)

func TestGeneratedOutputsParse(t *testing.T) {
	tpl, err := Load("../../internal/gluster/testdata")
	if err != nil {
		t.Fatal(err)
	}
	vols := Volumes(10, 4)
	info, err := gluster.ParseVolumeInfo(tpl.VolumeInfo(vols))
	if err != nil {
		t.Fatal(err)
	}
	if len(info) != 10 {
		t.Fatalf("%d volumes", len(info))
	}
	bricks := map[string]bool{}
	for i, v := range info {
		want := "Stopped"
		if i < 4 {
			want = "Started"
		}
		if v.Name != Name(i) || v.ID != ID(v.Name) || v.Status != want || v.Type != "Replicate" || len(v.Bricks) != 3 {
			t.Fatalf("volume %d: %+v", i, v)
		}
		for _, b := range v.Bricks {
			if bricks[b.Name] {
				t.Fatalf("brick %s twice", b.Name)
			}
			bricks[b.Name] = true
		}
	}
	st, err := gluster.ParseVolumeStatusDetail(tpl.VolumeStatusDetail(vols))
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 12 {
		t.Fatalf("%d bricks in status, want 12", len(st))
	}
	pids := map[int64]bool{}
	for _, b := range st {
		if !bricks[b.Host+":"+b.Path] || !b.Online || b.Port == 0 || pids[b.Pid] {
			t.Fatalf("status brick %+v", b)
		}
		pids[b.Pid] = true
	}
	if _, err := gluster.ParseVolumeStatusDetail(tpl.VolumeStatusDetail(nil)); err != nil {
		t.Fatal(err)
	}
}
