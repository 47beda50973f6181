package nativeevents

import (
	"fmt"
	"strings"
	"testing"
)

func TestTrigger(t *testing.T) {
	for _, tc := range []struct {
		datagram string
		kind     TriggerKind
		volume   string
	}{
		// Captured datagrams.
		{"1795553031 2 name=necaprep;bricks= 127.1.250.1:/tmp/ne-capture/bricks/r1 127.1.250.1:/tmp/ne-capture/bricks/r2 127.1.250.1:/tmp/ne-capture/bricks/r3 ", TriggerVolume, "necaprep"},
		{"1795553034 3 name=necaprep;force=0", TriggerVolume, "necaprep"},
		{"1795553149 4 name=necaprep;force=0", TriggerVolume, "necaprep"},
		{"1795553155 5 name=necaprep", TriggerVolume, "necaprep"},
		{"1795553039 6 name=necaprep;options=,performance.readdir-ahead,off", TriggerVolume, "necaprep"},
		{"1795553046 7 name=necaprep;option=all", TriggerVolume, "necaprep"},
		{"1795553104 8 Volume=necaprep;source-brick=127.1.250.1:/tmp/ne-capture/bricks/r2", TriggerVolume, "necaprep"},
		{"1795553106 9 Volume=necaprep;source-brick=127.1.250.1:/tmp/ne-capture/bricks/r2;destination-brick=127.1.250.1:/tmp/ne-capture/bricks/r2", TriggerVolume, "necaprep"},
		{"1795553102 10 Volume=necaprep;source-brick=127.1.250.1:/tmp/ne-capture/bricks/r3;destination-brick=127.1.250.1:/tmp/ne-capture/bricks/r4", TriggerVolume, "necaprep"},
		{"1795553115 19 (null)", TriggerAll, ""},
		{"1795553116 21 name=necapdist;value=lazy", TriggerNone, ""},
		{"1795553108 25 volume=necapdist", TriggerVolume, "necapdist"},
		{"1795553109 27 volume=necapdist;path=/;limit=10MB", TriggerNone, ""},
		{"1795553118 36 snapshot_name=necapsnap;volume_name=necaprep;error=LVM commands not found, snapshot functionality is disabled", TriggerNone, ""},
		{"1795553034 65 svc_name=glustershd", TriggerNone, ""},
		{"1795553093 0 host=127.1.1.2", TriggerPeers, ""},
		{"1795553093 70 host=127.1.1.3;uuid=0e451d79-e99f-4400-ba85-46ba6ff2defe", TriggerPeers, ""},
		{"1795553157 71 peer=127.1.250.77;uuid=00000000-0000-0000-0000-000000000000;state=Establishing Connection", TriggerPeers, ""},
		{"1795553033 77 peer=127.1.250.1;volume=necaprep;brick=/tmp/ne-capture/bricks/r1", TriggerVolume, "necaprep"},
		{"1795553062 81 volume=necaprep", TriggerVolume, "necaprep"},
		{"1795553034 97 client_uid=x;client_identifier=127.0.0.1:49144;server_identifier=127.1.250.1:59133;brick_path=/b;subdir_mount=(null)", TriggerNone, ""},
		{"1795553034 106 client-pid=-6; subvol=necaprep-replicate-0", TriggerVolume, "necaprep"},
		{"1795553147 107 client-pid=-6; subvol=necaprep-replicate-0", TriggerVolume, "necaprep"},
		{"1795553034 108 client-pid=-6; subvol=necaprep-replicate-0", TriggerNone, ""},
		{"1795553066 123 volume=necapdist;bricks=127.1.250.1:/tmp/ne-capture/bricks/d3 ", TriggerVolume, "necapdist"},
		{"1795553072 125 volume=necapdist;bricks=127.1.250.1:/tmp/ne-capture/bricks/d3 ", TriggerVolume, "necapdist"},
		{"1795553078 127 volume=necapdist;bricks=127.1.250.1:/tmp/ne-capture/bricks/d3 ", TriggerVolume, "necapdist"},
		{"1795553087 129 volume=necapdist;bricks=127.1.250.1:/tmp/ne-capture/bricks/d4 ", TriggerVolume, "necapdist"},
		{"1795553089 131 volume=necapdist;bricks=127.1.250.1:/tmp/ne-capture/bricks/d4 ", TriggerVolume, "necapdist"},
		{"1795553095 134 volume=necapdist", TriggerVolume, "necapdist"},
		{"1795553072 137 volume=necapdist", TriggerVolume, "necapdist"},
		// Made up.
		{"1 1 host=h", TriggerPeers, ""},
		{"1 69 peer=h", TriggerPeers, ""},
		{"1 66 svc_name=quotad", TriggerNone, ""},
		{"1 76 peer=h;volume=v;brick=/b", TriggerVolume, "v"},
		{"1 80 volume=v", TriggerVolume, "v"},
		{"1 3 force=0", TriggerAll, ""},
		{"1 3 name=;force=0", TriggerAll, ""},
		{"1 3 name= v ", TriggerVolume, "v"},
		{"1 123 name=v", TriggerVolume, "v"},
		{"1 20 name=v", TriggerVolume, "v"},
		{"1 106 subvol=my-vol-2-replicate-12", TriggerVolume, "my-vol-2"},
		{"1 106 subvol=weird", TriggerAll, ""},
		{"1 106 client-pid=1", TriggerAll, ""},
		{"1 89 subvol=ec-vol-disperse-0", TriggerVolume, "ec-vol"},
		{"1 90 subvol=ec-vol-replicate-0", TriggerAll, ""},
		{"1 124 volume=v", TriggerNone, ""},
		{"1 136 volume=v", TriggerVolume, "v"},
		{"1 141 volume=v", TriggerNone, ""},
	} {
		ev := mustParse(t, tc.datagram)
		kind, vol := ev.Trigger()
		if kind != tc.kind || vol != tc.volume {
			t.Errorf("%s (%q): Trigger() = %v %q, want %v %q", ev.Name, tc.datagram, kind, vol, tc.kind, tc.volume)
		}
	}
}

func TestTriggerKindString(t *testing.T) {
	for k, want := range map[TriggerKind]string{TriggerNone: "none", TriggerVolume: "volume", TriggerPeers: "peers", TriggerAll: "all", 7: "TriggerKind(7)"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
}

// TestTriggerCaptured classifies every captured event: a volume trigger
// always names its volume.
func TestTriggerCaptured(t *testing.T) {
	counts := map[TriggerKind]int{}
	for _, c := range loadCaptured(t) {
		ev := mustParse(t, c.Datagram)
		k, v := ev.Trigger()
		counts[k]++
		if k == TriggerVolume && v == "" {
			t.Errorf("%q: TriggerVolume without a volume", c.Datagram)
		}
	}
	if counts[TriggerVolume] == 0 || counts[TriggerPeers] == 0 || counts[TriggerAll] == 0 || counts[TriggerNone] == 0 {
		t.Errorf("kinds seen: %v", counts)
	}
}

// TestTriggerAllOnlyWithoutVolume: a full read of the cluster is asked for
// only by volume events that do not say which volume; peer events re-read
// the peers.
func TestTriggerAllOnlyWithoutVolume(t *testing.T) {
	peerEvents := map[string]bool{"PEER_ATTACH": true, "PEER_DETACH": true, "PEER_CONNECT": true,
		"PEER_DISCONNECT": true, "PEER_REJECT": true}
	for n := range Count {
		name, _ := Name(n)
		subvol := "v-replicate-0"
		if strings.HasPrefix(name, "EC_") {
			subvol = "v-disperse-0"
		}
		ev := mustParse(t, fmt.Sprintf("1 %d name=v;volume=v;Volume=v;subvol=%s;peer=h;host=h", n, subvol))
		kind, _ := ev.Trigger()
		if kind == TriggerAll {
			t.Errorf("%s names its volume, yet asks for a full read", name)
		}
		if peerEvents[name] != (kind == TriggerPeers) {
			t.Errorf("%s: Trigger() = %v", name, kind)
		}
	}
}

func TestSplitBrainVolume(t *testing.T) {
	for _, tc := range []struct {
		datagram, volume string
		ok               bool
	}{
		{"1 110 client-pid=-6;subvol=sb-replicate-0;type=gfid;file=<gfid:00000000-0000-0000-0000-000000000001>/f>;count=2", "sb", true},
		{"1 110 client-pid=-6;type=data", "", false},
		{"1 106 client-pid=-6; subvol=sb-replicate-0", "", false},
	} {
		vol, ok := mustParse(t, tc.datagram).SplitBrainVolume()
		if vol != tc.volume || ok != tc.ok {
			t.Errorf("%q: SplitBrainVolume() = %q %v, want %q %v", tc.datagram, vol, ok, tc.volume, tc.ok)
		}
	}
}

func TestIsSnapshot(t *testing.T) {
	if ev := mustParse(t, "1795553118 35 snapshot_name=s1;volume_name=v;snapshot_uuid=u"); !ev.IsSnapshot() {
		t.Errorf("%s is not a snapshot event", ev.Name)
	}
	if ev := mustParse(t, "1795553155 5 name=v"); ev.IsSnapshot() {
		t.Errorf("%s is a snapshot event", ev.Name)
	}
}

func TestIsGeoRep(t *testing.T) {
	if ev := mustParse(t, "1795553118 91 primary_volume=pv;secondary_host=sec;secondary_volume=sv;brick_path=/b"); !ev.IsGeoRep() {
		t.Errorf("%s is not a geo-replication event", ev.Name)
	}
	if ev := mustParse(t, "1795553155 5 name=v"); ev.IsGeoRep() {
		t.Errorf("%s is a geo-replication event", ev.Name)
	}
}
