package exporter

import (
	"testing"

	"github.com/glusterbus/glusterbus/internal/state"
)

// A session's path names its primary and secondary without ambiguity, even
// where they hold "_" or the secondary begins with an escaped byte.
func TestGeoRepPath(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range [][2]string{
		{"pv", "geo@sec1.example.com::sv"},
		{"p_v", "sec::sv"},
		{"p", "_v@sec::sv"},
		{"p_5f", "sec::sv"},
		{"p", "5f_sec::sv"},
		{"a", "bc_x::y"},
		{"a_bc", "x::y"},
	} {
		p := Path(state.Ref{Kind: state.KindGeoRep, Key: state.GeoRepKey(c[0], c[1])})
		if seen[string(p)] {
			t.Errorf("%v: path %s taken", c, p)
		}
		seen[string(p)] = true
		if !p.IsValid() {
			t.Errorf("%v: invalid path %s", c, p)
		}
		primary, secondary, ok := GeoRepSession(p)
		if !ok || primary != c[0] || secondary != c[1] {
			t.Errorf("%s: %q %q %v, want %q %q", p, primary, secondary, ok, c[0], c[1])
		}
	}
	if got := Path(state.Ref{Kind: state.KindGeoRep, Key: state.GeoRepKey("pv", "geo@sec::sv")}); got !=
		"/org/storaged/Storaged/glusterfs/georep/pv__geo_40sec_3a_3asv" {
		t.Errorf("path %s", got)
	}
}
