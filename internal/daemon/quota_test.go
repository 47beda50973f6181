package daemon

import (
	"testing"

	"github.com/glusterbus/glusterbus/internal/nativeevents"
)

func TestQuotaEventVolume(t *testing.T) {
	for _, tc := range []struct {
		datagram string
		vol      string
		ok       bool
	}{
		{"1795491251 95 Usage=6.0MB;volume=qv;path=/a", "qv", true}, // QUOTA_CROSSED_SOFT_LIMIT, from a brick
		{"1795491251 25 volume=qv", "qv", true},                     // QUOTA_ENABLE
		{"1795491251 27 volume=qv;path=/a;limit=10MB", "qv", true},  // QUOTA_SET_USAGE_LIMIT
		{"1795491251 25 volume=", "", false},
		{"1795491251 6 name=qv;options=,features.quota,on", "", false}, // VOLUME_SET
	} {
		ev, err := nativeevents.Parse([]byte(tc.datagram))
		if err != nil {
			t.Fatalf("%s: %v", tc.datagram, err)
		}
		if vol, ok := quotaEventVolume(ev); vol != tc.vol || ok != tc.ok {
			t.Errorf("%s (%s): %q %v, want %q %v", tc.datagram, ev.Name, vol, ok, tc.vol, tc.ok)
		}
	}
}
