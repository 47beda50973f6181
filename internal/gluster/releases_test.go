package gluster

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The files testdata/r<release>-*.xml are shaped after what the CLI of that
// release writes (cli/src/cli-xml-output.c and cli-rpc-ops.c of the
// release's source); testdata/shape-*.xml are shapes seen in outputs of
// several releases or of broken runs. See testdata/README.md.

const (
	uuidA = "3c6f1e2a-5b7d-4f8e-9a0b-1c2d3e4f5a77"
	uuidB = "4d7a2f3b-6c8e-4a9f-8b1c-2d3e4f5a6b88"
)

func TestParseOpVersionReleases(t *testing.T) {
	for _, tc := range []struct {
		file string
		want uint32
		err  string // part of the error; "" for none
	}{
		{"op-version.xml", 100000, ""},
		{"r3.8-op-version-no-opt.xml", 30800, ""},
		{"r3.8-volume-get-no-opt-several.xml", 30712, ""},
		{"shape-op-version-na.xml", 0, `"N/A", not a number`},
		{"shape-op-version-no-payload.xml", 0, "no cluster.op-version"},
		{"r3.7-error-volume-get-null-errstr.xml", 0, "volume get option: failed: Volume all does not exist"},
	} {
		got, err := ParseOpVersion(readTestdata(t, tc.file))
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("%s: = %d, %v; want %d", tc.file, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: = %d, %v; want an error with %q", tc.file, got, err, tc.err)
		}
	}

	// Options without <Opt> are paired by their order; a document where
	// they cannot be is refused rather than guessed at.
	const unpaired = `<cliOutput><opRet>0</opRet><volGetopts><Option>a</Option><Option>cluster.op-version</Option>
		<Value>30712</Value></volGetopts></cliOutput>`
	if v, err := ParseOpVersion([]byte(unpaired)); err == nil {
		t.Errorf("unpaired options: = %d, want an error", v)
	}
}

func TestParseVersionReleases(t *testing.T) {
	for in, want := range map[string]string{
		string(readTestdata(t, "r3.4-version.txt")):                                  "3.4.2",
		"glusterfs 11.1\nRepository revision: git://git.gluster.org/glusterfs.git\n": "11.1",
		"\n  glusterfs 3.12.15\n":                                                    "3.12.15",
	} {
		if got, err := ParseVersion(in); err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "glusterfs", "GlusterFS 10.3", "bash: gluster: command not found"} {
		if got, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) = %q, want an error", bad, got)
		}
	}
}

// A failure's message is gluster's real one wherever the document has it,
// and the kind of failure is recognised from it or from glusterd's error
// number.
func TestFailureMessagesReleases(t *testing.T) {
	for _, tc := range []struct {
		file, message    string
		noVolume, locked bool
	}{
		{"error-volume-info-missing.xml", "Volume does not exist", true, false},
		{"error-volume-status-missing-detail.xml", "Volume missing does not exist", true, false},
		{"error-volume-status-stopped-detail.xml", "Volume stopped is not started", false, false},
		{"r3.7-error-volume-get-null-errstr.xml", "volume get option: failed: Volume all does not exist", true, false},
		{"error-volume-get-missing.xml", "Volume missing does not exist", true, false},
		{"error-volume-get-all-unknown-option.xml", "Did you mean nfs.drc-size or ...rpc-statd?", false, false},
		{"shape-error-null-errstr-output-novol.xml", "Volume missing does not exist", true, false},
		{"shape-error-null-errstr-output-locked.xml", "Another transaction could be in progress. Please try again after sometime.", false, true},
		{"shape-error-null-errstr-nested.xml", "No such file or directory", false, false},
		{"shape-error-opret-after-payload.xml", "Volume gone does not exist", true, false},
		{"r10-error-novol-errno-only.xml", noMessage, true, false},
		{"r10-error-locked-errno-only.xml", noMessage, false, true},
	} {
		for name, parse := range map[string]func([]byte) error{
			"CheckOutput":  CheckOutput,
			"VolumeInfo":   func(b []byte) error { _, err := ParseVolumeInfo(b); return err },
			"StatusDetail": func(b []byte) error { _, err := ParseVolumeStatusDetail(b); return err },
			"PeerStatus":   func(b []byte) error { _, err := ParsePeerStatus(b); return err },
			"OpVersion":    func(b []byte) error { _, err := ParseOpVersion(b); return err },
		} {
			err := parse(readTestdata(t, tc.file))
			var ce *CLIError
			if !errors.As(err, &ce) || ce.OpRet == 0 || ce.Message != tc.message {
				t.Errorf("%s %s: error %#v, want message %q", name, tc.file, err, tc.message)
				continue
			}
			if errors.Is(err, ErrNoVolume) != tc.noVolume || errors.Is(err, ErrLocked) != tc.locked {
				t.Errorf("%s %s: no volume %v, locked %v; want %v, %v", name, tc.file,
					errors.Is(err, ErrNoVolume), errors.Is(err, ErrLocked), tc.noVolume, tc.locked)
			}
		}
	}
}

func TestNoVolumeMessages(t *testing.T) {
	for msg, want := range map[string]bool{
		"Volume foo does not exist":                                true,
		"Volume does not exist":                                    true,
		"Volume (foo) does not exist ":                             true,
		"volume: foo does not exist":                               true,
		"Volume foo doesn't exist.":                                true,
		"Volume foo does not exists":                               true,
		"Volume foo not found ":                                    true,
		"volume name does not exist":                               true,
		"volume get option: failed: Volume x does not exist":       true,
		"volume status : failed: Volume x does not exist":          true,
		"Volume foo is not started":                                false,
		"Brick: h:/b does not exist in volume: foo":                false,
		"Snap volume not found":                                    false,
		"Staging failed on h2. Please check log file for details.": false,
		"": false,
	} {
		if got := errors.Is(&CLIError{OpRet: -1, Message: msg}, ErrNoVolume); got != want {
			t.Errorf("%q: no volume = %v, want %v", msg, got, want)
		}
	}
}

// A successful document without its payload is an error, never an empty
// cluster: read as one, it would remove every volume or peer.
func TestMissingPayload(t *testing.T) {
	for _, tc := range []struct {
		file  string
		parse func([]byte) error
	}{
		{"shape-volume-info-no-payload.xml", func(b []byte) error { _, err := ParseVolumeInfo(b); return err }},
		{"shape-volume-info-no-volumes-element.xml", func(b []byte) error { _, err := ParseVolumeInfo(b); return err }},
		{"shape-volume-info-count-mismatch.xml", func(b []byte) error { _, err := ParseVolumeInfo(b); return err }},
		{"peer-status.xml", func(b []byte) error { _, err := ParseVolumeInfo(b); return err }},
		{"shape-volume-status-no-payload.xml", func(b []byte) error { _, err := ParseVolumeStatusDetail(b); return err }},
		{"volume-info-all.xml", func(b []byte) error { _, err := ParseVolumeStatusDetail(b); return err }},
		{"shape-peer-status-no-payload.xml", func(b []byte) error { _, err := ParsePeerStatus(b); return err }},
		{"shape-peer-status-no-payload.xml", func(b []byte) error { _, _, err := ParsePoolList(b); return err }},
		{"volume-info-all.xml", func(b []byte) error { _, err := ParsePeerStatus(b); return err }},
		{"shape-op-version-no-payload.xml", func(b []byte) error { _, err := ParseOpVersion(b); return err }},
	} {
		err := tc.parse(readTestdata(t, tc.file))
		var ce *CLIError
		if err == nil || errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "gluster: ") {
			t.Errorf("%s: error %v, want one saying the output is not what was asked", tc.file, err)
		}
	}

	// Empty lists are still fine where gluster says so.
	if peers, err := ParsePeerStatus(readTestdata(t, "peer-status-none.xml")); err != nil || len(peers) != 0 {
		t.Errorf("no peers: %v, %v", peers, err)
	}
	for _, doc := range []string{
		`<cliOutput><opRet>0</opRet><volInfo><volumes><volume><id>x</id></volume><count>1</count></volumes></volInfo></cliOutput>`,
		`<cliOutput><opRet>0</opRet><volInfo><volumes><volume><name> </name></volume></volumes></volInfo></cliOutput>`,
	} {
		if vols, err := ParseVolumeInfo([]byte(doc)); err == nil {
			t.Errorf("volume without a name taken: %+v", vols)
		}
	}
	if peers, err := ParsePeerStatus([]byte(`<cliOutput><opRet>0</opRet><peerStatus><peer><hostname>h</hostname></peer></peerStatus></cliOutput>`)); err == nil {
		t.Errorf("peer without a UUID taken: %+v", peers)
	}
}

func TestParseVolumeInfoReleases(t *testing.T) {
	vols, err := ParseVolumeInfo(readTestdata(t, "r3.4-volume-info-all.xml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Volume{
		{Name: "v34", ID: "1f0c6b0e-3b39-4c5e-a0c5-8f6d2e1a9b44", Status: "Started", Type: "Distributed-Replicate", Transport: "tcp",
			BrickCount: 4, DistCount: 2, ReplicaCount: 2,
			Options: map[string]string{"auth.allow": "10.*", "nfs.disable": "on"},
			Bricks: []Brick{
				{Name: "server1:/export/v34", Host: "server1", Path: "/export/v34"},
				{Name: "server2:/export/v34", Host: "server2", Path: "/export/v34"},
				{Name: "server1:/export/v34b", Host: "server1", Path: "/export/v34b"},
				{Name: "server2:/export/v34b", Host: "server2", Path: "/export/v34b"},
			}},
		{Name: "stopped", ID: "2a1d7c1f-4c4a-4d6f-b1d6-9a7e3f2b0c55", Status: "Stopped", Type: "Distribute", Transport: "tcp",
			BrickCount: 1, DistCount: 1, ReplicaCount: 1, Options: map[string]string{},
			Bricks: []Brick{{Name: "server1:/export/stopped", Host: "server1", Path: "/export/stopped"}}},
	}
	if !reflect.DeepEqual(vols, want) {
		t.Errorf("3.4:\n got %+v\nwant %+v", vols, want)
	}

	vols, err = ParseVolumeInfo(readTestdata(t, "r3.12-volume-info-tier.xml"))
	if err != nil || len(vols) != 1 {
		t.Fatalf("tier: %+v, %v", vols, err)
	}
	wantBricks := []Brick{
		{Name: "server1:/bricks/hot", Host: "server1", Path: "/bricks/hot", HostUUID: uuidA},
		{Name: "server1:/bricks/cold", Host: "server1", Path: "/bricks/cold", HostUUID: uuidA},
		{Name: "server2:/bricks/cold", Host: "server2", Path: "/bricks/cold", HostUUID: uuidB},
	}
	if v := vols[0]; v.Type != "Tier" || v.BrickCount != 3 || !reflect.DeepEqual(v.Bricks, wantBricks) {
		t.Errorf("tier: %+v", v)
	}

	// opRet after the payload, no declaration, placeholders for UUIDs.
	vols, err = ParseVolumeInfo(readTestdata(t, "shape-volume-info-opret-after-payload.xml"))
	if err != nil || len(vols) != 1 {
		t.Fatalf("opRet last: %+v, %v", vols, err)
	}
	for _, b := range vols[0].Bricks {
		if b.HostUUID != "" || b.Path != "/b/late" {
			t.Errorf("opRet last: brick %+v", b)
		}
	}
}

func TestParseVolumeStatusDetailReleases(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []BrickStatus
	}{
		{"r3.3-volume-status-detail.xml", []BrickStatus{
			{Volume: "v33", Host: "server1", Path: "/export/b1", Online: true, Pid: 2601, Port: 24009,
				SizeTotal: 21003583488, SizeFree: 20314341376, InodesTotal: 10485760, InodesFree: 10485713,
				Device: "/dev/sdb1", FsName: "xfs", MountOptions: "rw"},
			{Volume: "v33", Host: "server2", Path: "/export/b1", Pid: -1,
				SizeTotal: 21003583488, SizeFree: 20314341376, InodesTotal: 10485760, InodesFree: 10485713,
				Device: "/dev/sdb1", FsName: "xfs", MountOptions: "rw"},
		}},
		// The volume that is not started has a document of its own before
		// the one of all the others.
		{"r3.4-volume-status-all-detail-stopped-volume.xml", []BrickStatus{
			{Volume: "v34", Host: "server1", Path: "/export/v34", Online: true, Pid: 3112, Port: 49152,
				SizeTotal: 21003583488, SizeFree: 20314341376, InodesTotal: 10485760, InodesFree: 10485713,
				Device: "/dev/sdb1", FsName: "xfs", MountOptions: "rw,noatime"},
			{Volume: "v34", Host: "server2", Path: "/export/v34", Online: true, Pid: 2990, Port: 49152,
				SizeTotal: 21003583488, SizeFree: 20314345472, InodesTotal: 10485760, InodesFree: 10485713,
				Device: "/dev/sdb1", FsName: "xfs", MountOptions: "rw,noatime"},
		}},
		{"r3.7-volume-status-all-detail.xml", []BrickStatus{
			statusOf("rep2", "server1", "/bricks/rep2", uuidA, "b1", true, 2201, 49152),
			statusOf("rep2", "server2", "/bricks/rep2", uuidB, "b1", false, -1, 0),
		}},
		{"r3.12-volume-status-tier-detail.xml", []BrickStatus{
			statusOf("tiered", "server1", "/bricks/hot", uuidA, "hot", true, 3301, 49154),
			statusOf("tiered", "server1", "/bricks/cold", uuidA, "cold", true, 3290, 49152),
			statusOf("tiered", "server2", "/bricks/cold", uuidB, "cold", true, 3188, 49152),
		}},
	} {
		got, err := ParseVolumeStatusDetail(readTestdata(t, tc.file))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v, %v\nwant %+v", tc.file, got, err, tc.want)
		}
	}
}

// statusOf is a brick of the r3.7 and r3.12 status fixtures.
func statusOf(vol, host, path, uuid, dev string, online bool, pid int64, port uint32) BrickStatus {
	return BrickStatus{Volume: vol, Host: host, Path: path, HostUUID: uuid, Online: online, Pid: pid, Port: port,
		SizeTotal: 52576092160, SizeFree: 49125871616, InodesTotal: 25677824, InodesFree: 25602190,
		Device: "/dev/mapper/vg-" + dev, FsName: "xfs", MountOptions: "rw,seclabel,relatime,attr2,inode64,noquota"}
}

func TestParsePeerStatusReleases(t *testing.T) {
	peers, err := ParsePeerStatus(readTestdata(t, "r3.4-peer-status.xml"))
	want := []Peer{{UUID: "5e9b8f3a-1c2d-4e5f-8a9b-0c1d2e3f4a66", Hostname: "server2", Hostnames: []string{"server2"},
		Connected: true, State: "Peer in Cluster"}}
	if err != nil || !reflect.DeepEqual(peers, want) {
		t.Errorf("3.4: %+v, %v", peers, err)
	}
}

// When the document has no message at all, the one the CLI printed on
// stderr is gluster's.
func TestFailureMessageFromStderr(t *testing.T) {
	const doc = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput><opRet>-1</opRet><opErrno>0</opErrno><opErrstr>(null)</opErrstr></cliOutput>`
	for _, code := range []int{0, 1} {
		cli, _ := fakeGluster(t, doc, "Volume foo does not exist\n", code)
		_, err := cli.VolumeInfo(t.Context(), "foo")
		var ce *CLIError
		if !errors.As(err, &ce) || ce.Message != "Volume foo does not exist" || ce.ExitCode != code || !errors.Is(err, ErrNoVolume) {
			t.Errorf("exit %d: error %#v", code, err)
		}
	}
	// A message in the document wins over stderr (where the CLI may log
	// anything).
	cli, _ := fakeGluster(t, string(readTestdata(t, "shape-error-null-errstr-output-locked.xml")), "some warning\n", 1)
	if _, err := cli.VolumeStatusDetail(t.Context(), "v"); !errors.Is(err, ErrLocked) || strings.Contains(err.Error(), "warning") {
		t.Errorf("locked: %v", err)
	}
}
