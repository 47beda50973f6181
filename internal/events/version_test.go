package events

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/glusterbus/glusterbus/internal/journal"
)

func TestVolumeVersionAnnotation(t *testing.T) {
	workdir := t.TempDir()
	writeInfo := func(volume, version string) {
		dir := filepath.Join(workdir, "vols", volume)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "info"), []byte("type=0\ncount=1\nstatus=1\nversion="+version+"\ntransport-type=0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vv := &volumeVersions{read: InfoVersion(workdir), last: map[string]string{}}
	version := func(ev journal.Event) string {
		for _, f := range ev.Fields {
			if f.Key == VolumeVersionField {
				return f.Value
			}
		}
		return ""
	}
	ev := func(name, key, volume string) journal.Event {
		return journal.Event{Name: name, Source: SourceDiff, Fields: []journal.Field{{Key: key, Value: volume}}}
	}

	writeInfo("v", "7")
	evs := []journal.Event{ev(VolumeSet, "name", "v"), ev(BrickAdded, "volume", "v"), ev(BrickOffline, "volume", "v"), ev(VolumeSet, "name", "../x")}
	vv.annotate(evs)
	if got := []string{version(evs[0]), version(evs[1]), version(evs[2]), version(evs[3])}; got[0] != "7" || got[1] != "7" || got[2] != "" || got[3] != "" {
		t.Errorf("versions %q, want 7, 7 and none for a runtime event or a bad name", got)
	}
	if err := os.RemoveAll(filepath.Join(workdir, "vols", "v")); err != nil {
		t.Fatal(err)
	}
	del := []journal.Event{ev(VolumeDelete, "name", "v")}
	vv.annotate(del)
	if got := version(del[0]); got != "7" {
		t.Errorf("VOLUME_DELETE version %q, want the last one read, 7", got)
	}
}
