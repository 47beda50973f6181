package events

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/glusterbus/glusterbus/internal/journal"
)

// VolumeVersionField is the field of a volume's or brick's configuration
// event that holds glusterd's version of the volume's configuration when
// the change was journaled. glusterd raises it with every committed change
// and stores it alike on every node, so it orders one volume's changes and
// lets the same change seen by several nodes be recognised as one.
const VolumeVersionField = "volume_version"

// configEvents are the events about a volume's configuration, with the key
// of the field that names the volume.
var configEvents = map[string]string{
	VolumeCreate: "name", VolumeDelete: "name", VolumeStart: "name", VolumeStop: "name",
	VolumeSet: "name", VolumeReset: "name", BrickAdded: "volume", BrickRemoved: "volume",
}

// IsConfigEvent tells whether a diff event of this name is about a volume's
// configuration (and so carries VolumeVersionField where it is known).
func IsConfigEvent(name string) bool { _, ok := configEvents[name]; return ok }

// volumeVersions adds VolumeVersionField to configuration events. A deleted
// volume's info file is gone, so VOLUME_DELETE gets the last version read.
type volumeVersions struct {
	read func(volume string) string
	mu   sync.Mutex
	last map[string]string
}

func (vv *volumeVersions) annotate(evs []journal.Event) {
	vv.mu.Lock()
	defer vv.mu.Unlock()
	for i := range evs {
		ev := &evs[i]
		key, ok := configEvents[ev.Name]
		if !ok || ev.Source != SourceDiff {
			continue
		}
		var volume string
		for _, f := range ev.Fields {
			if f.Key == key {
				volume = f.Value
			}
		}
		v := vv.read(volume)
		if ev.Name == VolumeDelete {
			v = vv.last[volume]
			delete(vv.last, volume)
		} else if v != "" {
			vv.last[volume] = v
		}
		if v != "" {
			ev.Fields = append(ev.Fields, journal.Field{Key: VolumeVersionField, Value: v})
		}
	}
}

// SetVolumeVersion makes the recorder add VolumeVersionField to volume
// configuration events, read by read (see InfoVersion).
func (r *Recorder) SetVolumeVersion(read func(volume string) string) {
	r.versions.Store(&volumeVersions{read: read, last: map[string]string{}})
}

// InfoVersion returns a reader of the version glusterd stores in
// <workdir>/vols/<volume>/info ("" when it cannot be read).
func InfoVersion(workdir string) func(volume string) string {
	return func(volume string) string {
		if volume == "" || strings.ContainsAny(volume, "/\x00") || volume == "." || volume == ".." {
			return ""
		}
		f, err := os.Open(filepath.Join(workdir, "vols", volume, "info"))
		if err != nil {
			return ""
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "version="); ok {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
}
