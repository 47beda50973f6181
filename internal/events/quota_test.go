package events

import (
	"reflect"
	"testing"

	"github.com/glusterbus/glusterbus/internal/state"
)

func TestQuotaEvents(t *testing.T) {
	m := state.NewModel()
	m.SetAll(state.NewSnapshot())
	m.SetVolume("gv0", vol("Started", nil, true))
	limit := func(path string, used uint64) state.QuotaLimit {
		l := state.QuotaLimit{Path: path, HardLimit: 100, SoftLimit: 80, Used: used}
		l.SoftExceeded, l.HardExceeded = used > 80, used >= 100
		if used < 100 {
			l.Available = 100 - used
		}
		return l
	}
	step := func(on bool, limits ...state.QuotaLimit) []string {
		v := vol("Started", map[string]string{}, true)
		if on {
			v.Options["features.quota"] = "on"
		}
		v.QuotaLimits = limits
		var out []string
		for _, e := range FromChanges(m.SetVolume("gv0", v), "node-1", pathOf) {
			if e.Name != VolumeSet && e.Name != VolumeReset {
				out = append(out, e.Name)
			}
		}
		return out
	}
	for i, tc := range []struct {
		on     bool
		limits []state.QuotaLimit
		want   []string
	}{
		{true, nil, []string{QuotaEnable}},
		// First seen past its soft limit: nothing says when it crossed.
		{true, []state.QuotaLimit{limit("/a", 10), limit("/b", 90)}, nil},
		{true, []state.QuotaLimit{limit("/a", 85), limit("/b", 95)}, []string{QuotaCrossedSoftLimit}},
		{true, []state.QuotaLimit{limit("/a", 85), limit("/b", 100)}, []string{QuotaCrossedHardLimit}},
		{true, []state.QuotaLimit{limit("/a", 10), limit("/b", 10)}, nil},
		{true, []state.QuotaLimit{limit("/a", 100), limit("/b", 10)}, []string{QuotaCrossedSoftLimit, QuotaCrossedHardLimit}},
		// Off: the limits are no longer shown, whatever the model keeps.
		{false, []state.QuotaLimit{limit("/a", 100)}, []string{QuotaDisable}},
	} {
		if got := step(tc.on, tc.limits...); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("step %d: events %v, want %v", i, got, tc.want)
		}
	}

	// The fields of a crossing.
	step(true, limit("/a", 10))
	evs := FromChanges(func() []state.Change {
		v := vol("Started", map[string]string{"features.quota": "on"}, true)
		v.QuotaLimits = []state.QuotaLimit{limit("/a", 90)}
		return m.SetVolume("gv0", v)
	}(), "node-1", pathOf)
	want := fields("volume", "gv0", "path", "/a", "used", "90", "soft_limit", "80", "hard_limit", "100")
	if len(evs) != 1 || evs[0].Name != QuotaCrossedSoftLimit || !reflect.DeepEqual(evs[0].Fields, want) || evs[0].Source != SourceDiff {
		t.Fatalf("events %+v", evs)
	}
}
