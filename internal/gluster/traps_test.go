package gluster

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Hand-written outputs for what the captures of 10.3 cannot show: older
// releases, placeholders for unknown values, odd and broken documents.

// An output shaped like GlusterFS 3.x to 7: <brick> has only its text,
// <distCount> is the size of a replica set (3 for this 2 x 3 volume), there
// is a <stripeCount>, no <typeStr>, no <statusStr>, no <isArbiter>, and
// elements this package does not know.
const oldVolumeInfo = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <volInfo>
    <volumes>
      <volume>
        <name>old</name>
        <id>0b9c2b6a-9c59-4e8f-8a44-0d5e3f5ef0a1</id>
        <status>2</status>
        <brickCount>6</brickCount>
        <distCount>3</distCount>
        <stripeCount>1</stripeCount>
        <replicaCount>3</replicaCount>
        <arbiterCount>1</arbiterCount>
        <type>7</type>
        <transport>2</transport>
        <xlators><xlator><name>whatever</name></xlator></xlators>
        <bricks>
          <brick>h1:/b/1</brick>
          <brick>h2:/b/1</brick>
          <brick>h3:/b/1</brick>
          <brick>h1:/b/2</brick>
          <brick>h2:/b/2</brick>
          <brick>h3:/b/2</brick>
        </bricks>
        <optCount>1</optCount>
        <options><option><name>nfs.disable</name><value>on</value></option></options>
      </volume>
      <count>1</count>
    </volumes>
  </volInfo>
</cliOutput>`

func TestParseVolumeInfoOldRelease(t *testing.T) {
	vols, err := ParseVolumeInfo([]byte(oldVolumeInfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(vols) != 1 {
		t.Fatalf("%d volumes", len(vols))
	}
	v := vols[0]
	if v.Name != "old" || v.Status != "Stopped" || v.Type != "Distributed-Replicate" || v.Transport != "tcp,rdma" ||
		v.BrickCount != 6 || v.DistCount != 2 || v.ReplicaCount != 3 || v.ArbiterCount != 1 {
		t.Errorf("%+v", v)
	}
	var arbiters []int
	for i, b := range v.Bricks {
		if b.Host != "h"+string(rune('1'+i%3)) || !strings.HasPrefix(b.Path, "/b/") || b.Name != b.Host+":"+b.Path || b.HostUUID != "" {
			t.Errorf("brick %d = %+v", i, b)
		}
		if b.IsArbiter {
			arbiters = append(arbiters, i)
		}
	}
	if !reflect.DeepEqual(arbiters, []int{2, 5}) {
		t.Errorf("arbiters %v, want the last brick of each set", arbiters)
	}
	if !reflect.DeepEqual(v.Options, map[string]string{"nfs.disable": "on"}) {
		t.Errorf("options %v", v.Options)
	}
}

func TestParseVolumeInfoLenient(t *testing.T) {
	const doc = `<cliOutput><opRet>0</opRet><volInfo><volumes><volume>
		<name>v</name><statusStr>Started</statusStr><typeStr>Replicate</typeStr>
		<brickCount>lots</brickCount><distCount>-</distCount><replicaCount>N/A</replicaCount>
		<disperseCount>-1</disperseCount><snapshotCount>99999999999999</snapshotCount><transport>9</transport>
		<bricks><brick uuid="u1">a:/x<name>a:/x</name><hostUuid>u1</hostUuid><isArbiter>no</isArbiter><new>?</new></brick>
		<brick uuid="u2"><name>b:/y</name></brick></bricks>
		<options>
		  <option><name>auth.login.abc.password</name><value>hunter2</value></option>
		  <option><name>features.some-TOKEN</name><value>t</value></option>
		  <option><name>x.Secret.key</name><value>s</value></option>
		  <option><name>y.passwd</name><value>p</value></option>
		  <option><name>z.credentials-file</name><value>c</value></option>
		  <option><name></name><value>nameless</value></option>
		  <option><name>performance.io-cache</name><value>off</value></option>
		</options>
	</volume></volumes></volInfo></cliOutput>`
	vols, err := ParseVolumeInfo([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	v := vols[0]
	// Unparsable numbers are zero; the brick count falls back to the bricks
	// listed, the replica count to 1.
	if v.BrickCount != 2 || v.ReplicaCount != 1 || v.DistCount != 2 || v.DisperseCount != 0 || v.SnapshotCount != 0 || v.Transport != "" {
		t.Errorf("%+v", v)
	}
	want := []Brick{{Name: "a:/x", Host: "a", Path: "/x", HostUUID: "u1"}, {Name: "b:/y", Host: "b", Path: "/y", HostUUID: "u2"}}
	if !reflect.DeepEqual(v.Bricks, want) {
		t.Errorf("bricks %+v", v.Bricks)
	}
	if !reflect.DeepEqual(v.Options, map[string]string{"performance.io-cache": "off"}) {
		t.Errorf("options %v: secrets must be dropped", v.Options)
	}
}

func TestParseVolumeStatusDetailPlaceholders(t *testing.T) {
	const doc = `<cliOutput><opRet>0</opRet><volStatus><volumes><volume><volName>v</volName>
	<node><hostname>h1</hostname><path>/b1</path><peerid>p1</peerid><status>0</status><port>N/A</port>
	  <ports><tcp>N/A</tcp><rdma>N/A</rdma></ports><pid>-1</pid><sizeTotal>N/A</sizeTotal><sizeFree>-</sizeFree>
	  <device>N/A</device><fsName>-</fsName><mntOptions>N/A</mntOptions><inodesTotal>-1</inodesTotal></node>
	<node><hostname>h2</hostname><path>/b2</path><status>1</status><ports><tcp>49152</tcp></ports><pid>N/A</pid>
	  <sizeTotal>100</sizeTotal><sizeFree>40</sizeFree><device>/dev/sdb</device><fsName>xfs</fsName>
	  <inodesTotal>10</inodesTotal><inodesFree>7</inodesFree><unknown/></node>
	<node><hostname>Self-heal Daemon</hostname><path>localhost</path><status>1</status><port>N/A</port><pid>77</pid></node>
	<node><hostname>h3</hostname><path>/b3</path><status>0</status><port>49153</port><pid>123</pid></node>
	</volume></volumes></volStatus></cliOutput>`
	st, err := ParseVolumeStatusDetail([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []BrickStatus{
		{Volume: "v", Host: "h1", Path: "/b1", HostUUID: "p1", Pid: -1},
		{Volume: "v", Host: "h2", Path: "/b2", Online: true, Pid: -1, Port: 49152, SizeTotal: 100, SizeFree: 40,
			InodesTotal: 10, InodesFree: 7, Device: "/dev/sdb", FsName: "xfs"},
		// Offline: whatever pid and port it shows are stale.
		{Volume: "v", Host: "h3", Path: "/b3", Pid: -1},
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("got  %+v\nwant %+v", st, want)
	}
}

func TestParsePeerStatusOldRelease(t *testing.T) {
	// No <hostnames>, no <stateStr>.
	const doc = `<cliOutput><opRet>0</opRet><peerStatus><peer><uuid>u</uuid><hostname>h</hostname>
		<connected>1</connected><state>3</state></peer></peerStatus></cliOutput>`
	peers, err := ParsePeerStatus([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []Peer{{UUID: "u", Hostname: "h", Hostnames: []string{"h"}, Connected: true}}
	if !reflect.DeepEqual(peers, want) {
		t.Errorf("%+v", peers)
	}
}

func TestParseBadDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":          "",
		"blank":          " \n\t",
		"not XML":        "Connection failed. Please check if gluster daemon is operational.",
		"truncated":      `<?xml version="1.0"?><cliOutput><opRet>0</opRet><volInfo>`,
		"wrong root":     `<html><body>hi</body></html>`,
		"bad nesting":    `<cliOutput><opRet>0</opErrno></cliOutput>`,
		"only a comment": `<!-- nothing -->`,
	} {
		for pname, parse := range map[string]func([]byte) error{
			"VolumeInfo":   func(b []byte) error { _, err := ParseVolumeInfo(b); return err },
			"StatusDetail": func(b []byte) error { _, err := ParseVolumeStatusDetail(b); return err },
			"PeerStatus":   func(b []byte) error { _, err := ParsePeerStatus(b); return err },
			"OpVersion":    func(b []byte) error { _, err := ParseOpVersion(b); return err },
		} {
			err := parse([]byte(doc))
			if err == nil {
				t.Errorf("%s of %s: no error", pname, name)
				continue
			}
			var ce *CLIError
			if errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "gluster: ") {
				t.Errorf("%s of %s: error %q", pname, name, err)
			}
		}
	}
}

func TestParseSkipsLeadingText(t *testing.T) {
	doc := "Warning: something\n" + oldVolumeInfo
	if vols, err := ParseVolumeInfo([]byte(doc)); err != nil || len(vols) != 1 {
		t.Errorf("= %v, %v", vols, err)
	}
}

func TestFailureInOutput(t *testing.T) {
	cases := []struct {
		doc     string
		message string
		locked  bool
	}{
		{`<cliOutput><opRet>-1</opRet><opErrno>0</opErrno><opErrstr>Another transaction is in progress for v. Please try again after some time.</opErrstr></cliOutput>`,
			"Another transaction is in progress for v. Please try again after some time.", true},
		{`<cliOutput><opRet>-1</opRet><opErrstr>Locking failed on h2. Please check log file for details.</opErrstr></cliOutput>`,
			"Locking failed on h2. Please check log file for details.", true},
		{`<cliOutput><opRet>-1</opRet><opErrno>30800</opErrno><opErrstr/><output>Volume v is not started</output></cliOutput>`,
			"Volume v is not started", false},
		{`<cliOutput><opRet>-2</opRet></cliOutput>`, "gluster reported failure without a message", false},
	}
	for _, tc := range cases {
		_, err := ParsePeerStatus([]byte(tc.doc))
		var ce *CLIError
		if !errors.As(err, &ce) || ce.Message != tc.message {
			t.Errorf("%s: error %v", tc.doc, err)
			continue
		}
		if errors.Is(err, ErrLocked) != tc.locked {
			t.Errorf("%s: errors.Is(ErrLocked) = %v", tc.doc, !tc.locked)
		}
	}
}

func TestSplitBrickName(t *testing.T) {
	for name, want := range map[string][2]string{
		"host:/data/b1":          {"host", "/data/b1"},
		"10.0.0.1:/b":            {"10.0.0.1", "/b"},
		"fe80::1:/bricks/b":      {"fe80::1", "/bricks/b"},
		"h:/with:/colon":         {"h", "/with:/colon"},
		"h:relative":             {"h", "relative"},
		"nocolon":                {"nocolon", ""},
		"":                       {"", ""},
		"server.example.org:/b1": {"server.example.org", "/b1"},
	} {
		h, p := SplitBrickName(name)
		if h != want[0] || p != want[1] {
			t.Errorf("SplitBrickName(%q) = %q, %q; want %q, %q", name, h, p, want[0], want[1])
		}
	}
}

func TestIsSecretOption(t *testing.T) {
	for key, secret := range map[string]bool{
		"auth.login.u.password":    true,
		"auth.login./b/r1.allow":   true,
		"AUTH.LOGIN.U.PASSWORD":    true,
		"password":                 true,
		"username":                 true,
		" username ":               true,
		"features.cloudsync-token": true,
		"x.client-secret":          true,
		"ssl.username":             true,
		"user.name":                false,
		"user.note":                false,
		"server.allow-insecure":    false,
		"features.PASSWD":          true,
		"ssl.secret":               true,
		"x.token-file":             true,
		"cloud.credential":         true,
		"auth.allow":               false,
		"performance.cache-size":   false,
		"server.ssl":               false,
		"nfs.rpc-auth-allow-insec": false,
	} {
		if IsSecretOption(key) != secret {
			t.Errorf("IsSecretOption(%q) = %v", key, !secret)
		}
	}
}

func TestParseCommand(t *testing.T) {
	for in, want := range map[string][]string{
		"gluster": {"gluster"},
		"  gluster   --glusterd-sock=/run/gd.sock  ":    {"gluster", "--glusterd-sock=/run/gd.sock"},
		`gluster --log-file='/var/log/my logs/cli.log'`: {"gluster", "--log-file=/var/log/my logs/cli.log"},
		`"/opt/gluster bin/gluster" --mode=script`:      {"/opt/gluster bin/gluster", "--mode=script"},
		`a\ b "c\"d" 'e\f' "g\h" ''`:                    {"a b", `c"d`, `e\f`, `g\h`, ""},
		"sudo -n\tgluster":                              {"sudo", "-n", "gluster"},
	} {
		got, err := ParseCommand(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "   ", `gluster 'unterminated`, `gluster "unterminated`, `gluster \`} {
		if got, err := ParseCommand(bad); err == nil {
			t.Errorf("ParseCommand(%q) = %q, want an error", bad, got)
		}
	}
}

func TestDistCountNotWholeSets(t *testing.T) {
	for xmlDist, want := range map[string]uint32{"2": 2, "99": 0, "x": 0} {
		doc := `<cliOutput><opRet>0</opRet><volInfo><volumes><volume><name>v</name>
			<brickCount>5</brickCount><distCount>` + xmlDist + `</distCount><replicaCount>2</replicaCount>
			</volume></volumes></volInfo></cliOutput>`
		vols, err := ParseVolumeInfo([]byte(doc))
		if err != nil || vols[0].DistCount != want {
			t.Errorf("distCount %s: %+v, %v; want DistCount %d", xmlDist, vols, err, want)
		}
	}
}
