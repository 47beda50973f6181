package gluster

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The files in testdata/ were captured from glusterfs 10.3 by
// capture_test.go, on a cluster of three nodes 127.1.<net>.1-3 whose bricks
// live under <dir>/n<node>/bricks/<name>.

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// node1UUID is the UUID of the node the captures were made on.
func node1UUID(t *testing.T) string {
	t.Helper()
	u, ok := strings.CutPrefix(strings.TrimSpace(string(readTestdata(t, "uuid-get.txt"))), "UUID: ")
	if !ok || len(u) != 36 {
		t.Fatalf("uuid-get.txt: %q", u)
	}
	return u
}

// hostNode returns the node number of a 127.1.<net>.<node> address.
func hostNode(host string) string {
	return host[strings.LastIndexByte(host, '.')+1:]
}

func volumesByName(t *testing.T, file string) map[string]Volume {
	t.Helper()
	vols, err := ParseVolumeInfo(readTestdata(t, file))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]Volume{}
	for _, v := range vols {
		m[v.Name] = v
	}
	return m
}

func TestParseVolumeInfoCaptured(t *testing.T) {
	vols := volumesByName(t, "volume-info-all.xml")
	cases := []struct {
		name, typ, status                    string
		bricks, dist, replica, arbiter, disp uint32
		redundancy                           uint32
		brickDirs                            []string // node/name of every brick
	}{
		{"dist", "Distribute", "Started", 3, 3, 1, 0, 0, 0, []string{"1/dist", "2/dist", "3/dist"}},
		{"rep3", "Replicate", "Started", 3, 1, 3, 0, 0, 0, []string{"1/rep3", "2/rep3", "3/rep3"}},
		{"arb", "Replicate", "Started", 3, 1, 3, 1, 0, 0, []string{"1/arb", "2/arb", "3/arb"}},
		{"disp", "Disperse", "Started", 3, 1, 1, 0, 3, 1, []string{"1/disp", "2/disp", "3/disp"}},
		{"distrep", "Distributed-Replicate", "Started", 6, 2, 3, 0, 0, 0,
			[]string{"1/distrep-a", "2/distrep-a", "3/distrep-a", "1/distrep-b", "2/distrep-b", "3/distrep-b"}},
		{"distdisp", "Distributed-Disperse", "Started", 6, 2, 1, 0, 3, 1,
			[]string{"1/distdisp-a", "2/distdisp-a", "3/distdisp-a", "1/distdisp-b", "2/distdisp-b", "3/distdisp-b"}},
		{"created", "Replicate", "Created", 3, 1, 3, 0, 0, 0, []string{"1/created", "2/created", "3/created"}},
		{"stopped", "Distribute", "Stopped", 2, 2, 1, 0, 0, 0, []string{"1/stopped", "2/stopped"}},
		{"opts", "Distribute", "Started", 1, 1, 1, 0, 0, 0, []string{"1/opts"}},
	}
	if len(vols) != len(cases) {
		t.Errorf("%d volumes, want %d", len(vols), len(cases))
	}
	self := node1UUID(t)
	for _, tc := range cases {
		v, ok := vols[tc.name]
		if !ok {
			t.Errorf("volume %s missing", tc.name)
			continue
		}
		got := []any{v.Type, v.Status, v.BrickCount, v.DistCount, v.ReplicaCount, v.ArbiterCount, v.DisperseCount, v.RedundancyCount, v.Transport, v.SnapshotCount}
		exp := []any{tc.typ, tc.status, tc.bricks, tc.dist, tc.replica, tc.arbiter, tc.disp, tc.redundancy, "tcp", uint32(0)}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%s: type, status, bricks, dist, replica, arbiter, disperse, redundancy, transport, snapshots = %v, want %v", tc.name, got, exp)
		}
		if len(v.ID) != 36 {
			t.Errorf("%s: ID %q", tc.name, v.ID)
		}
		if len(v.Bricks) != len(tc.brickDirs) {
			t.Errorf("%s: %d bricks, want %d", tc.name, len(v.Bricks), len(tc.brickDirs))
			continue
		}
		for i, b := range v.Bricks {
			node, name, _ := strings.Cut(tc.brickDirs[i], "/")
			if hostNode(b.Host) != node || !strings.HasPrefix(b.Host, "127.1.") ||
				!strings.HasSuffix(b.Path, "/n"+node+"/bricks/"+name) || b.Name != b.Host+":"+b.Path {
				t.Errorf("%s brick %d = %+v, want node %s brick %s", tc.name, i, b, node, name)
			}
			if (node == "1") != (b.HostUUID == self) || len(b.HostUUID) != 36 {
				t.Errorf("%s brick %d: host UUID %s (node 1 is %s)", tc.name, i, b.HostUUID, self)
			}
			if wantArb := tc.name == "arb" && i == 2; b.IsArbiter != wantArb {
				t.Errorf("%s brick %d: IsArbiter %v", tc.name, i, b.IsArbiter)
			}
		}
	}

	wantOpts := map[string]string{
		"user.note":                   "hello world",
		"diagnostics.brick-log-level": "WARNING",
		"auth.allow":                  "127.*",
		"performance.cache-size":      "64MB",
		"storage.fips-mode-rchecksum": "on",
		"transport.address-family":    "inet",
		"nfs.disable":                 "on",
	}
	if got := vols["opts"].Options; !reflect.DeepEqual(got, wantOpts) {
		t.Errorf("opts options = %v, want %v", got, wantOpts)
	}
	if got := vols["rep3"].Options["cluster.granular-entry-heal"]; got != "on" {
		t.Errorf("rep3 cluster.granular-entry-heal = %q", got)
	}

	// The single-volume outputs describe the same volumes.
	for file, name := range map[string]string{"volume-info-arb.xml": "arb", "volume-info-rep3-node3-down.xml": "rep3"} {
		one := volumesByName(t, file)
		if len(one) != 1 || !reflect.DeepEqual(one[name], vols[name]) {
			t.Errorf("%s = %+v, want %+v", file, one, vols[name])
		}
	}
}

func TestParseVolumeInfoNone(t *testing.T) {
	vols, err := ParseVolumeInfo(readTestdata(t, "volume-info-none.xml"))
	if err != nil || len(vols) != 0 {
		t.Fatalf("= %v, %v; want none", vols, err)
	}
}

// The CLI exits 0 for these: the failure is only in <opRet>.
func TestParseCapturedErrors(t *testing.T) {
	cases := []struct {
		file    string
		parse   func([]byte) error
		errno   int
		message string
	}{
		{"error-volume-info-missing.xml", func(b []byte) error { _, err := ParseVolumeInfo(b); return err }, 30806, "Volume does not exist"},
		{"error-volume-status-missing-detail.xml", func(b []byte) error { _, err := ParseVolumeStatusDetail(b); return err }, 30800, "Volume missing does not exist"},
		{"error-volume-status-stopped-detail.xml", func(b []byte) error { _, err := ParseVolumeStatusDetail(b); return err }, 30800, "Volume stopped is not started"},
		{"error-volume-status-created-detail.xml", func(b []byte) error { _, err := ParseVolumeStatusDetail(b); return err }, 30800, "Volume created is not started"},
	}
	for _, tc := range cases {
		err := tc.parse(readTestdata(t, tc.file))
		var ce *CLIError
		if !errors.As(err, &ce) {
			t.Errorf("%s: error %v, want *CLIError", tc.file, err)
			continue
		}
		if ce.OpRet != -1 || ce.OpErrno != tc.errno || ce.Message != tc.message {
			t.Errorf("%s: %+v", tc.file, ce)
		}
		if errors.Is(err, ErrLocked) {
			t.Errorf("%s: is ErrLocked", tc.file)
		}
		if err := CheckOutput(readTestdata(t, tc.file)); !errors.As(err, &ce) {
			t.Errorf("%s: CheckOutput = %v", tc.file, err)
		}
	}
}

func bricksByVolume(t *testing.T, file string) map[string][]BrickStatus {
	t.Helper()
	st, err := ParseVolumeStatusDetail(readTestdata(t, file))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]BrickStatus{}
	for _, b := range st {
		m[b.Volume] = append(m[b.Volume], b)
	}
	return m
}

func TestParseVolumeStatusDetailCaptured(t *testing.T) {
	self := node1UUID(t)
	// Only started volumes are listed: not "created", not "stopped".
	want := map[string]int{"dist": 3, "rep3": 3, "arb": 3, "disp": 3, "distrep": 6, "distdisp": 6, "opts": 1}
	vols := bricksByVolume(t, "volume-status-all-detail.xml")
	if len(vols) != len(want) {
		t.Errorf("volumes %v, want %v", vols, want)
	}
	for name, n := range want {
		bricks := vols[name]
		if len(bricks) != n {
			t.Errorf("%s: %d bricks, want %d", name, len(bricks), n)
		}
		for _, b := range bricks {
			if !b.Online || b.Pid <= 0 || b.Port < 1024 || b.SizeTotal == 0 || b.SizeFree == 0 || b.SizeFree > b.SizeTotal ||
				b.InodesTotal == 0 || b.InodesFree == 0 || b.Device == "" || b.FsName == "" || b.MountOptions == "" ||
				!strings.Contains(b.Path, "/bricks/"+name) || len(b.HostUUID) != 36 {
				t.Errorf("%s: %+v", name, b)
			}
			if (hostNode(b.Host) == "1") != (b.HostUUID == self) {
				t.Errorf("%s: host %s has UUID %s (node 1 is %s)", name, b.Host, b.HostUUID, self)
			}
		}
	}

	distrep := bricksByVolume(t, "volume-status-distrep-detail.xml")
	if len(distrep) != 1 || len(distrep["distrep"]) != 6 {
		t.Errorf("distrep status: %+v", distrep)
	}
}

func TestParseVolumeStatusDetailBrickKilled(t *testing.T) {
	bricks := bricksByVolume(t, "volume-status-rep3-brick-killed-detail.xml")["rep3"]
	if len(bricks) != 3 {
		t.Fatalf("%d bricks, want 3", len(bricks))
	}
	for _, b := range bricks {
		killed := hostNode(b.Host) == "2"
		if b.Online == killed {
			t.Errorf("brick %s: online %v", b.Host, b.Online)
		}
		if killed && (b.Pid != -1 || b.Port != 0) {
			t.Errorf("killed brick: pid %d port %d, want -1 and 0", b.Pid, b.Port)
		}
		// glusterd reports the file system of an offline brick anyway.
		if b.SizeTotal == 0 || b.FsName == "" {
			t.Errorf("brick %s: %+v", b.Host, b)
		}
	}
}

func TestParseVolumeStatusDetailNodeDown(t *testing.T) {
	// Node 3's glusterd is stopped: gluster leaves out its bricks.
	vols := bricksByVolume(t, "volume-status-all-detail-node3-down.xml")
	want := map[string]int{"dist": 2, "rep3": 2, "arb": 2, "disp": 2, "distrep": 4, "distdisp": 4, "opts": 1}
	for name, n := range want {
		if len(vols[name]) != n {
			t.Errorf("%s: %d bricks, want %d", name, len(vols[name]), n)
		}
		for _, b := range vols[name] {
			if hostNode(b.Host) == "3" || !b.Online {
				t.Errorf("%s: %+v", name, b)
			}
		}
	}
}

func TestParseVolumeStatusDetailNone(t *testing.T) {
	st, err := ParseVolumeStatusDetail(readTestdata(t, "volume-status-none-detail.xml"))
	if err != nil || len(st) != 0 {
		t.Fatalf("= %v, %v; want none", st, err)
	}
}

func TestParsePeerStatusCaptured(t *testing.T) {
	self := node1UUID(t)
	for _, tc := range []struct {
		file      string
		connected []bool
	}{
		{"peer-status.xml", []bool{true, true}},
		{"peer-status-node3-down.xml", []bool{true, false}},
	} {
		peers, err := ParsePeerStatus(readTestdata(t, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if len(peers) != 2 {
			t.Fatalf("%s: %d peers", tc.file, len(peers))
		}
		for i, p := range peers {
			node := []string{"2", "3"}[i]
			// A disconnected peer stays "Peer in Cluster".
			if hostNode(p.Hostname) != node || !reflect.DeepEqual(p.Hostnames, []string{p.Hostname}) ||
				p.Connected != tc.connected[i] || p.State != "Peer in Cluster" || len(p.UUID) != 36 || p.UUID == self {
				t.Errorf("%s: peer %d = %+v", tc.file, i, p)
			}
		}
	}
}

func TestParsePoolListCaptured(t *testing.T) {
	for _, file := range []string{"pool-list.xml", "pool-list-node3-down.xml"} {
		self, peers, err := ParsePoolList(readTestdata(t, file))
		if err != nil {
			t.Fatal(err)
		}
		if self.UUID != node1UUID(t) || self.Hostname != "localhost" || !self.Connected || self.State != "" {
			t.Errorf("%s: self = %+v", file, self)
		}
		if len(peers) != 2 || hostNode(peers[0].Hostname) != "2" || hostNode(peers[1].Hostname) != "3" {
			t.Errorf("%s: peers = %+v", file, peers)
		}
		if down := file == "pool-list-node3-down.xml"; peers[1].Connected == down {
			t.Errorf("%s: node 3 = %+v", file, peers[1])
		}
	}
	if _, _, err := ParsePoolList(readTestdata(t, "peer-status.xml")); err == nil {
		t.Error("peer status taken for a pool list")
	}
}

func TestParseOpVersionCaptured(t *testing.T) {
	v, err := ParseOpVersion(readTestdata(t, "op-version.xml"))
	if err != nil || v != 100000 {
		t.Fatalf("= %d, %v; want 100000", v, err)
	}
}

func TestParseVersionCaptured(t *testing.T) {
	v, err := ParseVersion(string(readTestdata(t, "version.txt")))
	if err != nil || v != "10.3" {
		t.Fatalf("= %q, %v; want 10.3", v, err)
	}
	if _, err := ParseVersion("gluster: command not found"); err == nil {
		t.Error("nonsense accepted")
	}
}

func TestErrorKinds(t *testing.T) {
	data, err := os.ReadFile("testdata/error-volume-info-missing.xml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseVolumeInfo(data)
	if !errors.Is(err, ErrNoVolume) || errors.Is(err, ErrLocked) || errors.Is(err, ErrNoGlusterd) {
		t.Fatalf("missing volume: %v", err)
	}
	down := &CLIError{ExitCode: 1, Message: "Connection failed. Please check if gluster daemon is operational."}
	if !errors.Is(down, ErrNoGlusterd) || errors.Is(down, ErrNoVolume) {
		t.Fatalf("glusterd down: %v", down)
	}
	locked := &CLIError{Message: "Another transaction is in progress for gv0. Please try again after some time."}
	if !errors.Is(locked, ErrLocked) {
		t.Fatalf("locked: %v", locked)
	}
}
