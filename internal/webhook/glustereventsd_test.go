package webhook

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// glustereventsd is the installed glustereventsd running in a test
// directory (see testdata/run_glustereventsd.py).
type glustereventsd struct {
	cmd     *exec.Cmd
	port    int
	workdir string
	stderr  *testbus.Buffer
}

// startGlustereventsd runs glustereventsd with webhooks as its webhooks
// file, listening on a free loopback UDP port.
func startGlustereventsd(t *testing.T, webhooks string) *glustereventsd {
	t.Helper()
	py := glusterPython(t)
	wd, env := fakeGlusterdWorkdir(t)
	port := freeUDPPort(t)
	files := map[string]string{
		"glusterd.info":        "UUID=" + testNode + "\noperating-version=100000\n",
		"eventsconfig.json":    fmt.Sprintf(`{"log-level": "DEBUG", "port": %d, "disable-events-log": false}`, port),
		"events/webhooks.json": webhooks,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(wd, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g := &glustereventsd{port: port, workdir: wd, stderr: &testbus.Buffer{}}
	g.cmd = exec.Command(py, "testdata/run_glustereventsd.py",
		filepath.Join(wd, "events.log"), filepath.Join(wd, "eventsconfig.json"), filepath.Join(wd, "glustereventsd.pid"))
	g.cmd.Env = append(env, "GFEVENTS_DIR="+gfeventsDir)
	g.cmd.Stdout, g.cmd.Stderr = g.stderr, g.stderr
	// Its own process group: it forks a process for its webhooks.
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
		g.cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(wd, "events.log"))
			t.Logf("glustereventsd output:\n%s\nevents.log:\n%s", g.stderr.String(), log)
		}
	})
	return g
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// send sends a datagram to glustereventsd.
func (g *glustereventsd) send(t *testing.T, datagram string) {
	t.Helper()
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", g.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(datagram)); err != nil {
		t.Fatal(err)
	}
}

// waitReady sends a probe datagram until the receiver gets it: then
// glustereventsd listens and its webhook process runs. More probes may
// still come: see posted.
func (g *glustereventsd) waitReady(t *testing.T, rc *receiver) {
	t.Helper()
	const probe = "1700000000 3 name=probe;force=0"
	deadline := time.Now().Add(30 * time.Second)
	for len(rc.requests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("glustereventsd delivered nothing within 30s")
		}
		g.send(t, probe)
		time.Sleep(200 * time.Millisecond) // between probes
	}
}

// posted returns the requests rc received but waitReady's probes.
func posted(rc *receiver) []request {
	var out []request
	for _, r := range rc.requests() {
		if !bytes.Contains(r.body, []byte(`"probe"`)) {
			out = append(out, r)
		}
	}
	return out
}

// glustereventsdDatagrams are datagrams as GlusterFS 10.3 sends them
// (several captured from it), with the conversions glustereventsd applies.
var glustereventsdDatagrams = []string{
	"1795553031 2 name=necaprep;bricks= 127.1.250.1:/tmp/ne-capture/bricks/r1 127.1.250.1:/tmp/ne-capture/bricks/r2 127.1.250.1:/tmp/ne-capture/bricks/r3 ",
	"1795553033 77 peer=127.1.250.1;volume=necaprep;brick=/tmp/ne-capture/bricks/r1",
	"1795553034 3 name=necaprep;force=0",
	"1795553035 3 name=necapdist;force=yes",
	"1795553040 6 name=necaprep;options=,performance.readdir-ahead,off,cluster.self-heal-daemon,on",
	"1795553042 6 name=necaprep;options=,auth.allow,127.0.0.1,127.1.250.1",
	"1795553044 6 name=necaprep;options=,user.note,a b c d",
	"1795553046 7 name=necaprep;option=performance.readdir-ahead",
	"1795553050 65 svc_name=glustershd",
	"1795553060 109 client-pid=-6; subvol=necaprep-replicate-0",
	"1795553070 123 volume=necapdist;bricks=127.1.250.1:/tmp/ne-capture/bricks/d3 ",
	"1795553080 111 master=gv0;slave=h2::gv1;push-pem=On;no-verify=no;ssh-port=0022;force=TRUE",
	"1795553090 71 peer=h\u00e9te-\U0001F600;state=\"Peer in Cluster\"\\x",
}

// TestSameAsGlustereventsd runs the installed glustereventsd and a
// Deliverer on the same datagrams and compares what they POST: bodies byte
// for byte, Content-Type and Authorization.
func TestSameAsGlustereventsd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs glustereventsd")
	}
	theirs := newReceiver(t, nil)
	// The file as Add writes it, our settings included: the test also
	// shows that glustereventsd reads it and ignores them.
	theirFile := webhooksFile(t)
	addWebhook(t, theirFile, Webhook{URL: theirs.URL(), Token: "tok-1", Sources: []string{SourceNative}, Timeout: 3 * time.Second})
	g := startGlustereventsd(t, readFile(t, theirFile))
	g.waitReady(t, theirs)

	var theirReqs []request
	for _, d := range glustereventsdDatagrams {
		before := len(posted(theirs))
		g.send(t, d)
		eventually(t, time.Minute, "glustereventsd to post "+d, func() bool { return len(posted(theirs)) > before })
		reqs := posted(theirs)
		if len(reqs) != before+1 {
			t.Fatalf("glustereventsd posted %d requests for %q", len(reqs)-before, d)
		}
		theirReqs = append(theirReqs, reqs[before])
	}

	// The same datagrams through the journal and a Deliverer.
	j := openJournal(t, "")
	defer j.Close()
	ours := newReceiver(t, nil)
	file := webhooksFile(t)
	addWebhook(t, file, Webhook{URL: ours.URL(), Token: "tok-1", Sources: []string{SourceNative}})
	d, _ := runDeliverer(t, fastOptions(j, file))
	waitStatus(t, d, ours.URL(), 5*time.Second, "the webhook to start", func(WebhookStatus) bool { return true })
	var evs []journal.Event
	for _, dg := range glustereventsdDatagrams {
		ev, ok := nativeJournalEvent(t, dg)
		if !ok {
			t.Fatalf("%q does not parse", dg)
		}
		evs = append(evs, ev)
	}
	if _, err := j.Append(t.Context(), evs...); err != nil {
		t.Fatal(err)
	}
	ours.waitAccepted(t, len(evs), 10*time.Second)
	ourReqs := ours.requests()

	for i, dg := range glustereventsdDatagrams {
		th, us := theirReqs[i], ourReqs[i]
		switch {
		case bytes.Equal(th.body, us.body):
		case sameWithTrimmedKeys(t, string(us.body), string(th.body)):
			t.Logf("%q: the journal trimmed a key glustereventsd keeps:\n theirs %s\n ours   %s", dg, th.body, us.body)
		default:
			t.Errorf("%q:\n theirs %s\n ours   %s", dg, th.body, us.body)
		}
		for _, h := range []string{"Content-Type", "Authorization"} {
			if th.header.Get(h) != us.header.Get(h) {
				t.Errorf("%q: %s: theirs %q, ours %q", dg, h, th.header.Get(h), us.header.Get(h))
			}
		}
	}
	t.Logf("glustereventsd's headers: %v", theirReqs[0].header)
	t.Logf("our headers:              %v", ourReqs[0].header)
}

// TestGlustereventsdTopLevelKey shows why our settings are not under a
// top-level key of their own: glustereventsd takes every top-level key for
// a webhook, and one without "token" and "secret" stops its webhook
// process, so that no webhook gets anything.
func TestGlustereventsdTopLevelKey(t *testing.T) {
	if testing.Short() {
		t.Skip("runs glustereventsd")
	}
	rc := newReceiver(t, nil)
	g := startGlustereventsd(t, `{"`+rc.URL()+`": {"token": "", "secret": ""}}`)
	g.waitReady(t, rc)

	// The same file with a top-level key added, reloaded as
	// gluster-eventsapi reloads it (SIGUSR2).
	webhooks := `{"` + rc.URL() + `": {"token": "", "secret": ""}, "glusterbus": {"webhooks": {}}}`
	if err := os.WriteFile(filepath.Join(g.workdir, "events", "webhooks.json"), []byte(webhooks), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "glustereventsd's webhook process to fail", func() bool {
		return strings.Contains(g.stderr.String(), "KeyError")
	})
	before := len(posted(rc))
	g.send(t, "1700000001 4 name=gv0;force=0")
	time.Sleep(2 * time.Second) // time to deliver what it should not
	if n := len(posted(rc)) - before; n != 0 {
		t.Errorf("glustereventsd still delivered %d events with a top-level key", n)
	}
	// We read such a key as what gluster-eventsapi takes it for: a
	// webhook, an unusable one.
	cfg, err := Load(filepath.Join(g.workdir, "events", "webhooks.json"))
	if err != nil || len(cfg.Webhooks) != 1 || len(cfg.Invalid) != 1 || cfg.Invalid[0].URL != "glusterbus" {
		t.Errorf("Load: %+v, %v", cfg, err)
	}
}
