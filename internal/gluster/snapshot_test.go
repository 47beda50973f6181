package gluster

import (
	"errors"
	"os"
	"testing"
)

func TestParseSnapshotInfo(t *testing.T) {
	read := func(name string) []byte {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	snaps, err := ParseSnapshotInfo(read("r10-snapshot-info.xml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Snapshot{
		{Name: "nightly_GMT-2026.12.05-02.00.01", ID: "6c0a6b2e-59b7-4a43-9a5c-0bd1f8b5a0e1", Description: "before the upgrade",
			CreateTime: "2026-12-05 02:00:01", OriginVolume: "rep3", SnapVolume: "2f9c7f4f0b8a4e5d9d6b1c2a3e4f5a6b", Status: "Started"},
		{Name: "manual", ID: "0d3e8f1a-2b4c-4d6e-8f0a-1b2c3d4e5f60", CreateTime: "2026-12-05 14:31:07",
			OriginVolume: "rep3", SnapVolume: "7a1b2c3d4e5f40718293a4b5c6d7e8f9", Status: "Stopped"},
	}
	if len(snaps) != len(want) || snaps[0] != want[0] || snaps[1] != want[1] {
		t.Errorf("snapshots\n %+v\nwant\n %+v", snaps, want)
	}
	if snaps, err := ParseSnapshotInfo(read("r10-snapshot-info-none.xml")); err != nil || len(snaps) != 0 || snaps == nil {
		t.Errorf("none: %+v, %v", snaps, err)
	}
	if _, err := ParseSnapshotInfo(read("error-snapshot-info-no-lvm.xml")); !errors.Is(err, ErrSnapshotsUnavailable) {
		t.Errorf("no LVM: %v, want ErrSnapshotsUnavailable", err)
	}
	if _, err := ParseSnapshotInfo([]byte(`<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/></cliOutput>`)); err == nil {
		t.Error("a document without <snapInfo> was read as no snapshots")
	}
}

func FuzzParseSnapshotInfo(f *testing.F) {
	for _, name := range []string{"testdata/r10-snapshot-info.xml", "testdata/r10-snapshot-info-none.xml", "testdata/error-snapshot-info-no-lvm.xml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		snaps, err := ParseSnapshotInfo(data)
		if err != nil {
			return
		}
		for _, s := range snaps {
			if s.Name == "" {
				t.Fatalf("snapshot %+v", s)
			}
		}
	})
}
