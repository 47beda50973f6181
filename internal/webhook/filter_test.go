package webhook

import (
	"testing"

	"github.com/glusterbus/glusterbus/internal/journal"
)

func TestFilter(t *testing.T) {
	start := journal.Event{Name: "VOLUME_START", Source: SourceNative, Fields: []journal.Field{{Key: "name", Value: "gv0"}}}
	diff := journal.Event{Name: "VOLUME_START", Source: SourceDiff, Fields: []journal.Field{{Key: "name", Value: "gv1"}}}
	peer := journal.Event{Name: "PEER_CONNECT", Source: SourceNative}
	cases := []struct {
		events, volumes, sources []string
		want                     [3]bool
	}{
		{nil, nil, nil, [3]bool{true, false, true}},
		{nil, nil, []string{"native", "diff"}, [3]bool{true, true, true}},
		{[]string{"volume_*"}, nil, []string{"diff"}, [3]bool{false, true, false}},
		{nil, []string{"gv0"}, []string{"native", "diff"}, [3]bool{true, false, false}},
		{[]string{"*"}, nil, nil, [3]bool{true, false, true}},
	}
	for _, c := range cases {
		f, err := NewFilter(c.events, c.volumes, c.sources)
		if err != nil {
			t.Fatal(err)
		}
		got := [3]bool{f.Match(&start), f.Match(&diff), f.Match(&peer)}
		if got != c.want {
			t.Errorf("events %v volumes %v sources %v: got %v, want %v", c.events, c.volumes, c.sources, got, c.want)
		}
	}
	for _, bad := range [][3][]string{{{"VOL-*"}}, {nil, {""}}, {nil, nil, {"test"}}} {
		if _, err := NewFilter(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("NewFilter(%q) accepted", bad)
		}
	}
}
